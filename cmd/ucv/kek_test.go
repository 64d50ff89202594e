package main

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestParseKEKFile: --kek-file (or UCV_KEK_FILE) of `ucv hub` and `ucv
// dev` names a KEK file; a bad one is a usage error naming the flag and
// never the file's content.
func TestParseKEKFile(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "kek")
	os.WriteFile(good, []byte("# hub kek\nMDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=\n"), 0o600)
	bad := filepath.Join(dir, "bad")
	os.WriteFile(bad, []byte("c2VjcmV0LXRvby1zaG9ydA==\n"), 0o600)
	base := []string{"--data-dir", dir, "--node-id", "h"}
	noenv := func(string) string { return "" }

	cfg, err := parseHubFlags(append(base, "--kek-file", good), noenv, io.Discard)
	if err != nil || cfg.kekFile != good {
		t.Fatalf("--kek-file: %v, %q", err, cfg.kekFile)
	}
	cfg, err = parseHubFlags(base, func(k string) string {
		if k == "UCV_KEK_FILE" {
			return good
		}
		return ""
	}, io.Discard)
	if err != nil || cfg.kekFile != good {
		t.Fatalf("UCV_KEK_FILE: %v, %q", err, cfg.kekFile)
	}
	if cfg, err = parseHubFlags(base, noenv, io.Discard); err != nil || cfg.kekFile != "" {
		t.Fatalf("no kek file: %v, %q", err, cfg.kekFile)
	}
	for _, path := range []string{bad, filepath.Join(dir, "missing")} {
		_, err := parseHubFlags(append(base, "--kek-file", path), noenv, io.Discard)
		if !errors.Is(err, errUsage) || !strings.Contains(err.Error(), "--kek-file") || strings.Contains(err.Error(), "c2VjcmV0") {
			t.Errorf("hub --kek-file %s: %v", filepath.Base(path), err)
		}
	}
	ecfg, err := parseEdgeFlags("dev", []string{"--data-dir", dir, "--kek-file", good}, noenv, io.Discard)
	if err != nil || ecfg.hubKEKFile != good {
		t.Fatalf("dev --kek-file: %v, %q", err, ecfg.hubKEKFile)
	}
	if _, err := parseEdgeFlags("dev", []string{"--data-dir", dir, "--kek-file", bad}, noenv, io.Discard); !errors.Is(err, errUsage) {
		t.Errorf("dev with a bad --kek-file: %v", err)
	}
	if _, err := parseEdgeFlags("edge", []string{"--data-dir", dir, "--write-key", "wk=pos", "--kek-file", good}, noenv, io.Discard); err == nil {
		t.Error("ucv edge accepted --kek-file, which only dev's in-process hub has")
	}
}
