package identity

import (
	"strings"
)

// comp numbers a comparison. The numbering is internal and may change;
// explanations use the names.
type comp uint8

const (
	cFirst comp = iota
	cLast
	cMiddle
	cDOB
	cGender
	cEmail
	cPhone
	cAddress
	cStreetNo
	cCity
	cState
	cPostcode
	cCountry
	cNationalID
	cPassport
	cLicense
	cOccupation
	numComp
)

const maxLevels = 7

// compSpec describes one comparison: its name and level labels. Level 0
// is always "missing" (one side has no value) and carries no weight.
type compSpec struct {
	name   string
	levels []string
	// tf marks a comparison whose level 1 (exact) is weighted by the
	// frequency of the agreed value.
	tf bool
	// prior m for each level, the starting point of EM and the fallback
	// when no training rule can estimate it.
	m []float64
	// u0 is the prior u of each level above 0 except the last ("different"
	// takes the rest); it steadies u when there are few random pairs.
	u0 []float64
}

var specs = [numComp]compSpec{
	cFirst: {"first_name", []string{"missing", "exact", "nickname", "jaro-winkler >= 0.92", "jaro-winkler >= 0.80 or 2 edits", "initial", "different"}, true,
		[]float64{0, 0.80, 0.03, 0.07, 0.04, 0.02, 0.04},
		[]float64{0, 0.01, 0.002, 0.003, 0.02, 0.005}},
	cLast: {"last_name", []string{"missing", "exact", "jaro-winkler >= 0.92", "jaro-winkler >= 0.80 or 2 edits", "different"}, true,
		[]float64{0, 0.85, 0.08, 0.04, 0.03},
		[]float64{0, 0.002, 0.001, 0.01}},
	cMiddle: {"middle_name", []string{"missing", "exact", "initial", "different"}, false,
		[]float64{0, 0.85, 0.1, 0.05},
		[]float64{0, 0.05, 0.05}},
	cDOB: {"birth_date", []string{"missing", "exact", "day and month swapped", "1 edit", "2 edits or within a year", "different"}, false,
		[]float64{0, 0.85, 0.02, 0.08, 0.03, 0.02},
		[]float64{0, 0.0002, 0.00001, 0.005, 0.05}},
	cGender: {"gender", []string{"missing", "exact", "different"}, false,
		[]float64{0, 0.97, 0.03},
		[]float64{0, 0.5}},
	cEmail: {"email", []string{"missing", "exact", "same local part or 1 edit", "different"}, true,
		[]float64{0, 0.85, 0.05, 0.1},
		[]float64{0, 0.0001, 0.0005}},
	cPhone: {"phone", []string{"missing", "exact", "1 edit or same last 7 digits", "different"}, true,
		[]float64{0, 0.85, 0.05, 0.1},
		[]float64{0, 0.0001, 0.0005}},
	cAddress: {"address", []string{"missing", "exact", "2 edits", "half the tokens shared", "different"}, true,
		[]float64{0, 0.8, 0.1, 0.05, 0.05},
		[]float64{0, 0.001, 0.002, 0.02}},
	cStreetNo: {"street_number", []string{"missing", "exact", "different"}, false,
		[]float64{0, 0.9, 0.1},
		[]float64{0, 0.02}},
	cCity: {"city", []string{"missing", "exact", "jaro-winkler >= 0.90", "different"}, true,
		[]float64{0, 0.85, 0.1, 0.05},
		[]float64{0, 0.02, 0.005}},
	cState: {"state", []string{"missing", "exact", "different"}, false,
		[]float64{0, 0.95, 0.05},
		[]float64{0, 0.2}},
	cPostcode: {"postcode", []string{"missing", "exact", "1 edit", "same outward code", "different"}, true,
		[]float64{0, 0.85, 0.08, 0.04, 0.03},
		[]float64{0, 0.002, 0.01, 0.02}},
	cCountry: {"country", []string{"missing", "exact", "different"}, false,
		[]float64{0, 0.97, 0.03},
		[]float64{0, 0.6}},
	cNationalID: {"national_id", []string{"missing", "exact", "1 edit", "2 edits", "different"}, false,
		[]float64{0, 0.88, 0.08, 0.02, 0.02},
		[]float64{0, 0.00001, 0.0001, 0.001}},
	cPassport: {"passport", []string{"missing", "exact", "1 edit", "different"}, false,
		[]float64{0, 0.9, 0.07, 0.03},
		[]float64{0, 0.00001, 0.0001}},
	cLicense: {"drivers_license", []string{"missing", "exact", "1 edit", "different"}, false,
		[]float64{0, 0.9, 0.07, 0.03},
		[]float64{0, 0.00001, 0.0001}},
	cOccupation: {"occupation", []string{"missing", "exact", "different"}, true,
		[]float64{0, 0.8, 0.2}, // people change jobs and hold several
		[]float64{0, 0.05}},
}

