package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	hid "ucv/hub/identity"
)

const fixtureMap = "first_name=first_name,last_name=last_name,full_name=full_name,email=email,phone=phone," +
	"dob=birth_date,birth_date=birth_date,street=address,city=city,zip=postcode,postcode=postcode,loyalty_id=id"

func runCmd(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var o, e bytes.Buffer
	code = run(context.Background(), args, &o, &e)
	return code, o.String(), e.String()
}

func fixture(name string) string { return filepath.Join("testdata", "resolve", name) }

func TestResolveEndToEnd(t *testing.T) {
	dir := t.TempDir()
	out, explain := filepath.Join(dir, "clusters.csv"), filepath.Join(dir, "explain.ndjson")
	modelFile := filepath.Join(dir, "model.bin")
	code, stdout, stderr := runCmd(t, "resolve",
		"--input", fixture("crm.csv"), "--input", fixture("loyalty.csv"), "--input", fixture("webshop.csv"),
		"--map", fixtureMap, "--id", "source+record_no", "--output", out, "--explain", explain, "--save-model", modelFile)
	if code != 0 {
		t.Fatalf("exit %d, stderr: %s", code, stderr)
	}
	if !strings.Contains(stdout, "12 records, 8 clusters") {
		t.Errorf("stdout = %q, want a 12 records / 8 clusters summary", stdout)
	}
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	// Robert/Bob Smith (phone, e-mail, name order "Smith, Bob"), Ann-Marie
	// O'Neil/Annmarie ONeil (e-mail) and Thomas/Tom Becker (nickname, M/D/Y
	// date, postcode) merge; the shared call-centre number 800-555-0000
	// links nobody.
	want := `record_id,cluster_id
crm:C1,crm:C1
crm:C2,crm:C2
crm:C3,crm:C3
crm:C4,crm:C4
crm:C5,crm:C5
loyalty:1,crm:C1
loyalty:2,crm:C2
loyalty:3,loyalty:3
loyalty:4,crm:C5
web:1,crm:C1
web:2,web:2
web:3,web:3
`
	if diff := cmp.Diff(want, string(got)); diff != "" {
		t.Errorf("clusters.csv (-want +got):\n%s", diff)
	}
	ex, err := os.ReadFile(explain)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(ex)), "\n")
	if len(lines) != 4 {
		t.Fatalf("explain has %d lines, want 4 links:\n%s", len(lines), ex)
	}
	var first explainLine
	if err := json.Unmarshal([]byte(lines[0]), &first); err != nil {
		t.Fatal(err)
	}
	if first.Type != "link" || first.ClusterID != "crm:C1" || first.Rule == "" || len(first.Levels) == 0 {
		t.Errorf("first explain line = %+v, want a crm:C1 link with a rule and levels", first)
	}
	mb, err := os.ReadFile(modelFile)
	if err != nil {
		t.Fatal(err)
	}
	if m, err := hid.Unmarshal(mb); err != nil {
		t.Errorf("--save-model wrote a file Unmarshal refuses: %v", err)
	} else if m.Report().Records != 12 {
		t.Errorf("saved model trained on %d records, want 12", m.Report().Records)
	}
	// Same input, same bytes.
	out2 := filepath.Join(dir, "again.csv")
	if code, _, stderr := runCmd(t, "resolve", "--input", fixture("webshop.csv"), "--input", fixture("loyalty.csv"),
		"--input", fixture("crm.csv"), "--map", fixtureMap, "--id", "source+record_no", "--output", out2); code != 0 {
		t.Fatalf("second run exit %d: %s", code, stderr)
	}
	if again, _ := os.ReadFile(out2); !bytes.Equal(again, got) {
		t.Errorf("input file order changed the result:\n%s", again)
	}
}

func TestResolveErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good.csv", "id,name,email\n1,Ann Lee,ann@example.org\n2,Bo Chan,bo@example.org\n")
	ragged := write("ragged.csv", "id,name,email\n1,Ann Lee,ann@example.org\n2,Bo Chan\n")
	dup := write("dup.csv", "id,name\n1,Ann\n1,Bo\n")
	out := filepath.Join(dir, "out.csv")
	tests := []struct {
		name     string
		args     []string
		code     int
		contains string
	}{
		{"missing column", []string{"--input", good, "--map", "name=full_name,phone_no=phone", "--id", "id", "--output", out}, 1, `"phone_no" is in none of the input files`},
		{"unknown kind", []string{"--input", good, "--map", "name=shoe_size", "--id", "id", "--output", out}, 2, `unknown kind "shoe_size"`},
		{"unreadable file", []string{"--input", filepath.Join(dir, "nope.csv"), "--map", "name=full_name", "--id", "id", "--output", out}, 1, "nope.csv"},
		{"ragged row", []string{"--input", ragged, "--map", "name=full_name", "--id", "id", "--output", out}, 1, "line 3: ragged row"},
		{"missing id column", []string{"--input", good, "--map", "name=full_name", "--id", "source+id", "--output", out}, 1, `id column "source" is missing`},
		{"duplicate id", []string{"--input", dup, "--map", "name=full_name", "--id", "id", "--output", out}, 1, `record id "1" already used`},
		{"no input", []string{"--map", "name=full_name", "--id", "id", "--output", out}, 2, "--input is required"},
		{"bad map", []string{"--input", good, "--map", "name", "--id", "id", "--output", out}, 2, "not COLUMN=KIND"},
		{"no output", []string{"--input", good, "--map", "name=full_name", "--id", "id"}, 2, "--output is required"},
		{"bad flag", []string{"--frobnicate"}, 2, "frobnicate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, stderr := runCmd(t, append([]string{"resolve"}, tt.args...)...)
			if code != tt.code || !strings.Contains(stderr, tt.contains) {
				t.Errorf("exit %d, stderr %q; want exit %d and %q", code, stderr, tt.code, tt.contains)
			}
			if strings.Contains(stderr, "ann@example.org") || strings.Contains(stderr, "Ann Lee") {
				t.Errorf("error message leaks personal data: %q", stderr)
			}
		})
	}
	if _, err := os.Stat(out); err == nil {
		t.Error("a failed run left an output file")
	}
}

func TestResolveHelp(t *testing.T) {
	code, stdout, _ := runCmd(t, "resolve", "-h")
	if code != 0 || !strings.Contains(stdout, "national_id") {
		t.Errorf("resolve -h: exit %d, stdout %q; want 0 and the list of kinds", code, stdout)
	}
}
