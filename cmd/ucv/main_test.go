package main

import (
	"strings"
	"testing"
)

// Help that is asked for goes to stdout and exits 0; usage errors go to
// stderr and exit 2.
func TestHelpAndVersion(t *testing.T) {
	for _, tc := range []struct {
		name           string
		args           []string
		code           int
		stdout, stderr string // must contain; "" means must be empty
	}{
		{"version flag", []string{"--version"}, 0, "ucv " + version + " (go", ""},
		{"version command", []string{"version"}, 0, "ucv " + version + " (go", ""},
		{"top-level -h", []string{"-h"}, 0, "Commands:", ""},
		{"help", []string{"help"}, 0, "Commands:", ""},
		{"help edge", []string{"help", "edge"}, 0, "Usage: ucv edge", ""},
		{"help dev", []string{"help", "dev"}, 0, "-cors-origins", ""},
		{"edge -h", []string{"edge", "-h"}, 0, "-max-event-age", ""},
		{"hub --help", []string{"hub", "--help"}, 0, "Usage: ucv hub", ""},
		{"no command", nil, 2, "", "Commands:"},
		{"unknown command", []string{"frobnicate"}, 2, "", `unknown command "frobnicate"`},
		{"help for an unknown command", []string{"help", "frobnicate"}, 2, "", `unknown command "frobnicate"`},
		{"bad flag", []string{"edge", "--bogus"}, 2, "", "flag provided but not defined"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runCmd(t, tc.args...)
			if code != tc.code {
				t.Errorf("exit = %d, want %d (stdout %q, stderr %q)", code, tc.code, stdout, stderr)
			}
			for _, out := range []struct{ name, got, want string }{{"stdout", stdout, tc.stdout}, {"stderr", stderr, tc.stderr}} {
				if out.want == "" && out.got != "" {
					t.Errorf("%s = %q, want it empty", out.name, out.got)
				}
				if !strings.Contains(out.got, out.want) {
					t.Errorf("%s = %q, want it to contain %q", out.name, out.got, out.want)
				}
			}
		})
	}
}

// Every flag of edge, dev and hub is in a titled section of the help
// with an example (printFlagGroups lists every flag of the set, under
// "Other options" when no section names it), and each names its own
// UCV_* variable.
func TestHelpGroupsEveryFlag(t *testing.T) {
	for _, cmd := range []string{"edge", "dev", "hub"} {
		t.Run(cmd, func(t *testing.T) {
			code, help, _ := runCmd(t, "help", cmd)
			if code != 0 {
				t.Fatalf("ucv help %s: exit %d", cmd, code)
			}
			if i := strings.Index(help, "Other options:"); i >= 0 {
				t.Errorf("flags in no section:\n%s", help[i:])
			}
			lines := strings.Split(help, "\n")
			vars := map[string]string{}
			flags := 0
			for i, line := range lines {
				if !strings.HasPrefix(line, "  -") || i+1 == len(lines) {
					continue
				}
				flags++
				name, _, _ := strings.Cut(strings.TrimPrefix(line, "  -"), " ")
				usage := lines[i+1]
				j := strings.Index(usage, "[UCV_")
				if j < 0 {
					t.Errorf("-%s names no UCV_* variable: %q", name, usage)
					continue
				}
				v := usage[j+1 : j+strings.Index(usage[j:], "]")]
				if other, dup := vars[v]; dup {
					t.Errorf("%s is the variable of both -%s and -%s", v, other, name)
				}
				vars[v] = name
			}
			if flags < 10 {
				t.Errorf("%d flags in the help, want every flag:\n%s", flags, help)
			}
			if n := strings.Count(help, "  Example: ucv "+cmd); n < 5 {
				t.Errorf("%d sections with an example, want at least 5", n)
			}
		})
	}
	code, help, _ := runCmd(t, "bench", "ingest", "-h")
	for _, lookupOnly := range []string{"-profiles", "-rate", "-conns", "-redis", "-pin"} {
		if strings.Contains(help, lookupOnly+" ") {
			t.Errorf("bench ingest -h (exit %d) lists the lookup flag %s:\n%s", code, lookupOnly, help)
		}
	}
}
