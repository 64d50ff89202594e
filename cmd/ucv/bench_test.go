package main

import (
	"os"
	"strings"
	"testing"

	benchid "ucv/bench/identity"
)

func TestBenchDispatch(t *testing.T) {
	if code, _, stderr := runCmd(t, "bench"); code != 2 || !strings.Contains(stderr, "identity") {
		t.Errorf("bench without scenario: exit %d, stderr %q; want 2 and the scenario list", code, stderr)
	}
	if code, _, stderr := runCmd(t, "bench", "nope"); code != 2 || !strings.Contains(stderr, `unknown scenario "nope"`) {
		t.Errorf("bench nope: exit %d, stderr %q", code, stderr)
	}
	if code, _, stderr := runCmd(t, "bench", "identity", "--sets", "febrl9", "--data", t.TempDir()); code != 2 || !strings.Contains(stderr, "febrl9") {
		t.Errorf("bench identity --sets febrl9: exit %d, stderr %q", code, stderr)
	}
}

func TestBenchIdentityFEBRL1(t *testing.T) {
	wd, _ := os.Getwd()
	dir := benchid.FindDataDir(wd)
	if dir == "" {
		t.Skip("shared/data not found")
	}
	code, stdout, stderr := runCmd(t, "bench", "identity", "--data", dir, "--sets", "febrl1")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(stdout, "| febrl1 | 1000 |") {
		t.Errorf("stdout lacks the febrl1 row:\n%s", stdout)
	}
}

// TestBenchIdentityCustomers: the generated set needs no data directory
// and prints its statistics and error breakdown after the table.
func TestBenchIdentityCustomers(t *testing.T) {
	code, stdout, stderr := runCmd(t, "bench", "identity", "--sets", "customers", "--customers-households", "200")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{"| customers | ", "## customers: seed 20261202, 200 households", "twin pairs",
		"False merges:", "| household, family e-mail |", "| nickname |"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, stdout)
		}
	}
	if code, _, _ := runCmd(t, "bench", "identity", "--sets", "customers", "--customers-households", "0"); code != 2 {
		t.Errorf("--customers-households 0: exit %d, want 2", code)
	}
}

func TestBenchIdentityWriteCustomers(t *testing.T) {
	dir := t.TempDir()
	code, stdout, stderr := runCmd(t, "bench", "identity", "--customers-households", "30", "--write-customers", dir)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, f := range []string{"crm.csv", "pos.csv", "support.csv", "truth.csv", "web.csv"} {
		if !strings.Contains(stdout, f) {
			t.Errorf("stdout lacks %s: %s", f, stdout)
		}
	}
}
