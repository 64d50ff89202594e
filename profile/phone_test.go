package profile

import (
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/nyaruka/phonenumbers"
	"pgregory.net/rapid"
)

// TestValidPhoneIsIsValidNumber: validPhone's shortcut answers exactly
// as phonenumbers.IsValidNumber — on every supported region's example
// number of every type, those numbers with their last digit changed, and
// random digits under every calling code.
func TestValidPhoneIsIsValidNumber(t *testing.T) {
	regions := sortedRegions()
	checked, valid := 0, 0
	for _, r := range regions {
		for typ := phonenumbers.FIXED_LINE; typ <= phonenumbers.UNKNOWN; typ++ {
			ex := phonenumbers.GetExampleNumberForType(r, typ)
			if ex == nil {
				continue
			}
			nsn := phonenumbers.GetNationalSignificantNumber(ex)
			for d := 0; d <= 9; d++ {
				raw := fmt.Sprintf("+%d%s%d", ex.GetCountryCode(), nsn[:len(nsn)-1], d)
				n, err := phonenumbers.Parse(raw, "")
				if err != nil {
					continue
				}
				want := phonenumbers.IsValidNumber(n)
				if got := validPhone(n); got != want {
					t.Errorf("%s (%s example): validPhone %v, IsValidNumber %v", raw, r, got, want)
				}
				checked++
				if want {
					valid++
				}
			}
		}
	}
	if checked < 1000 || valid < checked/4 {
		t.Fatalf("checked %d numbers, %d valid: too few to say anything", checked, valid)
	}
	codes := sortedCallingCodes()
	rapid.Check(t, func(rt *rapid.T) {
		cc := rapid.SampledFrom(codes).Draw(rt, "cc")
		digits := rapid.StringMatching(`[0-9]{4,14}`).Draw(rt, "digits")
		n, err := phonenumbers.Parse(fmt.Sprintf("+%d%s", cc, digits), "")
		if err != nil {
			return
		}
		if got, want := validPhone(n), phonenumbers.IsValidNumber(n); got != want {
			rt.Fatalf("+%d%s: validPhone %v, IsValidNumber %v", cc, digits, got, want)
		}
	})
}

// BenchmarkNormalizePhone: a US number in E.164 form, as imports and
// identify calls carry them (validPhone's shortcut case).
func BenchmarkNormalizePhone(b *testing.B) {
	nums := make([]string, 1000)
	for i := range nums {
		nums[i] = fmt.Sprintf("+1650%07d", 2000000+i)
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if _, err := NormalizePhone(nums[i%len(nums)], "us"); err != nil {
			b.Fatal(err)
		}
	}
}

// parseE164 answers only where phonenumbers.Parse gives the same number,
// and NormalizePhone with it answers as Parse, validPhone and Format
// did: every region's example numbers of every type (last digit varied,
// and with the region's national prefix written after the country
// code), and random digits under every calling code, read with several
// default regions.
func TestParseE164IsParse(t *testing.T) {
	slow := func(raw, region string) (string, error) {
		n, err := phonenumbers.Parse(raw, region)
		if err != nil {
			return "", err
		}
		if !phonenumbers.IsValidNumber(n) {
			return "", fmt.Errorf("invalid")
		}
		return phonenumbers.Format(n, phonenumbers.E164), nil
	}
	defaults := []string{"US", "GB", "DE", "AR", ""}
	fast := 0
	check := func(tb interface{ Fatalf(string, ...any) }, raw string) {
		if n, ok := parseE164(raw); ok {
			fast++
			for _, region := range defaults {
				m, err := phonenumbers.Parse(raw, region)
				if err != nil {
					tb.Fatalf("%s: parseE164 took it, Parse(%q) failed: %v", raw, region, err)
				}
				if m.GetCountryCode() != n.GetCountryCode() || m.GetNationalNumber() != n.GetNationalNumber() ||
					m.GetItalianLeadingZero() || m.GetExtension() != "" {
					tb.Fatalf("%s (default %q): parseE164 %v, Parse %v", raw, region, n, m)
				}
			}
			if f := phonenumbers.Format(n, phonenumbers.E164); f != raw {
				tb.Fatalf("%s: parseE164's number formats as %s", raw, f)
			}
		}
		for _, region := range defaults {
			got, err1 := NormalizePhone(raw, region)
			want, err2 := slow(raw, region)
			if got != want || (err1 == nil) != (err2 == nil) {
				tb.Fatalf("%s (default %q): NormalizePhone %q, %v; Parse+IsValidNumber+Format %q, %v", raw, region, got, err1, want, err2)
			}
		}
	}
	regions := sortedRegions()
	coll, err := phonenumbers.MetadataCollection()
	if err != nil {
		t.Fatal(err)
	}
	prefix := map[string][]string{}
	for _, md := range coll.GetMetadata() {
		for _, p := range []string{md.GetNationalPrefix(), "0", "1", "8", "9", "15"} {
			if p != "" {
				prefix[md.GetId()] = append(prefix[md.GetId()], p)
			}
		}
	}
	checked := 0
	for _, r := range regions {
		for typ := phonenumbers.FIXED_LINE; typ <= phonenumbers.UNKNOWN; typ++ {
			ex := phonenumbers.GetExampleNumberForType(r, typ)
			if ex == nil {
				continue
			}
			nsn := phonenumbers.GetNationalSignificantNumber(ex)
			cc := ex.GetCountryCode()
			for d := 0; d <= 9; d++ {
				check(t, fmt.Sprintf("+%d%s%d", cc, nsn[:len(nsn)-1], d))
				checked++
			}
			// As people write them: libphonenumber's own international
			// format, with hyphens or dots for its spaces, and with the
			// national prefix in parentheses.
			intl := phonenumbers.Format(ex, phonenumbers.INTERNATIONAL)
			for _, f := range []string{intl, strings.ReplaceAll(intl, " ", "-"), strings.ReplaceAll(intl, " ", "."),
				strings.Replace(intl, " ", " (", 1) + ")", fmt.Sprintf("+%d (0) %s", cc, nsn), fmt.Sprintf("+%d(%s)", cc, nsn)} {
				check(t, f)
				checked++
			}
			for _, p := range prefix[r] {
				check(t, fmt.Sprintf("+%d%s%s", cc, p, nsn))
				checked++
			}
		}
	}
	if checked < 2000 || fast < checked/3 {
		t.Fatalf("checked %d numbers, %d through parseE164: too few to say anything", checked, fast)
	}
	codes := sortedCallingCodes()
	rapid.Check(t, func(rt *rapid.T) {
		cc := rapid.SampledFrom(codes).Draw(rt, "cc")
		check(rt, fmt.Sprintf("+%d%s", cc, rapid.StringMatching(`[0-9]{1,14}`).Draw(rt, "digits")))
		// The same with punctuation between and around the digits.
		check(rt, fmt.Sprintf("+%d%s", cc, rapid.StringMatching(`[0-9 ().-]{1,20}`).Draw(rt, "punctuated")))
	})
}

// sortedRegions is libphonenumber's supported regions, sorted.
func sortedRegions() []string {
	out := make([]string, 0, 256)
	for r := range phonenumbers.GetSupportedRegions() {
		out = append(out, r)
	}
	sort.Strings(out)
	return out
}

// sortedCallingCodes is libphonenumber's supported calling codes, sorted.
func sortedCallingCodes() []int {
	out := make([]int, 0, 256)
	for c := range phonenumbers.GetSupportedCallingCodes() {
		out = append(out, c)
	}
	sort.Ints(out)
	return out
}
