package identity

import (
	"testing"

	"ucv/profile"
)

func TestFirstNameLevel(t *testing.T) {
	tests := []struct {
		a, b string
		want uint8
	}{
		{"Bob", "Robert", 2},
		{"Robert", "bob", 2},
		{"Peggy", "Margaret", 2},
		{"Ann-Marie", "Annmarie", 1},
		{"Jon", "John", 2},
		{"Katherine", "Katharine", 3},
		{"J", "John", 5},
		{"J.", "Mary", 6},
		{"", "John", 0},
		{"John", "", 0},
		{"John", "Mary", 6},
		// Two edits turn a short name into another name, not a typo of
		// it (Liam and Niamh, Eva and Ida); one edit stays a near match.
		{"Liam", "Niamh", 6},
		{"Eva", "Ida", 6},
		{"Sean", "Sian", 4},
		{"Christopher", "Christpoher", 3},
	}
	for _, tt := range tests {
		if got := firstLevel(NormalizeName(tt.a), NormalizeName(tt.b)); got != tt.want {
			t.Errorf("first name %q vs %q: level %d (%s), want %d (%s)", tt.a, tt.b,
				got, specs[cFirst].levels[got], tt.want, specs[cFirst].levels[tt.want])
		}
	}
}

func TestLastNameLevel(t *testing.T) {
	tests := []struct {
		a, b string
		want uint8
	}{
		{"O'Neil", "ONeil", 1},
		{"Smith", "Smyth", 3},
		{"Harrington", "Harringtom", 2},
		{"Smith", "Jones", 4},
		{"", "Jones", 0},
	}
	for _, tt := range tests {
		if got := nameLevel(NormalizeName(tt.a), NormalizeName(tt.b)); got != tt.want {
			t.Errorf("last name %q vs %q: level %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
}

func TestBirthDateLevel(t *testing.T) {
	tests := []struct {
		name string
		a, b string
		want uint8
	}{
		{"exact", "1980-03-14", "19800314", 1},
		{"day and month transposed", "1980-03-04", "1980-04-03", 2},
		{"ambiguous slashes agree either way", "03/04/1980", "1980-04-03", 1},
		{"year digits transposed", "1989-05-06", "1998-05-06", 3},
		{"one digit typo", "1980-03-14", "1980-03-15", 3},
		{"within a year", "1980-12-30", "1981-02-01", 4},
		{"different", "1950-01-01", "1980-07-23", 5},
		{"missing", "", "1980-07-23", 0},
	}
	for _, tt := range tests {
		got := dobLevel(ParseBirthDate(tt.a, DateAuto), ParseBirthDate(tt.b, DateAuto))
		if got != tt.want {
			t.Errorf("%s: %q vs %q: level %d, want %d", tt.name, tt.a, tt.b, got, tt.want)
		}
	}
}

func TestOtherLevels(t *testing.T) {
	tests := []struct {
		name string
		got  uint8
		want uint8
	}{
		{"nid exact", nidLevel("123456789", "123456789"), 1},
		{"nid transposed digits", nidLevel("123456789", "123457689"), 2},
		{"nid two typos", nidLevel("123456789", "123006789"), 3},
		{"nid different", nidLevel("123456789", "987654321"), 4},
		{"licence 1 edit", docLevel("d1234567", "d1234568"), 2},
		{"email same local part", emailLevel("ann.smith@gmail.com", "ann.smith@yahoo.com"), 2},
		{"email typo", emailLevel("ann@ex.com", "anm@ex.com"), 2},
		{"email typo, initial kept", emailLevel("akhan@gmail.com", "akahn@gmail.com"), 2},
		{"email of another initial", emailLevel("akhan@gmail.com", "vkhan@gmail.com"), 3},
		{"phone same last 7", phoneLevel("+14155550101", "+16505550101"), 2},
		{"address abbreviations", addressLevel(NormalizeAddress("12 Main St."), NormalizeAddress("12 main street")), 1},
		{"address tokens", addressLevel(NormalizeAddress("flat 3 main street"), NormalizeAddress("main street rear")), 3},
		{"address missing", addressLevel("", "x"), 0},
		{"city typo", placeLevel("san francisco", "san fransisco"), 2},
		{"gender missing", exactLevel("", "m"), 0},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s: level %d, want %d", tt.name, tt.got, tt.want)
		}
	}
}

func TestCompareNameOrientation(t *testing.T) {
	rules := profile.DefaultRules()
	mk := func(first, last string) *prep {
		return prepare(Record{ID: first + last, Fields: []Field{{Kind: FirstName, Value: first}, {Kind: LastName, Value: last}}}, rules, "US", DateAuto)
	}
	// first and last swapped
	v := compare(mk("Smith", "Robert"), mk("Robert", "Smith"))
	if v.lv[cFirst] != 1 || v.lv[cLast] != 1 || !v.aSwap {
		t.Errorf("swapped names: levels %d/%d swap %v, want exact/exact swapped", v.lv[cFirst], v.lv[cLast], v.aSwap)
	}
	// a lone surname typed into the first-name field
	v = compare(mk("bryant", ""), mk("walter", "bryant"))
	if v.lv[cFirst] != 0 || v.lv[cLast] != 1 {
		t.Errorf("lone name: levels %d/%d, want missing/exact", v.lv[cFirst], v.lv[cLast])
	}
	// symmetric
	a, b := mk("Ann", "Lee"), mk("Anne", "Leigh")
	if compare(a, b).lv != compare(b, a).lv {
		t.Errorf("compare not symmetric: %v vs %v", compare(a, b).lv, compare(b, a).lv)
	}
}

// TestNameLocalPartFamilyForms: a family's address at two providers
// ("thepetrovs", "morozovfamily") spells the surname of Petrova and
// Morozova, and "kathi56" Katharina's given name (decision 0079), so the
// address says only what the names say.
func TestNameLocalPartFamilyForms(t *testing.T) {
	cfg := withDefaultRules(DefaultConfig())
	pre := func(r Record) *prep { return prepare(r, cfg.Rules, cfg.Region, cfg.DateOrder) }
	for _, c := range []struct{ last, x, y string }{
		{"Petrova", "thepetrovs@proton.me", "thepetrovs@gmail.com"},
		{"Morozova", "morozovfamily@gmail.com", "MOROZOVFAMILY@hotmail.com"},
		{"Lee", "ann.lee@gmail.com", "ann_lee@yahoo.com"},
	} {
		a := pre(rec("a", "first_name", "Anna", "last_name", c.last, "email", c.x))
		b := pre(rec("b", "first_name", "Nastya", "last_name", c.last, "email", c.y))
		if got := nameLocalPart(a, b); got&spellsLast == 0 {
			t.Errorf("%s and %s for %s: spells %b, want the surname", c.x, c.y, c.last, got)
		}
	}
	// A usual variant of the given name is the given name spelt.
	k1 := pre(rec("a", "first_name", "Katharina", "last_name", "Schneider", "email", "kathi56@proton.me"))
	k2 := pre(rec("b", "first_name", "Katharina", "last_name", "Schroeder", "email", "kathi56@icloud.com"))
	if got := nameLocalPart(k1, k2); got&spellsFirst == 0 {
		t.Errorf("kathi56@ at two providers for two Katharinas: spells %b, want the given name", got)
	}
	a := pre(rec("a", "first_name", "Anna", "last_name", "Lee", "email", "thebrowns@gmail.com"))
	b := pre(rec("b", "first_name", "Anna", "last_name", "Lee", "email", "thebrowns@yahoo.com"))
	if got := nameLocalPart(a, b); got != 0 {
		t.Errorf("thebrowns@ for two Lees: spells %b, want nothing", got)
	}
}

// Two surnames whose first agrees and whose second is another name are
// two families, however close the joined strings are; a misspelt second
// surname, one surname left out, or a particle are not (decision 0082).
func TestSecondSurnameDiffers(t *testing.T) {
	cfg := withDefaultRules(DefaultConfig())
	pre := func(last string) *prep {
		return prepare(rec("x", "first_name", "María", "last_name", last), cfg.Rules, cfg.Region, cfg.DateOrder)
	}
	for _, c := range []struct {
		x, y string
		want uint8 // the last-name level
	}{
		{"Gutiérrez Pérez", "Gutiérrez Reyes", levelDifferent(cLast)},
		{"Pérez Gutiérrez", "Perez Vásquez", levelDifferent(cLast)},
		{"Smith-Jones", "Smith Brown", levelDifferent(cLast)},
		{"Gutiérrez Pérez", "Gutierrez Perez", 1},
		{"Gutiérrez Pérez", "Gutiérrez Peres", 2},
		{"De la Cruz Ortiz", "De la Cruz Ortis", 2},
		{"Mc Carthy", "McCarthy", 1},
	} {
		if v := compare(pre(c.x), pre(c.y)); v.lv[cLast] != c.want {
			t.Errorf("%q and %q: last-name level %d, want %d", c.x, c.y, v.lv[cLast], c.want)
		}
	}
	// One surname left out is the partial rules' business, not this one's.
	if secondSurnameDiffers(pre("Gutiérrez Pérez"), pre("Gutiérrez")) {
		t.Error("Gutiérrez Pérez and Gutiérrez: a surname left out counted as another family")
	}
	if got := compoundCut("Mc Carthy", "mccarthy"); got != 0 {
		t.Errorf("compoundCut(Mc Carthy) = %d, want 0 (one surname)", got)
	}
	if got := compoundCut("De la Cruz Ortiz", "delacruzortiz"); got != 8 {
		t.Errorf("compoundCut(De la Cruz Ortiz) = %d, want 8", got)
	}
}

// One surname in two romanisations or spellings compares as a close
// spelling, not as a different name (decision 0083).
func TestSurnameVariants(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want bool
	}{
		{"Zhang", "Chang", true}, {"Huang", "Wong", true}, {"Wang", "Wong", true}, {"Huang", "Wang", false},
		{"Li", "Lee", true}, {"Xu", "Hsu", true}, {"Huỳnh", "Hoàng", true}, {"Park", "Bak", true},
		{"Müller", "Mueller", true}, {"Schröder", "Schroeder", true}, {"Meyer", "Maier", true},
		{"O'Sullivan", "Sullivan", true}, {"MacDonald", "McDonald", true}, {"Byrne", "Burns", true},
		{"Gray", "Grey", true}, {"Smith", "Smyth", false}, {"Samuel", "Samul", true}, {"Olsen", "Nelson", false}, {"McIntosh", "Mackintosh", false},
		{"Lee", "Lee", false}, {"Brown", "Braun", false},
	} {
		if got := SurnameVariants(NormalizeName(c.a), NormalizeName(c.b)); got != c.want {
			t.Errorf("SurnameVariants(%s, %s) = %v, want %v", c.a, c.b, got, c.want)
		}
	}
	cfg := withDefaultRules(DefaultConfig())
	pre := func(first, last string) *prep {
		return prepare(rec("x", "first_name", first, "last_name", last), cfg.Rules, cfg.Region, cfg.DateOrder)
	}
	if v := compare(pre("Wei", "Zhang"), pre("Wei", "Chang")); v.lv[cLast] != 2 {
		t.Errorf("Zhang and Chang: last-name level %d, want 2 (close spelling)", v.lv[cLast])
	}
	if v := compare(pre("Wei", "Zhang"), pre("Wei", "Wang")); v.lv[cLast] != levelDifferent(cLast) {
		t.Errorf("Zhang and Wang: last-name level %d, want different", v.lv[cLast])
	}
}
