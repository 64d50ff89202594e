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
