package identity

import (
	"strings"
	"testing"

	"ucv/profile"
)

func FuzzParseBirthDate(f *testing.F) {
	for _, s := range []string{"19800314", "1980-03-14", "3/14/1980", "03/04/1980", "14.3.80", "03/04/80", "", "1980-13-40", "//"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, order := range []DateOrder{DateAuto, DateMDY, DateDMY} {
			// At most four readings: day/month either way (DateAuto)
			// times a two-digit year's two centuries; none twice.
			ds := ParseBirthDate(s, order)
			if len(ds) > 4 || order != DateAuto && len(ds) > 2 {
				t.Fatalf("ParseBirthDate(%q, %d) = %v: too many readings", s, order, ds)
			}
			seen := map[string]bool{}
			for _, d := range ds {
				if len(d) != 8 || !allDigits(d) {
					t.Fatalf("ParseBirthDate(%q) = %v: not YYYYMMDD", s, ds)
				}
				if seen[d] {
					t.Fatalf("ParseBirthDate(%q) = %v: %s twice", s, ds, d)
				}
				seen[d] = true
			}
		}
	})
}

// FuzzCompare: comparison is total (no panic) and symmetric in its levels.
func FuzzCompare(f *testing.F) {
	f.Add("Ann-Marie", "O'Neil", "1975-07-02", "Annmarie", "ONeil", "02/07/1975")
	f.Add("bryant", "", "", "walter", "bryant", "1813-01-01")
	rules := profile.DefaultRules()
	f.Fuzz(func(t *testing.T, f1, l1, d1, f2, l2, d2 string) {
		mk := func(id, f, l, d string) *prep {
			return prepare(Record{ID: id, Fields: []Field{{Kind: FirstName, Value: f}, {Kind: LastName, Value: l},
				{Kind: BirthDate, Value: d}, {Kind: FullName, Value: f + " " + l}}}, rules, "US", DateAuto)
		}
		a, b := mk("a", f1, l1, d1), mk("b", f2, l2, d2)
		va, vb := compare(a, b), compare(b, a)
		for c := comp(0); c < numComp; c++ {
			if c == cFirst || c == cLast {
				continue // orientation may pick a different, equally valid reading
			}
			if va.lv[c] != vb.lv[c] {
				t.Fatalf("%s: level %d vs %d reversed", specs[c].name, va.lv[c], vb.lv[c])
			}
		}
	})
}

// FuzzSplitOneLine: splitting a one-line address never panics, never
// invents text (every word of every field is the input's) and keeps the
// street when the input has any.
func FuzzSplitOneLine(f *testing.F) {
	for _, s := range []string{"12 Main St Apt 4, Springfield, IL 62704", "12 Main St, Apt 4, Springfield, IL 62704",
		"Flat 2, 10 Downing Street, London, SW1A 2AA", "Apt 4, 12 Main St, Springfield, IL 62704", "#4, , ,", "Unit 1, Unit 2", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		o := splitOneLine(s)
		for _, part := range []string{o.street, o.city, o.state, o.postcode} {
			for _, w := range strings.Fields(part) {
				if !strings.Contains(s, w) {
					t.Fatalf("%q: word %q is not in the input (%+v)", s, w, o)
				}
			}
		}
		if strings.TrimSpace(strings.Map(func(r rune) rune {
			if r == ',' || r == '\n' || r == ';' {
				return ' '
			}
			return r
		}, s)) != "" && o.street == "" {
			t.Fatalf("%q: no street (%+v)", s, o)
		}
	})
}