// vector is the comparison vector of a pair: one level per comparison.
type vector struct {
	lv [numComp]uint8
	// aSwap, bSwap: that side's first and last name were compared
	// crosswise (swapped fields, or a lone name in the wrong field).
	aSwap, bSwap bool
	// crossed: both records hold both name parts, compared crosswise.
	crossed bool
	// veto is why the pair can never be one entity (entity.go).
	veto veto
	// email, phone: the value both records hold when that comparison is
	// exact; its frequency adjusts the weight.
	email, phone string
	// nameLocal: the e-mail level is "same local part or 1 edit" and the
	// two local parts have the same letters, which spell a name of either
	// record ("ann.lee@a.com", "ann.lee@b.com", "ann_lee@a.com",
	// "annlee76@a.com" / "annlee71@a.com"). Namesakes get such addresses
	// as a matter of course, so where the names already agree the local
	// part says nothing more (weightOf).
	nameLocal nameSpelt
}

// personal reports whether anything that belongs to a person agrees, at
// any level short of "different": a name, the birth date, an e-mail, a
// phone or a document.
func (v *vector) personal() bool {
	return v.personalBeyondContact() || v.agrees(cEmail) || v.agrees(cPhone)
}

// personalBeyondContact is personal without e-mail and phone: a name, the
// birth date or a document agrees.
func (v *vector) personalBeyondContact() bool {
	return v.agrees(cFirst) || v.agrees(cLast) || v.agrees(cDOB) || v.documentAgrees()
}

// documentAgrees reports whether a national ID, passport or driver's
// licence agrees.
func (v *vector) documentAgrees() bool {
	return v.agrees(cNationalID) || v.agrees(cPassport) || v.agrees(cLicense)
}

// agrees reports whether c was compared and agrees at a level short of
// "different" (its last level).
func (v *vector) agrees(c comp) bool {
	l := v.lv[c]
	return l > 0 && l < levelDifferent(c)
}

// differs reports whether c was compared and found "different".
func (v *vector) differs(c comp) bool { return v.lv[c] == levelDifferent(c) }

// levelDifferent is comparison c's last level, "different".
func levelDifferent(c comp) uint8 { return uint8(len(specs[c].levels) - 1) }

// nameLocalPart reports whether a and b hold two different e-mails whose
// local parts have the same letters (digits and punctuation aside:
// "ann.lee" and "ann_lee", "garylee76" and "garylee71", or one local part
// at two domains), letters that contain the surname of either record (3
// letters or more; from 5 letters on, the surname less its last letter
// counts too, so a family's address — "thepetrovs", "morozovfamily" —
// spells Petrova's and Morozova's surname) or its given name (3 or more,
// or a usual variant of it: "kathi56" for Katharina; decision 0079). Namesakes and families get such
// addresses as a matter of course — at another provider, or with another
// separator or year where the plain name was taken — so such a near miss
// says only what the names say.
func nameLocalPart(a, b *prep) nameSpelt {
	for _, x := range a.emails {
		letters := emailLetters(x)
		if letters == "" {
			continue
		}
		for _, y := range b.emails {
			if x == y || letters != emailLetters(y) {
				continue
			}
			var spells nameSpelt
			for _, p := range [2]*prep{a, b} {
				if len(p.last) >= 3 && strings.Contains(letters, p.last) || len(p.last) >= 5 && (strings.Contains(letters, p.last[:len(p.last)-1]) || containsNear(letters, p.last)) {
					spells |= spellsLast // a family's form too: "thepetrovs" for Petrova
				}
				if len(p.first) >= 3 && strings.Contains(letters, p.first) || spellsVariant(letters, p.first) {
					spells |= spellsFirst
				}
			}
			if spells != 0 {
				return spells
			}
		}
	}
	return 0
}

