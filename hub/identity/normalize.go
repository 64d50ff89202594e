package identity

import (
	"strings"
	"unicode"

	"golang.org/x/text/unicode/norm"
)

// fold lower-cases s and maps common Latin letters with diacritics to
// ASCII ("Zoë" → "zoe", "Müller" → "muller"). Other runes are kept.
func fold(s string) string {
	ascii := true
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 || (s[i] >= 'A' && s[i] <= 'Z') {
			ascii = false
			break
		}
	}
	if ascii {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		r = unicode.ToLower(r)
		if r < 0x80 {
			b.WriteRune(r)
			continue
		}
		if m, ok := diacritics[r]; ok {
			b.WriteString(m)
			continue
		}
		if unicode.IsLetter(r) && r < 0x2000 {
			// A Latin, Greek or Cyrillic letter the table does not
			// list ("ấ", "ư" of Vietnamese): its canonical
			// decomposition without the combining marks.
			for _, d := range norm.NFD.String(string(r)) {
				if !unicode.Is(unicode.Mn, d) {
					b.WriteRune(d)
				}
			}
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

var diacritics = map[rune]string{
	'à': "a", 'á': "a", 'â': "a", 'ã': "a", 'ä': "a", 'å': "a", 'æ': "ae", 'ç': "c",
	'è': "e", 'é': "e", 'ê': "e", 'ë': "e", 'ì': "i", 'í': "i", 'î': "i", 'ï': "i",
	'ñ': "n", 'ò': "o", 'ó': "o", 'ô': "o", 'õ': "o", 'ö': "o", 'ø': "o", 'ù': "u",
	'ú': "u", 'û': "u", 'ü': "u", 'ý': "y", 'ÿ': "y", 'ß': "ss", 'ł': "l", 'ś': "s",
	'ź': "z", 'ż': "z", 'č': "c", 'ć': "c", 'š': "s", 'ž': "z", 'ř': "r", 'ě': "e",
	'ń': "n", 'ő': "o", 'ű': "u", 'ğ': "g", 'ş': "s", 'ı': "i", 'œ': "oe", 'đ': "d",
}

// tokens splits a folded string into runs of letters and digits.
func tokens(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) })
}

// NormalizeName folds a name part and removes everything but letters, so
// "Ann-Marie", "Ann Marie" and "annmarie" are equal and "O'Neil" equals
// "ONeil". It returns "" for a missing or letterless value.
func NormalizeName(s string) string {
	s = fold(strings.TrimSpace(s))
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		if unicode.IsLetter(r) {
			b.WriteRune(r)
		}
	}
	return b.String()
}

var nameTitles = map[string]bool{
	"mr": true, "mrs": true, "ms": true, "miss": true, "mx": true, "dr": true, "prof": true,
	"sir": true, "dame": true, "rev": true, "fr": true, "lord": true, "lady": true,
}

var nameSuffixes = map[string]bool{
	"jr": true, "sr": true, "ii": true, "iii": true, "iv": true, "phd": true, "md": true,
	"esq": true, "junior": true, "senior": true,
}

// SplitFullName splits a free-text full name into first, middle and last
// name, each normalized by NormalizeName. Titles and suffixes are dropped;
// "Last, First Middle" is recognised by its comma.
func SplitFullName(s string) (first, middle, last string) {
	s = fold(strings.TrimSpace(s))
	if s == "" {
		return "", "", ""
	}
	if before, after, ok := strings.Cut(s, ","); ok && len(tokens(before)) > 0 && len(tokens(after)) > 0 {
		if first := strings.Trim(strings.Fields(after)[0], ".,;'\"()"); nameSuffixes[first] || ordinal(first) {
			s = before // "John Smith, Jr.", "Sir John Marsham, 1st Baronet": a suffix clause
		} else {
			s = after + " " + before // "Smith, John"
		}
	}
	var parts []string
	for _, t := range strings.Fields(s) {
		k := strings.Trim(t, ".,;'\"()")
		if nameTitles[k] || nameSuffixes[k] || ordinal(k) {
			continue
		}
		if n := NormalizeName(t); n != "" {
			parts = append(parts, n)
		}
	}
	switch len(parts) {
	case 0:
		return "", "", ""
	case 1:
		return parts[0], "", ""
	}
	// A surname particle before the last word is part of the surname
	// ("Bríd Mc Carthy", "Juan de la Cruz", "Ludwig van der Berg"), as
	// the name columns have it: NormalizeName("Mc Carthy") is
	// "mccarthy". The first word is never taken (a given name).
	end := len(parts) - 1
	for end > 1 && gluesToSurname(parts[end-2], parts[end-1], end < len(parts)-1) {
		end--
	}
	return parts[0], strings.Join(parts[1:end], " "), strings.Join(parts[end:], "")
}

