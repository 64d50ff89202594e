package main

import (
	"bytes"
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"ucv/edge/edgetest"
)

// runToExitWithin bounds runToExit: a run that takes longer is taken as
// hung.
const runToExitWithin = 2 * time.Minute

// runToExit runs bin with args to completion and returns its exit code,
// stdout and stderr. A process still running after runToExitWithin is
// sent SIGQUIT, so the test fails with its goroutines' stacks rather
// than hanging until the package's timeout (one CI run saw `ucv dev` on
// a truncated file not exit).
func runToExit(t *testing.T, bin string, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("run ucv %v: %v", args, err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-time.After(runToExitWithin):
		_ = cmd.Process.Signal(syscall.SIGQUIT)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		t.Fatalf("ucv %v did not exit within %v; its stacks:\n%s\nstdout:\n%s", args, runToExitWithin, stderr.String(), stdout.String())
	}
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("run ucv %v: %v", args, err)
	}
	return cmd.ProcessState.ExitCode(), stdout.String(), stderr.String()
}

// TestDamagedDataFileProcess runs the real binary against a truncated
// data file: `ucv dev` (an edge with its in-process hub) refuses to start
// with one line naming the file and the way out, no stack trace;
// `ucv check` reports the damage and exits 1; `ucv dev --recover` moves
// the file aside and rebuilds the replica from its hub; `ucv check` then
// finds the new file sound.
func TestDamagedDataFileProcess(t *testing.T) {
	bin := buildUCV(t)
	data := filepath.Join(t.TempDir(), "data")
	path := filepath.Join(data, "edge.db")

	dev := start(t, bin, nil, "dev", "--data-dir", data, "--http-addr", "127.0.0.1:0")
	if code, body := httpDo(t, "POST", dev.url+"/v1/identify", `{"userId":"dmg-1","traits":{"email":"dmg@example.com"}}`); code != 200 {
		t.Fatalf("ingest = %d %s", code, body)
	}
	waitBody(t, devHubURL(t, dev)+"/v1/admin/profiles/email:dmg@example.com", `"dmg-1"`)
	dev.stop(t, syscall.SIGTERM)
	// The edge syncs once its in-process hub leads: its first step (a
	// registration, a Raft write) is never refused for want of a leader.
	if strings.Contains(dev.stderr.String(), "hub sync failed") {
		t.Errorf("dev's edge retried its first sync:\n%s", dev.stderr)
	}

	if code, stdout, stderr := runToExit(t, bin, "check", "--data-dir", data); code != 0 || !strings.Contains(stdout, path+": ok") {
		t.Fatalf("check of a sound file: exit %d\n%s%s", code, stdout, stderr)
	}
	edgetest.TruncateUsed(t, path)

	code, stdout, stderr := runToExit(t, bin, "dev", "--data-dir", data, "--http-addr", "127.0.0.1:0")
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	if code == 0 || len(lines) != 1 || strings.Contains(stderr, "goroutine") || strings.Contains(stderr, "panic") {
		t.Fatalf("dev on a truncated file: exit %d, stderr (want one line, no stack trace):\n%s\nstdout:\n%s", code, stderr, stdout)
	}
	for _, want := range []string{path, "damaged", "truncated", "replica", "--recover"} {
		if !strings.Contains(lines[0], want) {
			t.Errorf("refusal %q does not mention %q", lines[0], want)
		}
	}

	code, stdout, stderr = runToExit(t, bin, "check", "--data-dir", data)
	if code != 1 || !strings.Contains(stdout, path+": damaged") || !strings.Contains(stdout, "truncated") || !strings.Contains(stderr, "--recover") {
		t.Fatalf("check of a truncated file: exit %d, want 1\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}

	dev = start(t, bin, nil, "dev", "--data-dir", data, "--http-addr", "127.0.0.1:0", "--recover")
	waitBody(t, dev.url+"/v1/profiles/email:dmg@example.com", `"dmg-1"`)
	if !strings.Contains(dev.stderr.String(), "moved it aside") {
		t.Errorf("no log line about the damaged file moved aside:\n%s", dev.stderr)
	}
	dev.stop(t, syscall.SIGTERM)
	aside, _ := filepath.Glob(path + ".damaged-*")
	if len(aside) != 1 {
		t.Errorf("damaged files kept aside = %v, want one", aside)
	}
	if code, stdout, stderr := runToExit(t, bin, "check", "--data-dir", data); code != 0 {
		t.Fatalf("check after --recover: exit %d\n%s%s", code, stdout, stderr)
	}
}