// containsNear reports whether letters hold, somewhere, a run within one
// edit of name — the surname in another romanisation or with a typo:
// "mzaitseva" spells Zaytseva, "jsmiht" Smith. Names of five letters or
// more only (the caller's condition).
func containsNear(letters, name string) bool {
	for n := len(name) - 1; n <= len(name)+1; n++ {
		for i := 0; i+n <= len(letters); i++ {
			if damerauWithin(letters[i:i+n], name, 1) {
				return true
			}
		}
	}
	return false
}

// spellsVariant reports whether letters contain a usual variant of given
// name first (nickname.go) of three letters or more: "kathi56" for
// Katharina, "gaby92" for Gabrielle.
func spellsVariant(letters, first string) bool {
	for _, g := range nicknames[first] {
		for _, n := range nicknameMembers[g] {
			if len(n) >= 3 && n != first && strings.Contains(letters, n) {
				return true
			}
		}
	}
	return false
}

// nameSpelt says which names of a pair an e-mail local part spells.
type nameSpelt uint8

const (
	spellsLast nameSpelt = 1 << iota
	spellsFirst
)

// emailLetters returns the letters of e-mail e's local part
// ("ann.lee99@x.com" → "annlee").
func emailLetters(e string) string {
	local, _, _ := strings.Cut(e, "@")
	return localLetters(local)
}

// localLetters returns the letters a-z of an e-mail's local part.
func localLetters(local string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' {
			return r
		}
		return -1
	}, local)
}

// compare computes the comparison vector of a and b, every veto in
// force. It is symmetric in its arguments and allocation-free for
// typical values.
func compare(a, b *prep) vector { return compareWaiving(a, b, 0) }

// compareWaiving is compare with the vetoes in waive not applied.
func compareWaiving(a, b *prep, waive vetoSet) vector {
	v := compareLevels(a, b, dobLevelOf(a, b))
	v.veto = vetoWith(a, b, &v, dobUnknown, waive)
	return v
}

// compareLevels is compare without the veto (v.veto is vetoNone), given
// the pair's dobLevelOf: for a caller that has vetoOf's answer for the
// pair already.
func compareLevels(a, b *prep, dob uint8) vector {
	var v vector
	cheapLevels(a, b, dob, &v)
	nameLevels(a, b, &v)
	placeLevels(a, b, &v)
	return v
}

// cheapLevels fills the levels of v that need no string similarity
// (everything but the names, the address and the city, which nameLevels
// and placeLevels fill) and the values and flags that go with them.
func cheapLevels(a, b *prep, dob uint8, v *vector) {
	v.lv[cMiddle] = middleLevel(a.middle, b.middle)
	v.lv[cDOB] = dob
	v.lv[cGender] = exactLevel8(byte(a.gender), byte(b.gender))
	v.lv[cEmail] = bestLevel(a.emails, b.emails, emailLevel)
	if v.lv[cEmail] == 1 {
		v.email = common(a.emails, b.emails)
	} else if v.lv[cEmail] == 2 {
		v.nameLocal = nameLocalPart(a, b)
	}
	v.lv[cPhone] = bestLevel(a.phones, b.phones, phoneLevel)
	if v.lv[cPhone] == 1 {
		v.phone = common(a.phones, b.phones)
	}
	v.lv[cStreetNo] = exactLevel(a.streetNo, b.streetNo)
	v.lv[cState] = exactLevel(a.state, b.state)
	v.lv[cPostcode] = postcodeLevel(a, b)
	v.lv[cCountry] = exactLevel(a.country, b.country)
	v.lv[cNationalID] = bestLevel(a.nid, b.nid, nidLevel)
	v.lv[cPassport] = bestLevel(a.passport, b.passport, docLevel)
	v.lv[cLicense] = bestLevel(a.lic, b.lic, docLevel)
	v.lv[cOccupation] = exactLevel(a.occupation, b.occupation)
}

