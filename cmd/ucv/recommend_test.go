package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRecommendCSV: on a small CSV with known co-purchases, every
// customer who bought before --until gets ranked rows, never an item
// they bought; cancellations (quantity ≤ 0), guests and later rows are
// left out of training.
func TestRecommendCSV(t *testing.T) {
	in := clvInput(t, "orders.csv", `order,cust,sku,qty,when
1,ann,bread,1,2024-01-01
1,ann,butter,2,2024-01-01
2,bob,bread,1,2024-01-02
2,bob,butter,1,2024-01-02
2,bob,jam,1,2024-01-02
3,cat,jam,1,2024-01-03
3,cat,butter,1,2024-01-03
C4,cat,tea,-1,2024-01-04
5,,tea,1,2024-01-04
6,dan,milk,1,2024-02-01
6,dan,tea,1,2024-02-01
`)
	out := filepath.Join(t.TempDir(), "recs.csv")
	code, stdout, stderr := runCmd(t, "recommend", "--input", in, "--customer", "cust", "--item", "sku", "--date", "when",
		"--order", "order", "--quantity", "qty", "--until", "2024-01-31", "--k", "2", "--output", out)
	if code != 0 {
		t.Fatalf("exit %d, stderr %s", code, stderr)
	}
	if !strings.Contains(stdout, `"customers":3`) {
		t.Errorf("stdout %q, want 3 customers", stdout)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	want := "customer,item,rank\nann,jam,1\ncat,bread,1\n"
	if string(b) != want {
		t.Errorf("recommendations:\n%s\nwant:\n%s", b, want)
	}
}

// TestRecommendBadInput: missing columns and unparseable dates name the
// file and line; missing flags are usage errors.
func TestRecommendBadInput(t *testing.T) {
	base := []string{"recommend", "--customer", "c", "--item", "i", "--date", "d", "--until", "2024-06-30", "--k", "5"}
	for _, tc := range []struct{ name, body, want string }{
		{"missing column", "c,d\nx,2024-01-01\n", `no column "i" (--item)`},
		{"bad date", "c,i,d\nx,a,2024-01-01\ny,b,01/02/2024\n", `line 3: date column "d" does not match --date-format`},
		{"empty item", "c,i,d\nx,a,2024-01-01\ny,,2024-01-02\n", `line 3: empty item column "i"`},
		{"ragged row", "c,i,d\nx,a,2024-01-01\ny,b,2024-01-02,7\n", "line 3"},
		{"too little data", "c,i,d\nx,a,2024-01-01\ny,b,2024-01-02\n", "too little data"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := clvInput(t, "in.csv", tc.body)
			code, stdout, stderr := runCmd(t, append(slicesClone(base), "--input", in, "--output", filepath.Join(t.TempDir(), "o.csv"))...)
			if code != 1 || !strings.Contains(stderr, tc.want) || stdout != "" {
				t.Errorf("exit %d, stdout %q, stderr %q; want exit 1 and %q", code, stdout, stderr, tc.want)
			}
		})
	}
	in := clvInput(t, "in.csv", "c,i,d,q\nx,a,2024-01-01,many\n")
	o := filepath.Join(t.TempDir(), "o.csv")
	if code, _, stderr := runCmd(t, append(slicesClone(base), "--input", in, "--output", o, "--quantity", "q")...); code != 1 || !strings.Contains(stderr, `line 2: quantity column "q" is not a number`) {
		t.Errorf("bad quantity: exit %d, stderr %q", code, stderr)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"recommend", "--input", in, "--item", "i", "--date", "d", "--until", "2024-06-30", "--output", o}, "--customer is required"},
		{[]string{"recommend", "--input", in, "--customer", "c", "--item", "i", "--date", "d", "--output", o}, "--until is required"},
		{[]string{"recommend", "--input", in, "--customer", "c", "--item", "i", "--date", "d", "--until", "2024-06-30"}, "--output is required"},
		{append(slicesClone(base), "--input", in, "--output", o, "--k", "0"), "--k must be 1..1000"},
		{[]string{"recommend", "--input", in, "--customer", "c", "--item", "i", "--date", "d", "--until", "June", "--output", o}, "--until"},
	} {
		code, _, stderr := runCmd(t, tc.args...)
		if code != 2 || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit 2 and %q", tc.args[1:], code, stderr, tc.want)
		}
	}
}

// TestRecommendHelpGroupsEveryFlag: every flag is in a titled group and
// names its UCV_* variable.
func TestRecommendHelpGroupsEveryFlag(t *testing.T) {
	code, stdout, _ := runCmd(t, "recommend", "-h")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	if strings.Contains(stdout, "Other options") {
		t.Errorf("help lists ungrouped flags:\n%s", stdout)
	}
	for _, name := range []string{"input", "customer", "item", "date", "order", "quantity", "date-format", "until", "k", "output"} {
		env := "UCV_RECOMMEND_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
		if !strings.Contains(stdout, "  -"+name) || !strings.Contains(stdout, "["+env+"]") {
			t.Errorf("help has no -%s naming %s", name, env)
		}
	}
}