// compoundCut returns where the second surname begins in norm, the
// normalized form of surname field raw, when raw holds exactly two
// surnames ("Gutiérrez Pérez", "Smith-Jones"; a particle belongs to the
// surname it begins: "De la Cruz Ortiz" is two, "Mc Carthy" one), and 0
// otherwise.
func compoundCut(raw, norm string) uint8 {
	words := strings.FieldsFunc(fold(raw), func(r rune) bool { return r == ' ' || r == '-' })
	var units []string
	glue := ""
	for _, w := range words {
		n := NormalizeName(w)
		if n == "" {
			continue
		}
		if surnameParticles[n] || weakParticles[n] && glue != "" {
			glue += n
			continue
		}
		units = append(units, glue+n)
		glue = ""
	}
	if glue != "" || len(units) != 2 || units[0]+units[1] != norm || len(units[0]) > 255 {
		return 0
	}
	return uint8(len(units[0]))
}

// surnameParticles are the words that begin a surname written apart
// ("Mc Carthy", "O Brien", "De Luca", "von Trapp", "St John"). weakParticles
// are also given or family names in their own right — "Van" is a
// Vietnamese middle name (Văn) and "Le" a Vietnamese surname — and join
// the surname only inside a run that a strong particle begins or
// continues ("de la Cruz", "van der Berg").
var (
	surnameParticles = map[string]bool{
		"mc": true, "mac": true, "o": true, "st": true, "de": true, "del": true, "della": true,
		"di": true, "da": true, "du": true, "des": true, "von": true, "der": true, "den": true,
		"dos": true, "das": true, "ter": true, "ten": true,
	}
	weakParticles = map[string]bool{"van": true, "la": true, "le": true, "lo": true, "y": true}
)

// gluesToSurname reports whether word w, preceded by word before and
// followed by a particle already joined to the surname when chained,
// begins the surname.
func gluesToSurname(before, w string, chained bool) bool {
	if surnameParticles[w] {
		return true
	}
	return weakParticles[w] && (chained || surnameParticles[before])
}

// ordinal reports whether t is a number written as an ordinal ("1st",
// "22nd", "3rd", "5th"): in a name, a generation ("John Smith 3rd") or
// a rank ("5th Baronet"), never a name part.
func ordinal(t string) bool {
	i := 0
	for i < len(t) && t[i] >= '0' && t[i] <= '9' {
		i++
	}
	if i == 0 {
		return false
	}
	switch t[i:] {
	case "st", "nd", "rd", "th":
		return true
	}
	return false
}

// NormalizeGender maps common spellings to "m", "f" or "x"; unknown
// values give "".
func NormalizeGender(s string) string {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "m", "male", "man", "boy", "masculine":
		return "m"
	case "f", "female", "woman", "girl", "feminine", "w":
		return "f"
	case "x", "nonbinary", "non-binary", "other", "diverse", "d":
		return "x"
	}
	return ""
}

// NormalizeCode keeps only letters and digits, lower-cased: postcodes,
// national ids, passport and licence numbers ("SW1A 1AA" → "sw1a1aa",
// "123-45-6789" → "123456789").
func NormalizeCode(s string) string {
	s = fold(strings.TrimSpace(s))
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// normalizePostcode returns the code without spaces and its outward part
// (before the space) when the raw value has one, as in UK postcodes.
func normalizePostcode(s string) (code, outward string) {
	s = fold(strings.TrimSpace(s))
	code = NormalizeCode(s)
	if i := strings.IndexByte(s, ' '); i > 0 && code != "" {
		outward = NormalizeCode(s[:i])
	}
	return code, outward
}

// addressAbbrev expands the common street-type and direction
// abbreviations: Australian and British ones, and the USPS's (Publication
// 28, appendix C1: "TER", "CIR", "PKWY", …).
var addressAbbrev = map[string]string{
	"st": "street", "str": "street", "rd": "road", "ave": "avenue", "av": "avenue",
	"blvd": "boulevard", "dr": "drive", "ln": "lane", "ct": "court", "cres": "crescent",
	"cct": "circuit", "pl": "place", "sq": "square", "hwy": "highway", "pde": "parade",
	"tce": "terrace", "ter": "terrace", "cir": "circle", "pkwy": "parkway", "trl": "trail",
	"expy": "expressway", "fwy": "freeway", "plz": "plaza", "aly": "alley", "xing": "crossing",
	"hts": "heights", "cl": "close", "apt": "apartment", "fl": "floor", "n": "north",
	"s": "south", "e": "east", "w": "west", "mt": "mount", "pk": "park",
}

// NormalizeAddress folds an address, expands common abbreviations and
// returns it as space-separated tokens ("12 Main St." → "12 main street").
// Unit designators stay ("Apt 7E" and "#7E" differ): equating them was
// measured to cost the customers set recall — more household members
// then share an address, and the given-name veto parts some of one
// person's records (decision 0042, fourth pass).
func NormalizeAddress(s string) string {
	ts := tokens(fold(strings.TrimSpace(s)))
	for i, t := range ts {
		if x, ok := addressAbbrev[t]; ok {
			ts[i] = x
		}
	}
	return strings.Join(ts, " ")
}

// normalizePlace folds a city, state or country name to its tokens.
func normalizePlace(s string) string {
	return strings.Join(tokens(fold(strings.TrimSpace(s))), " ")
}