// nameLevels fills the first and last name levels of v, with the
// crosswise readings (aSwap, bSwap).
func nameLevels(a, b *prep, v *vector) {
	af, al := a.first, a.last
	if af != "" && al != "" && b.first != "" && b.last != "" && af != b.first && al != b.last &&
		(af[0] == b.last[0] || al[0] == b.first[0]) { // cheap guard before four Jaro-Winklers
		// Swapped first/last: only when the crosswise reading is clearly
		// better and good on both parts — both close spellings, or one
		// agreeing outright (equal, a nickname) and the other close.
		if p1, p2 := crossPart(af, b.last), crossPart(al, b.first); p1 > 0 && p2 > 0 &&
			(p1+p2 >= 3 || JaroWinkler(af, b.last) >= 0.92 && JaroWinkler(al, b.first) >= 0.92) &&
			JaroWinkler(af, b.first)+JaroWinkler(al, b.last) < 1.6 {
			v.crossed = true
		}
	}
	bf, bl := b.first, b.last
	if v.crossed {
		// Which record is written family name first decides which pair
		// the given-name comparison (with its nicknames) judges: where a's
		// given name and b's surname field are nicknames of each other
		// ("John Hill" and "Hill Jack"), b is the one turned round.
		if af != b.last && Nicknames(af, b.last) {
			bf, bl = bl, bf
			v.bSwap = true
		} else {
			af, al = al, af
			v.aSwap = true
		}
	}
	// A lone name part may sit in the wrong field ("bryant" as first name
	// with no surname): compare it with whichever part of the other
	// record it resembles more.
	if (af == "") != (al == "") && bf != "" && bl != "" {
		if one := af + al; nameSim(one, bf) < nameSim(one, bl) && af != "" || nameSim(one, bl) < nameSim(one, bf) && al != "" {
			af, al = al, af
			v.aSwap = true
		}
	} else if (bf == "") != (bl == "") && af != "" && al != "" {
		if one := bf + bl; nameSim(one, af) < nameSim(one, al) && bf != "" || nameSim(one, al) < nameSim(one, af) && bl != "" {
			bf, bl = bl, bf
			v.bSwap = true
		}
	}
	v.lv[cFirst] = firstLevel(af, bf)
	v.lv[cLast] = nameLevel(al, bl)
	if l := v.lv[cLast]; (l == 2 || l == 3) && !v.aSwap && !v.bSwap && secondSurnameDiffers(a, b) {
		v.lv[cLast] = levelDifferent(cLast)
	} else if l > 2 && SurnameVariants(al, bl) {
		// One surname in another romanisation or spelling (Zhang and
		// Chang, Huỳnh and Hoàng, Mueller and Müller): a close spelling.
		v.lv[cLast] = 2
	}
}

// secondSurnameDiffers reports whether a and b both hold two surnames
// (prep.lastCut), read in the same order, whose first agrees and whose
// second is another name, not a misspelling: "Gutiérrez Pérez" and
// "Gutiérrez Reyes" are two families (in Spanish usage the second is the
// mother's), though the joined strings are close.
func secondSurnameDiffers(a, b *prep) bool {
	if a.lastCut == 0 || b.lastCut == 0 {
		return false
	}
	a1, a2 := a.last[:a.lastCut], a.last[a.lastCut:]
	b1, b2 := b.last[:b.lastCut], b.last[b.lastCut:]
	return nameLevel(a1, b1) <= 2 && nameLevel(a2, b2) == 4
}

// crossPart grades one part of a crosswise name reading: 2 when the two
// agree outright (equal or nicknames: "ray" and "raymond"), 1 when they
// are close spellings (Jaro-Winkler ≥ 0.92, one edit from three letters
// on: "cox" and "co", or one a prefix of the other from four letters
// on: a compound surname written in part, "moralessanchez" and
// "morales"), 0 otherwise.
func crossPart(x, y string) int {
	switch {
	case x == y || Nicknames(x, y):
		return 2
	case JaroWinkler(x, y) >= 0.92:
		return 1
	case min(len(x), len(y)) >= 3 && damerauWithin(x, y, 1):
		return 1
	case min(len(x), len(y)) >= 4 && (strings.HasPrefix(x, y) || strings.HasPrefix(y, x)):
		return 1
	case SurnameVariants(x, y):
		return 1 // one family name in two romanisations: Huang and Wong
	}
	return 0
}

