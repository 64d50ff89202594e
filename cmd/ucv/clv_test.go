package main

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	benchid "ucv/bench/identity"
)

// cdnowCSV converts the paper's CDNOW sample (whitespace-separated
// `id id2 YYYYMMDD count amount`, no header) into a CSV with a header in
// a temporary directory; it skips the test when shared/data is absent.
func cdnowCSV(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	data := benchid.FindDataDir(dir) // shared/data, as bench identity finds it
	src := filepath.Join(data, "cdnow", "CDNOW_sample.txt")
	if _, err := os.Stat(src); data == "" || err != nil {
		t.Skip("shared/data/cdnow/CDNOW_sample.txt not found above the repository; skipping the CDNOW run of ucv clv")
	}
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	dst := filepath.Join(t.TempDir(), "cdnow.csv")
	out, err := os.Create(dst)
	if err != nil {
		t.Fatal(err)
	}
	w := csv.NewWriter(out)
	_ = w.Write([]string{"customer_id", "date", "cds", "amount"})
	sc := bufio.NewScanner(in)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 5 {
			_ = w.Write([]string{f[0], f[2], f[3], f[4]})
		}
	}
	w.Flush()
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if err := w.Error(); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	return dst
}

type clvOut struct {
	Customers  int                `json:"customers"`
	BGNBD      map[string]float64 `json:"bgnbd"`
	GammaGamma map[string]float64 `json:"gamma_gamma"`
	LL         float64            `json:"log_likelihood"`
}

// TestCLVCDNOW runs `ucv clv` on the paper's sample calibrated on its
// first 39 weeks and finds the published estimates in its JSON, and one
// score row per customer.
func TestCLVCDNOW(t *testing.T) {
	in := cdnowCSV(t)
	scores := filepath.Join(t.TempDir(), "scores.csv")
	code, stdout, stderr := runCmd(t, "clv", "--input", in, "--customer", "customer_id", "--date", "date", "--amount", "amount",
		"--date-format", "20060102", "--calibration-end", "1997-09-30", "--period", "week", "--horizon", "39", "--output", scores)
	if code != 0 {
		t.Fatalf("exit %d, stderr: %s", code, stderr)
	}
	var got clvOut
	if err := json.Unmarshal([]byte(stdout), &got); err != nil {
		t.Fatalf("stdout %q: %v", stdout, err)
	}
	if strings.Count(stdout, "\n") != 1 {
		t.Errorf("stdout has %d lines, want one JSON object", strings.Count(stdout, "\n"))
	}
	if got.Customers != 2357 {
		t.Errorf("customers = %d, want 2357", got.Customers)
	}
	for _, c := range []struct {
		name      string
		got, want float64
		tol       float64
	}{
		{"r", got.BGNBD["r"], 0.243, 0.005}, {"alpha", got.BGNBD["alpha"], 4.414, 0.005},
		{"a", got.BGNBD["a"], 0.793, 0.005}, {"b", got.BGNBD["b"], 2.426, 0.005},
		{"p", got.GammaGamma["p"], 6.25, 0.005}, {"q", got.GammaGamma["q"], 3.74, 0.005}, {"v", got.GammaGamma["v"], 15.44, 0.015},
		{"log_likelihood", got.LL, -9582.4, 0.05},
	} {
		if math.Abs(c.got-c.want) > c.tol {
			t.Errorf("%s = %.4f, want %.4f ± %g", c.name, c.got, c.want, c.tol)
		}
	}
	f, err := os.Open(scores)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if want := "customer,frequency,recency,T,p_alive,expected_purchases,predicted_value"; strings.Join(rows[0], ",") != want {
		t.Fatalf("header %q, want %q", strings.Join(rows[0], ","), want)
	}
	if len(rows) != 2358 {
		t.Fatalf("%d score rows, want 2357", len(rows)-1)
	}
	// Customer 00004 bought on 1997-01-01, 01-18 and 08-02 in the
	// calibration period: two repeats, recency 213 days, T 272 days.
	var row []string
	for _, r := range rows[1:] {
		if r[0] == "00004" {
			row = r
		}
	}
	if row == nil {
		t.Fatal("no row for customer 00004")
	}
	num := func(i int) float64 {
		v, err := strconv.ParseFloat(row[i], 64)
		if err != nil {
			t.Fatalf("column %d of %v: %v", i, row, err)
		}
		return v
	}
	if row[1] != "2" || math.Abs(num(2)-213.0/7) > 1e-6 || math.Abs(num(3)-272.0/7) > 1e-6 {
		t.Errorf("customer 00004: frequency,recency,T = %s,%s,%s, want 2,%v,%v", row[1], row[2], row[3], 213.0/7, 272.0/7)
	}
	if p := num(4); !(p > 0 && p < 1) {
		t.Errorf("p_alive = %v, want in (0,1)", p)
	}
	if e, v := num(5), num(6); !(e > 0 && v > e) {
		t.Errorf("expected_purchases %v, predicted_value %v: want both positive, value above count (spend per order > $1)", e, v)
	}
}

