package profile

import (
	"fmt"
	"sort"
	"testing"

	"github.com/nyaruka/phonenumbers"
	"pgregory.net/rapid"
)

// TestValidPhoneIsIsValidNumber: validPhone's shortcut answers exactly
// as phonenumbers.IsValidNumber — on every supported region's example
// number of every type, those numbers with their last digit changed, and
// random digits under every calling code.
func TestValidPhoneIsIsValidNumber(t *testing.T) {
	regions := make([]string, 0, 256)
	for r := range phonenumbers.GetSupportedRegions() {
		regions = append(regions, r)
	}
	sort.Strings(regions)
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
	codes := make([]int, 0, 256)
	for c := range phonenumbers.GetSupportedCallingCodes() {
		codes = append(codes, c)
	}
	sort.Ints(codes)
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