// placeLevels fills the address and city levels of v.
func placeLevels(a, b *prep, v *vector) {
	v.lv[cAddress] = addressLevel(a.addr, b.addr)
	v.lv[cCity] = placeLevel(a.city, b.city)
}

// common returns the first value of as that bs also holds, or "".
func common(as, bs []string) string {
	for _, a := range as {
		for _, b := range bs {
			if a == b {
				return a
			}
		}
	}
	return ""
}

// nameSim is Jaro-Winkler with nicknames counted as identical.
func nameSim(a, b string) float64 {
	if a == b || Nicknames(a, b) {
		return 1
	}
	return JaroWinkler(a, b)
}

// tfValue returns the value whose frequency adjusts an exact level of c.
func tfValue(c comp, a *prep, v *vector) string {
	switch c {
	case cFirst:
		if v.aSwap {
			return a.last
		}
		return a.first
	case cLast:
		if v.aSwap {
			return a.first
		}
		return a.last
	case cCity:
		return a.city
	case cPostcode:
		return a.postcode
	case cEmail:
		return v.email
	case cPhone:
		return v.phone
	case cAddress:
		return a.addr
	case cOccupation:
		return a.occupation
	}
	return ""
}

func exactLevel(a, b string) uint8 {
	switch {
	case a == "" || b == "":
		return 0
	case a == b:
		return 1
	}
	return 2
}

// exactLevel8 is exactLevel of values held as one byte, 0 for none.
func exactLevel8(a, b byte) uint8 {
	switch {
	case a == 0 || b == 0:
		return 0
	case a == b:
		return 1
	}
	return 2
}

// FirstNameLevel exposes the first-name comparison for tests and
// explanations: 0 missing, 1 exact, 2 nickname, 3 close, 4 similar,
// 5 initial, 6 different.
func FirstNameLevel(a, b string) int { return int(firstLevel(NormalizeName(a), NormalizeName(b))) }

func firstLevel(a, b string) uint8 {
	switch {
	case a == "" || b == "":
		return 0
	case a == b:
		return 1
	case Nicknames(a, b):
		return 2
	case len(a) == 1 || len(b) == 1:
		if a[0] == b[0] {
			return 5
		}
		return 6
	}
	jw := JaroWinkler(a, b)
	var l uint8 = 6
	switch {
	case jw >= 0.92:
		l = 3
	case jw >= 0.8 || damerauWithin(a, b, nameEdits(a, b)):
		l = 4
	}
	if l < 6 && oppositeSexForms(a, b) {
		return 6 // Michael and Michelle: two names, not a misspelling
	}
	return l
}

// nameEdits is how many edits still make two names a near match: two
// for names of six letters or more, one below — two edits turn a short
// name into another one (Liam and Niamh, Eva and Ida).
func nameEdits(a, b string) int {
	if min(len(a), len(b)) >= 6 {
		return 2
	}
	return 1
}

func nameLevel(a, b string) uint8 {
	switch {
	case a == "" || b == "":
		return 0
	case a == b:
		return 1
	}
	jw := JaroWinkler(a, b)
	switch {
	case jw >= 0.92:
		return 2
	case jw >= 0.8 || damerauWithin(a, b, nameEdits(a, b)):
		return 3
	}
	return 4
}

func middleLevel(a, b string) uint8 {
	switch {
	case a == "" || b == "":
		return 0
	case a == b:
		return 1
	case (len(a) == 1 || len(b) == 1) && a[0] == b[0]:
		return 2
	}
	return 3
}

func dobLevel(as, bs []string) uint8 {
	if len(as) == 0 || len(bs) == 0 {
		return 0
	}
	best := uint8(5)
	for _, a := range as {
		for _, b := range bs {
			if l := dobPair(a, b); l < best {
				best = l
			}
		}
	}
	return best
}

func dobPair(a, b string) uint8 {
	if a == b {
		return 1
	}
	if len(a) == 8 && len(b) == 8 {
		if a[:4] == b[:4] && a[4:6] == b[6:8] && a[6:8] == b[4:6] {
			return 2
		}
	}
	if d := boundedDamerau(a, b, 2); d <= 1 {
		return 3
	} else if d == 2 {
		return 4
	}
	if len(a) == 8 && len(b) == 8 {
		if da, db := dayNumber(a), dayNumber(b); da > 0 && db > 0 && abs(da-db) <= 366 {
			return 4
		}
	}
	return 5
}