func clvInput(t *testing.T, name, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestCLVSameDayIsOneTransaction: two purchases on one day are one
// transaction worth their sum, and the first day is not a repeat.
func TestCLVSameDayIsOneTransaction(t *testing.T) {
	var b strings.Builder
	b.WriteString("cust,day,value\n")
	// Enough varied customers for both fits.
	for i := range 40 {
		id := "c" + strconv.Itoa(i)
		b.WriteString(id + ",2024-01-01,10\n")
		for k := 0; k < i%4; k++ {
			b.WriteString(id + ",2024-0" + strconv.Itoa(2+k) + "-1" + strconv.Itoa(i%10) + "," + strconv.Itoa(5+i+k) + "\n")
		}
	}
	b.WriteString("dup,2024-01-01,1\ndup,2024-01-01,2\ndup,2024-03-05,3\ndup,2024-03-05,4\ndup,2024-12-31,99\n")
	in := clvInput(t, "orders.csv", b.String())
	scores := filepath.Join(t.TempDir(), "scores.csv")
	code, _, stderr := runCmd(t, "clv", "--input", in, "--customer", "cust", "--date", "day", "--amount", "value",
		"--calibration-end", "2024-06-30", "--period", "day", "--output", scores)
	if code != 0 {
		t.Fatalf("exit %d, stderr: %s", code, stderr)
	}
	out, err := os.ReadFile(scores)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(line, "dup,") {
			f := strings.Split(line, ",")
			// 2024-01-01 → 03-05 is 64 days; → 06-30 is 181 days; the
			// purchase of 12-31 is after the calibration period.
			if f[1] != "1" || f[2] != "64" || f[3] != "181" {
				t.Errorf("dup: frequency,recency,T = %s,%s,%s, want 1,64,181", f[1], f[2], f[3])
			}
			return
		}
	}
	t.Fatalf("no row for dup in %s", out)
}

// TestCLVBadInput: missing columns, unparseable dates and amounts name
// the file and line; missing flags are usage errors.
func TestCLVBadInput(t *testing.T) {
	base := []string{"clv", "--customer", "c", "--date", "d", "--amount", "a", "--calibration-end", "2024-06-30"}
	for _, tc := range []struct {
		name, body string
		code       int
		want       string
	}{
		{"missing column", "c,d\nx,2024-01-01\n", 1, `no column "a" (--amount)`},
		{"bad date", "c,d,a\nx,2024-01-01,1\ny,01/02/2024,1\n", 1, `line 3: date column "d" does not match --date-format`},
		{"bad amount", "c,d,a\nx,2024-01-01,1\ny,2024-01-02,12,50\n", 1, "line 3: ragged row"},
		{"unparseable amount", "c,d,a\nx,2024-01-01,1\ny,2024-01-02,ten\n", 1, `line 3: amount column "a" is not a number`},
		{"negative amount", "c,d,a\nx,2024-01-01,-5\n", 1, `line 2: amount column "a" is negative`},
		{"no repeat customer", "c,d,a\nx,2024-01-01,5\ny,2024-01-02,5\n", 1, "too little data"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := clvInput(t, "in.csv", tc.body)
			code, stdout, stderr := runCmd(t, append(base, "--input", in)...)
			if code != tc.code || !strings.Contains(stderr, tc.want) {
				t.Errorf("exit %d, stderr %q; want exit %d and %q", code, stderr, tc.code, tc.want)
			}
			if stdout != "" {
				t.Errorf("stdout %q on failure, want nothing", stdout)
			}
		})
	}
	in := clvInput(t, "in.csv", "c,d,a\nx,2024-01-01,1\n")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"clv", "--input", in, "--date", "d", "--amount", "a", "--calibration-end", "2024-06-30"}, "--customer is required"},
		{[]string{"clv", "--input", in, "--customer", "c", "--date", "d", "--amount", "a"}, "--calibration-end is required"},
		{append(slicesClone(base), "--input", in, "--period", "month"), "--period must be day or week"},
		{append(slicesClone(base), "--input", in, "--horizon", "-3"), "--horizon must be a positive number"},
		{[]string{"clv", "--input", in, "--customer", "c", "--date", "d", "--amount", "a", "--calibration-end", "June"}, "--calibration-end"},
	} {
		code, _, stderr := runCmd(t, tc.args...)
		if code != 2 || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit 2 and %q", tc.args[1:], code, stderr, tc.want)
		}
	}
}

func slicesClone(s []string) []string { return append([]string(nil), s...) }

// TestCLVHelpGroupsEveryFlag: every flag of `ucv clv` is in a titled
// group and names its UCV_* variable.
func TestCLVHelpGroupsEveryFlag(t *testing.T) {
	code, stdout, _ := runCmd(t, "clv", "-h")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	if strings.Contains(stdout, "Other options") {
		t.Errorf("help lists ungrouped flags:\n%s", stdout)
	}
	for _, name := range []string{"input", "customer", "date", "amount", "date-format", "calibration-end", "period", "horizon", "output"} {
		if !strings.Contains(stdout, "  -"+name+" ") && !strings.Contains(stdout, "  -"+name+"\n") {
			t.Errorf("help has no -%s", name)
		}
		env := "UCV_CLV_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
		if !strings.Contains(stdout, "["+env+"]") {
			t.Errorf("help does not name %s", env)
		}
	}
}
