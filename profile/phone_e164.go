package profile

import (
	"regexp"
	"strconv"
	"sync"

	"github.com/nyaruka/phonenumbers"
)

// parseE164 is phonenumbers.Parse(v, region) for the form phones
// usually arrive in — already E.164, "+" and 7–15 digits — without
// Parse's general machinery (extension and punctuation regexps, builders:
// two thirds of a normalization's time). It answers only where Parse's
// result is plain: the country code is the digits' prefix in the
// calling-code table (as Parse's extractCountryCode finds it) and
// belongs to a geographic region, and the rest (the national
// significant number) neither starts with 0 (Italian leading zeros) nor
// with what the region strips as a national prefix when parsing (its
// national_prefix_for_parsing) — where Parse would strip it, the number
// it returns has other digits. There Parse returns exactly {country
// code, national number} whatever region says; ok is false everywhere
// else, and the caller parses. TestParseE164IsParse compares the two on
// every region's example numbers, with national prefixes inserted, and
// on random digits.
func parseE164(v string) (n *phonenumbers.PhoneNumber, ok bool) {
	if len(v) < 8 || len(v) > 16 || v[0] != '+' || v[1] == '0' {
		return nil, false
	}
	for i := 1; i < len(v); i++ {
		if v[i] < '0' || v[i] > '9' {
			return nil, false
		}
	}
	prefixes := nationalPrefixes()
	if prefixes == nil {
		return nil, false
	}
	for k := 2; k <= 4; k++ { // country codes have 1–3 digits
		cc, _ := strconv.Atoi(v[1:k])
		region := phonenumbers.GetRegionCodeForCountryCode(cc)
		if region == phonenumbers.UNKNOWN_REGION {
			continue
		}
		nsn := v[k:]
		if region == "001" || len(nsn) < 2 || nsn[0] == '0' {
			return nil, false
		}
		if p := prefixes[region]; p != nil && p.MatchString(nsn) {
			return nil, false
		}
		num, err := strconv.ParseUint(nsn, 10, 64)
		if err != nil {
			return nil, false
		}
		cc32 := int32(cc)
		return &phonenumbers.PhoneNumber{CountryCode: &cc32, NationalNumber: &num}, true
	}
	return nil, false
}

// nationalPrefixes maps each region with a national prefix for parsing
// to that prefix's pattern, anchored at the start (as
// maybeStripNationalPrefixAndCarrierCode anchors it); nil when the
// metadata cannot be read, which turns parseE164 off.
var nationalPrefixes = sync.OnceValue(func() map[string]*regexp.Regexp {
	out := map[string]*regexp.Regexp{}
	coll, err := phonenumbers.MetadataCollection()
	if err != nil {
		return nil
	}
	for _, md := range coll.GetMetadata() {
		if p := md.GetNationalPrefixForParsing(); p != "" {
			out[md.GetId()] = regexp.MustCompile("^(?:" + p + ")")
		}
	}
	return out
})

// compactE164 is v without the spaces, hyphens, dots and parentheses
// people write between the digits of an international number ("+44 20
// 7946 0123", "+1 (415) 555-2671"), when v is "+", a digit, then only
// digits and those; "" otherwise, or when that leaves more than 15
// digits. NormalizePhone tries parseE164 on it before Parse's general
// machinery; where parseE164 takes it, Parse finds the same number
// (TestParseE164IsParse checks formatted and punctuated forms).
func compactE164(v string) string {
	if len(v) < 2 || v[0] != '+' || v[1] < '0' || v[1] > '9' {
		return ""
	}
	var b [16]byte
	b[0] = '+'
	n := 1
	for i := 1; i < len(v); i++ {
		switch c := v[i]; {
		case c >= '0' && c <= '9':
			if n == len(b) {
				return ""
			}
			b[n] = c
			n++
		case c == ' ' || c == '-' || c == '.' || c == '(' || c == ')':
		default:
			return ""
		}
	}
	return string(b[:n])
}