// dayNumber is a monotone approximation of days since year 0, enough to
// tell whether two dates are within a year. It returns 0 for non-digits.
func dayNumber(s string) int {
	n := 0
	for i := 0; i < 8; i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0
		}
	}
	y := int(s[0]-'0')*1000 + int(s[1]-'0')*100 + int(s[2]-'0')*10 + int(s[3]-'0')
	m := int(s[4]-'0')*10 + int(s[5]-'0')
	d := int(s[6]-'0')*10 + int(s[7]-'0')
	n = y*372 + m*31 + d
	return n
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

func bestLevel(as, bs []string, f func(a, b string) uint8) uint8 {
	if len(as) == 0 || len(bs) == 0 {
		return 0
	}
	var best uint8 = 255
	for _, a := range as {
		for _, b := range bs {
			if l := f(a, b); l < best {
				best = l
			}
		}
	}
	return best
}

func emailLevel(a, b string) uint8 {
	if a == b {
		return 1
	}
	la, _, _ := strings.Cut(a, "@")
	lb, _, _ := strings.Cut(b, "@")
	if la == lb && len(la) >= 4 {
		return 2
	}
	if damerauWithin(a, b, 1) && !otherInitialLocal(la, lb) {
		return 2
	}
	return 3
}

// otherInitialLocal reports whether local parts la and lb differ only in
// their first letter, the rest (three letters or more) equal: "akhan"
// and "vkhan" name two people, an initial apart, so the addresses are
// "different", not a one-edit typo (decision 0079).
func otherInitialLocal(la, lb string) bool {
	return len(la) == len(lb) && len(la) >= 4 && la[0] != lb[0] && la[1:] == lb[1:]
}

func phoneLevel(a, b string) uint8 {
	if a == b {
		return 1
	}
	if len(a) >= 7 && len(b) >= 7 && a[len(a)-7:] == b[len(b)-7:] || damerauWithin(a, b, 1) {
		return 2
	}
	return 3
}

func nidLevel(a, b string) uint8 {
	switch {
	case a == b:
		return 1
	}
	switch boundedDamerau(a, b, 2) {
	case 1:
		return 2
	case 2:
		return 3
	}
	return 4
}

func docLevel(a, b string) uint8 {
	switch {
	case a == b:
		return 1
	case damerauWithin(a, b, 1):
		return 2
	}
	return 3
}

func addressLevel(a, b string) uint8 {
	switch {
	case a == "" || b == "":
		return 0
	case a == b:
		return 1
	case boundedDamerau(a, b, 2) <= 2: // cheaper than Jaro-Winkler on long strings
		return 2
	case tokenOverlap(a, b) >= 0.5:
		return 3
	}
	return 4
}

// tokenOverlap is |A∩B| / min(|A|,|B|) over space-separated tokens.
func tokenOverlap(a, b string) float64 {
	var ta, tb [16]string
	na, nb := splitInto(a, ta[:]), splitInto(b, tb[:])
	if na == 0 || nb == 0 {
		return 0
	}
	common := 0
	for _, x := range ta[:na] {
		for _, y := range tb[:nb] {
			if x == y {
				common++
				break
			}
		}
	}
	mn := na
	if nb < mn {
		mn = nb
	}
	return float64(common) / float64(mn)
}

func splitInto(s string, dst []string) int {
	n := 0
	for n < len(dst) {
		s = strings.TrimLeft(s, " ")
		if s == "" {
			break
		}
		i := strings.IndexByte(s, ' ')
		if i < 0 {
			dst[n] = s
			n++
			break
		}
		dst[n] = s[:i]
		n++
		s = s[i:]
	}
	return n
}

func placeLevel(a, b string) uint8 {
	switch {
	case a == "" || b == "":
		return 0
	case a == b:
		return 1
	case JaroWinkler(a, b) >= 0.9:
		return 2
	}
	return 3
}

func postcodeLevel(a, b *prep) uint8 {
	switch {
	case a.postcode == "" || b.postcode == "":
		return 0
	case a.postcode == b.postcode:
		return 1
	case damerauWithin(a.postcode, b.postcode, 1):
		return 2
	case a.pcOutLen != 0 && a.outward() == b.outward():
		return 3
	}
	return 4
}
