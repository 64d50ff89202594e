package identity

import (
	"slices"
	"testing"

	"ucv/profile"
)

// rec builds a record from kind/value pairs.
func rec(id string, kv ...string) Record {
	r := Record{ID: id}
	for i := 0; i+1 < len(kv); i += 2 {
		r.Fields = append(r.Fields, Field{Kind: Kind(kv[i]), Name: kv[i], Value: kv[i+1]})
	}
	return r
}

// resolveSmall loads recs into an index scored by the untrained model
// (what the hub starts with) and returns it.
func resolveSmall(t *testing.T, recs ...Record) *Index {
	t.Helper()
	m, err := Untrained(DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	ix := NewIndex(m)
	if err := ix.Load(recs, nil); err != nil {
		t.Fatal(err)
	}
	return ix
}

func sameCluster(t *testing.T, ix *Index, a, b string) bool {
	t.Helper()
	ca, err := ix.ClusterOf(a)
	if err != nil {
		t.Fatal(err)
	}
	cb, err := ix.ClusterOf(b)
	if err != nil {
		t.Fatal(err)
	}
	return ca.ID == cb.ID
}

func TestConflictingNationalIDsVeto(t *testing.T) {
	common := []string{"full_name", "Ann Lee", "birth_date", "1985-12-03", "email", "ann@example.com",
		"address", "12 Main St, Springfield, IL 62704"}
	a := rec("a", append(common, "national_id", "US:123-45-6789")...)
	b := rec("b", append(common, "national_id", "US:987-65-4321")...)
	ix := resolveSmall(t, a, b)
	if sameCluster(t, ix, "a", "b") {
		t.Fatal("records with different issuer-qualified national ids merged")
	}
	// Different issuers are different documents, not a conflict.
	c := rec("c", append(common, "national_id", "GB:QQ123456C")...)
	ix = resolveSmall(t, a, c)
	if !sameCluster(t, ix, "a", "c") {
		t.Fatal("a US and a GB national id vetoed a merge")
	}
	// A bare number that differs, elsewhere: a namesake.
	d := rec("d", "full_name", "Ann Lee", "birth_date", "1985-12-03", "email", "ann@example.com", "national_id", "555-11-2222",
		"address", "9 Oak Road, Portland, OR 97201")
	e := rec("e", "full_name", "Ann Lee", "birth_date", "1985-12-03", "email", "ann@example.com", "national_id", "123-45-6789",
		"address", "12 Main St, Springfield, IL 62704")
	ix = resolveSmall(t, d, e)
	if sameCluster(t, ix, "d", "e") {
		t.Fatal("namesakes with different national ids merged through a shared e-mail")
	}
	for _, v := range []struct{ in, iss, num string }{
		{"US:123-45-6789", "us", "123456789"}, {"US-CA:D1234567", "us-ca", "d1234567"}, {"123-45-6789", "", "123456789"},
	} {
		if d := parseDoc(v.in); d.issuer != v.iss || d.num != v.num {
			t.Errorf("parseDoc(%q) = %+v", v.in, d)
		}
	}
}

func TestDifferentBirthDatesVeto(t *testing.T) {
	a := rec("a", "first_name", "John", "last_name", "Smith", "birth_date", "1985-12-03", "phone", "+1 650 253 0000")
	b := rec("b", "first_name", "John", "last_name", "Smith", "birth_date", "1962-04-17", "phone", "+1 650 253 0000")
	c := rec("c", "first_name", "John", "last_name", "Smith", "birth_date", "03/12/1985", "phone", "+1 650 253 0000")
	ix := resolveSmall(t, a, b, c)
	if sameCluster(t, ix, "a", "b") {
		t.Fatal("father and son (different birth dates) sharing a phone merged")
	}
	if !sameCluster(t, ix, "a", "c") {
		t.Fatal("a day/month-swapped birth date vetoed a merge")
	}
}

func TestHouseholdSharedEmailStaysApart(t *testing.T) {
	a := rec("a", "first_name", "Ann", "last_name", "Lee", "email", "lees@example.com", "address", "12 Main St, Springfield, IL 62704")
	b := rec("b", "first_name", "Tom", "last_name", "Lee", "email", "lees@example.com", "address", "12 Main Street, Springfield, IL 62704")
	ix := resolveSmall(t, a, b)
	if sameCluster(t, ix, "a", "b") {
		t.Fatal("a household sharing an e-mail merged")
	}
	if rs := ix.Reviews(); len(rs) != 0 {
		t.Fatalf("a vetoed household pair is in review: %+v", rs)
	}
	if e, err := ix.Explain("a", "b"); err != nil || e.Veto != vetoGivenName.String() {
		t.Fatalf("Explain: %v, veto %q", err, e.Veto)
	}
}

// Two short given names two edits apart are two people, not a typo:
// Liam and Niamh on the family e-mail, Lan and Anh at one address.
func TestShortNamesTwoEditsApartStayApart(t *testing.T) {
	for _, p := range [][2]string{{"Liam", "Niamh"}, {"Lan", "Anh"}} {
		a := rec("a", "first_name", p[0], "last_name", "Kelly", "email", "kelly.home@example.com", "address", "3575 Lakeview Circle, Denver, CO 80286")
		b := rec("b", "first_name", p[1], "last_name", "Kelly", "email", "kelly.home@example.com", "address", "3575 Lakeview Cir, Denver, CO 80286")
		ix := resolveSmall(t, a, b)
		if sameCluster(t, ix, "a", "b") {
			t.Errorf("%s and %s on one family e-mail merged", p[0], p[1])
		}
	}
	// A typo of a nickname's formal name still reads as the nickname.
	if !variantClose("tom", "thonas") {
		t.Error("Thonas is not read as Thomas, so Tom")
	}
}

// Given names that differ as spellings do (Michael / Michelle, Luis /
// Lucía) are two people when both records give different sexes: a
// brother and sister at one address.
func TestSimilarNamesOfTwoSexesStayApart(t *testing.T) {
	home := []string{"address", "8343 6th Road, Miami, FL 33137", "email", "lopez.home@example.com"}
	for _, p := range [][2]string{{"Michael", "Michelle"}, {"Luis", "Lucía"}, {"Daniel", "Danielle"}} {
		a := rec("a", append(home, "first_name", p[0], "last_name", "Lopez", "gender", "M")...)
		b := rec("b", append(home, "first_name", p[1], "last_name", "Lopez", "gender", "F")...)
		ix := resolveSmall(t, a, b)
		if e, err := ix.Explain("a", "b"); err != nil || e.Veto != vetoGivenName.String() {
			t.Errorf("%s (M) / %s (F) at one address: veto %q (%v)", p[0], p[1], e.Veto, err)
		}
		// One sex unknown: the names compare as different given names
		// (a masculine and a feminine form, decision 0089), but the
		// household veto stays with the weights when one name is
		// within a misspelling of the other (variantClose): Michael and
		// Michelle, Daniel and Danielle. Luis and Lucía are further.
		c := rec("c", append(home, "first_name", p[1], "last_name", "Lopez")...)
		ix = resolveSmall(t, a, c)
		e, _ := ix.Explain("a", "c")
		if want := map[string]string{"Luis": vetoGivenName.String()}[p[0]]; e.Veto != want {
			t.Errorf("%s / %s without a second sex: veto %q, want %q", p[0], p[1], e.Veto, want)
		}
	}
	// A misspelling is not another name: without a second sex the
	// weights decide, no veto.
	a := rec("a", append(home, "first_name", "Michael", "last_name", "Lopez", "gender", "M")...)
	c := rec("c", append(home, "first_name", "Micheal", "last_name", "Lopez")...)
	if e, _ := resolveSmall(t, a, c).Explain("a", "c"); e.Veto != "" {
		t.Errorf("Michael / Micheal without a second sex vetoed: %q", e.Veto)
	}
	for _, c := range []struct {
		a, b string
		want bool
	}{{"michael", "michelle", true}, {"luis", "lucia", true}, {"michael", "micheal", false}, {"alex", "alexandra", false}, {"john", "joan", false}} {
		if got := oppositeSexForms(c.a, c.b); got != c.want {
			t.Errorf("oppositeSexForms(%s, %s) = %v, want %v", c.a, c.b, got, c.want)
		}
	}
}

// A record with a lone name that differs from the other's name part
// does not merge on a shared landline; with a name that agrees it does.
func TestLoneDifferentNameOnSharedPhoneStaysApart(t *testing.T) {
	mikhail := rec("m", "first_name", "Mikhail", "last_name", "Kuznetsov", "phone", "+1 720 666 0068", "email", "mikhail.kuznetsov@example.com")
	svetlana := rec("s", "full_name", "Svetlana", "phone", "1-720-666-0068")
	ix := resolveSmall(t, mikhail, svetlana)
	if sameCluster(t, ix, "m", "s") {
		t.Fatal("a lone, different given name merged on a shared phone")
	}
	misha := rec("s", "full_name", "Misha", "phone", "1-720-666-0068")
	ix = resolveSmall(t, mikhail, misha)
	if !sameCluster(t, ix, "m", "s") {
		t.Fatal("a lone nickname on the same phone did not merge")
	}
}

// A till receipt that gives only a postcode is placed by it: a
// different given name with the surname of someone in that postcode is
// another member of the family, not that person.
func TestDifferentGivenNameInOnePostcodeStaysApart(t *testing.T) {
	crm := rec("crm", "first_name", "Matthias", "last_name", "Richter", "email", "matthias.richter@example.com",
		"address_line", "9861 Jefferson Blvd", "city", "Austin", "state", "TX", "postcode", "78715")
	pos := rec("pos", "full_name", "Ursula Richter", "phone", "5129091819", "postcode", "78715")
	ix := resolveSmall(t, crm, pos)
	if e, err := ix.Explain("crm", "pos"); err != nil || e.Veto != vetoGivenName.String() {
		t.Fatalf("Matthias and Ursula Richter in one postcode: veto %q (%v)", e.Veto, err)
	}
	same := rec("pos", "full_name", "Matthias Richter", "phone", "5129091819", "postcode", "78715")
	ix = resolveSmall(t, crm, same)
	if e, _ := ix.Explain("crm", "pos"); e.Veto != "" {
		t.Fatalf("one person in one postcode vetoed: %q", e.Veto)
	}
}

// A record marked Sr says a Jr of the same name exists: an unmarked
// record of that name at the address is either of them until a birth
// date or a shared contact point says whose it is.
func TestUnmarkedRecordOfAGenerationHousehold(t *testing.T) {
	home := []string{"address", "3739 Highland Court, Springfield, IL 62752"}
	sr := rec("sr", append(home, "first_name", "Raymond", "last_name", "Jones", "generation", "Sr", "birth_date", "1949-12-17",
		"email", "raymondjones49@example.com", "phone", "+1 217 929 6653")...)
	plain := rec("plain", append(home, "first_name", "Raymond", "last_name", "Jones", "email", "jjones@example.com")...)
	ix := resolveSmall(t, sr, plain)
	if sameCluster(t, ix, "sr", "plain") {
		t.Fatal("an unmarked Raymond Jones at the address joined Raymond Jones Sr on name and address alone")
	}
	dated := rec("plain", append(home, "first_name", "Raymond", "last_name", "Jones", "birth_date", "12/17/1949")...)
	ix = resolveSmall(t, sr, dated)
	if !sameCluster(t, ix, "sr", "plain") {
		t.Fatal("an unmarked record with the Sr's birth date did not join him")
	}
}

func TestGenerationsStayApart(t *testing.T) {
	a := rec("a", "full_name", "John Smith Jr.", "address", "4 Elm St, Salem, OR 97301", "phone", "+1 650 253 0000")
	b := rec("b", "full_name", "John Smith Sr", "address", "4 Elm St, Salem, OR 97301", "phone", "+1 650 253 0000")
	c := rec("c", "first_name", "John", "last_name", "Smith", "generation", "II", "address", "4 Elm Street, Salem, OR 97301")
	ix := resolveSmall(t, a, b, c)
	if sameCluster(t, ix, "a", "b") {
		t.Fatal("Jr and Sr at one address merged")
	}
	if sameCluster(t, ix, "b", "c") {
		t.Fatal("Sr and II merged")
	}
	if !sameCluster(t, ix, "a", "c") {
		t.Fatal("Jr and II (the same generation) did not merge")
	}
	if g := NormalizeGeneration("III"); g != "iii" {
		t.Fatalf("NormalizeGeneration(III) = %q", g)
	}
}

func TestTwinsStayApart(t *testing.T) {
	a := rec("a", "first_name", "Ashley", "last_name", "Jones", "birth_date", "2001-06-15", "address", "7 Pine Rd, Madison, WI 53703", "email", "jonesfamily@example.com")
	b := rec("b", "first_name", "Brittany", "last_name", "Jones", "birth_date", "2001-06-15", "address", "7 Pine Road, Madison, WI 53703", "email", "jonesfamily@example.com")
	ix := resolveSmall(t, a, b)
	if sameCluster(t, ix, "a", "b") {
		t.Fatal("twins sharing surname, birth date, address and e-mail merged")
	}
}

func TestSwappedNamesMatch(t *testing.T) {
	a := rec("a", "first_name", "Lee", "last_name", "Ann", "birth_date", "1985-12-03", "postcode", "62704")
	b := rec("b", "full_name", "Ann Lee", "birth_date", "1985-12-03", "postcode", "62704")
	c := rec("c", "full_name", "LEE, Ann", "birth_date", "1985-12-03", "postcode", "62704")
	ix := resolveSmall(t, a, b, c)
	if !sameCluster(t, ix, "a", "b") || !sameCluster(t, ix, "b", "c") {
		t.Fatalf("swapped names did not match: %+v", ix.Assignments())
	}
}

// Names swapped between the columns and also misspelt or shortened on
// one side are still read crosswise.
func TestSwappedNamesWithVariants(t *testing.T) {
	for _, p := range [][2][2]string{
		{{"Thompson", "Raymond"}, {"Ray", "Thmopson"}},
		{{"Samuel", "Jenkins"}, {"Jenkins", "Sam"}},
		{{"Iyer", "Arjun"}, {"Arjun", "Iyre"}},
		{{"Dolores", "Morales Sánchez"}, {"Morales", "Dolores"}},
	} {
		a := rec("a", "first_name", p[0][0], "last_name", p[0][1], "email", "x@example.com", "postcode", "62704")
		b := rec("b", "first_name", p[1][0], "last_name", p[1][1], "email", "x@example.com", "postcode", "62704")
		ix := resolveSmall(t, a, b)
		e, err := ix.Explain("a", "b")
		if err != nil {
			t.Fatal(err)
		}
		if !e.Swapped || !sameCluster(t, ix, "a", "b") {
			t.Errorf("%v / %v: swapped %v, merged %v: %s", p[0], p[1], e.Swapped, sameCluster(t, ix, "a", "b"), e)
		}
	}
	// Two different people are not read crosswise.
	m, err := Untrained(DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	pa := prepare(rec("a", "first_name", "Ann", "last_name", "Lee"), m.cfg.Rules, m.cfg.Region, m.cfg.DateOrder)
	pb := prepare(rec("b", "first_name", "Lee", "last_name", "Smith"), m.cfg.Rules, m.cfg.Region, m.cfg.DateOrder)
	if v := m.compare(pa, pb); v.aSwap || v.bSwap {
		t.Error("Ann Lee / Lee Smith read crosswise")
	}
}

func TestOrganisationsNeverMergeWithPersons(t *testing.T) {
	org := rec("o", "org_name", "Lee Consulting LLC", "email", "ann@leeconsulting.com", "address", "12 Main St, Springfield, IL 62704")
	person := rec("p", "full_name", "Ann Lee", "email", "ann@leeconsulting.com", "address", "12 Main St, Springfield, IL 62704")
	org2 := rec("q", "org_name", "LEE CONSULTING, L.L.C.", "phone", "+1 650 253 0000", "email", "ann@leeconsulting.com")
	other := rec("r", "org_name", "Smith & Sons Ltd", "email", "ann@leeconsulting.com")
	ix := resolveSmall(t, org, person, org2, other)
	if sameCluster(t, ix, "o", "p") || sameCluster(t, ix, "q", "p") {
		t.Fatal("an organisation merged with a person")
	}
	if !sameCluster(t, ix, "o", "q") {
		t.Fatal("one organisation written two ways did not merge")
	}
	if sameCluster(t, ix, "o", "r") {
		t.Fatal("two different organisations merged")
	}
	for in, want := range map[string]string{
		"ACME, Inc.": "acme", "Acme Incorporated": "acme", "Smith & Sons Ltd": "smith and sons",
		"Müller GmbH": "muller", "Société Générale S.A.": "societe generale", "Foo Pty. Ltd.": "foo",
		"Dupont SARL": "dupont", "Van Dijk B.V.": "van dijk", "Big Corp": "big",
	} {
		if got := NormalizeOrgName(in); got != want {
			t.Errorf("NormalizeOrgName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestCrossCulturalNicknames(t *testing.T) {
	for _, p := range [][2]string{
		{"Aleksandr", "Alexander"}, {"Sasha", "Aleksandr"}, {"José", "Jose"}, {"Pepe", "José"},
		{"Bob", "Robert"}, {"Liz", "Elizabeth"}, {"Paco", "Francisco"}, {"Misha", "Mikhail"},
		{"Giuseppe", "Beppe"}, {"Hans", "Johannes"}, {"Dmitry", "Dima"}, {"Natasha", "Natalia"},
		// Spanish hipocorísticos, Irish anglicised forms, romanisations.
		{"Ricky", "Ricardo"}, {"Eddie", "Eduardo"}, {"Chabela", "Isabel"}, {"Gaby", "Gabriela"},
		{"Aoife", "Eva"}, {"Niamh", "Neve"}, {"Pádraig", "Paddy"}, {"Seán", "Shawn"},
		{"Muhammad", "Mohammed"}, {"Yulia", "Julia"}, {"Günter", "Guenter"}, {"Tuấn", "Tuan"},
		{"Hương", "Huong"}, {"Đức", "Duc"}, {"Stephen", "Steven"}, {"Kathryn", "Catherine"},
	} {
		if l := FirstNameLevel(p[0], p[1]); l > 2 {
			t.Errorf("%s / %s: level %d, want exact or nickname", p[0], p[1], l)
		}
	}
	for _, p := range [][2]string{{"robert", "elizabeth"}, {"alejandro", "alejandra"}, {"aoife", "niamh"}} {
		if Nicknames(p[0], p[1]) {
			t.Errorf("%s and %s are not nicknames", p[0], p[1])
		}
	}
}

// A company written in a person's name column (a POS receipt's "Bryant
// Bakery Corp.") is the company's record: it matches the company's CRM
// record and never merges with its owner.
func TestOrganisationInNameField(t *testing.T) {
	for in, want := range map[string]bool{
		"Bryant Bakery Corp.": true, "MERIDIAN LANDSCAPING L.L.C.": true, "Evergreen Realty Co.": true,
		"Gupta Veterinary Clinic & Sons": true, "Walker Cleaning Services Group": true, "Acme Inc": true,
		"Ann Co": false, "Ann Lee": false, "Group": false, "Mary Company": false, "W.H.L. Company": false, "Skeen & Company": true, "Lee Sons": false,
		// A trade ending the name, no legal form.
		"Romero Accounting": true, "Joe's Plumbing": true, "Golden Gate Veterinary Clinic": true, "Meridian Roofing": true,
		"Plumbing": false, "John Law": false, "Mary Baker": false, "Tom Cook": false,
	} {
		if got := OrgInName(in); got != want {
			t.Errorf("OrgInName(%q) = %v, want %v", in, got, want)
		}
	}
	org := rec("o", "org_name", "Bryant Bakery Corp.", "email", "sales@bryantbakery.com", "phone", "(864) 350-5579", "postcode", "27641")
	pos := rec("p", "full_name", "Bryant Bakery Corp.", "phone", "8643505579", "postcode", "27641")
	owner := rec("q", "full_name", "Ann Bryant", "phone", "(864) 350-5579", "postcode", "27641")
	cols := rec("c", "first_name", "Bryant", "last_name", "Bakery Corp", "email", "sales@bryantbakery.com")
	ix := resolveSmall(t, org, pos, owner, cols)
	if !sameCluster(t, ix, "o", "p") || !sameCluster(t, ix, "o", "c") {
		t.Fatalf("a company written in the name columns did not match its record: %v", ix.Assignments())
	}
	if sameCluster(t, ix, "q", "o") || sameCluster(t, ix, "q", "p") {
		t.Fatal("an organisation merged with a person")
	}
}

func TestDisplayNameEmail(t *testing.T) {
	rules := profile.DefaultRules()
	a := rec("a", "email", `"Ann Lee" <Ann@Example.com>`).Identifiers(rules, "US")
	b := rec("b", "email", "ann@example.com").Identifiers(rules, "US")
	if len(a) != 1 || len(b) != 1 || a[0] != b[0] {
		t.Fatalf("display-name e-mail %v, plain %v", a, b)
	}
	ix := resolveSmall(t, rec("a", "full_name", "Ann Lee", "email", `"Ann Lee" <ann@example.com>`), rec("b", "full_name", "Ann Lee", "email", "ann@example.com"))
	if !sameCluster(t, ix, "a", "b") {
		t.Fatal("a display-name e-mail did not match its plain form")
	}
}

func TestPhonesWithAndWithoutCountryCode(t *testing.T) {
	rules := profile.DefaultRules()
	pa := prepare(rec("a", "phone", "+1 (650) 253-0000"), rules, "US", DateAuto)
	pb := prepare(rec("b", "phone", "650.253.0000"), rules, "US", DateAuto)
	if v := compare(pa, pb); v.lv[cPhone] != 1 {
		t.Fatalf("+1 and national form: level %d, want exact", v.lv[cPhone])
	}
	// A foreign number written nationally under the default region
	// cannot be read; its digits still meet the international form.
	pc := prepare(rec("c", "phone", "+44 20 7946 0958"), rules, "US", DateAuto)
	pd := prepare(rec("d", "phone", "020 7946 0958"), rules, "US", DateAuto)
	if v := compare(pc, pd); v.lv[cPhone] != 2 {
		t.Fatalf("+44 and national form: level %d, want 2 (same last 7 digits)", v.lv[cPhone])
	}
}

func TestBirthDateFormats(t *testing.T) {
	for _, in := range []string{"1985-12-03", "19851203", "Dec 3 1985", "3 Dec 1985", "December 3, 1985", "1985 Dec 3"} {
		got := ParseBirthDate(in, DateMDY)
		if len(got) != 1 || got[0] != "19851203" {
			t.Errorf("ParseBirthDate(%q) = %v", in, got)
		}
	}
	// A two-digit year is either century: the comparison takes the one
	// that agrees ("11/7/10" is a child's 2010 as often as 1910).
	for _, in := range []string{"3-Dec-85", "12/3/85"} {
		if got := ParseBirthDate(in, DateMDY); !slices.Equal(got, []string{"19851203", "20851203"}) {
			t.Errorf("ParseBirthDate(%q) = %v, want both centuries", in, got)
		}
	}
	if got := ParseBirthDate("11/7/10", DateAuto); !slices.Equal(got, []string{"19100711", "19101107", "20100711", "20101107"}) {
		t.Errorf("ParseBirthDate(11/7/10) = %v, want both orders in both centuries", got)
	}
	if l := dobLevel(ParseBirthDate("11/7/10", DateMDY), ParseBirthDate("2010-11-07", DateMDY)); l != 1 {
		t.Errorf("11/7/10 ~ 2010-11-07: level %d, want exact", l)
	}
	if l := dobLevel([]string{"19851203"}, []string{"19850312"}); l != 2 {
		t.Errorf("day/month swap level %d, want 2", l)
	}
}

func TestOneLineAddressSplit(t *testing.T) {
	rules := profile.DefaultRules()
	a := prepare(rec("a", "address", "12 Main St Apt 4, Springfield, IL 62704"), rules, "US", DateAuto)
	b := prepare(rec("b", "address_line", "12 Main Street", "address_line", "Apt 4", "city", "Springfield", "state", "IL", "postcode", "62704"), rules, "US", DateAuto)
	if a.streetNo != "12" || a.city != "springfield" || a.state != "il" || a.postcode != "62704" || a.addr != b.addr {
		t.Fatalf("one line %+v, fields %+v", *a, *b)
	}
	uk := splitOneLine("Flat 2, 10 Downing Street, London, SW1A 2AA")
	if uk.postcode != "SW1A 2AA" || uk.city != "London" || uk.street != "10 Downing Street Flat 2" {
		t.Fatalf("UK one-line address: %+v", uk)
	}
	// A unit in a segment of its own stays with the street.
	for _, s := range []string{"12 Main St, Apt 4, Springfield, IL 62704", "Apt 4, 12 Main St, Springfield, IL 62704"} {
		c := prepare(rec("c", "address", s), rules, "US", DateAuto)
		if c.city != "springfield" || c.state != "il" || c.postcode != "62704" || c.addr != a.addr {
			t.Errorf("%q: city %q state %q postcode %q street %q; want springfield, il, 62704, %q", s, c.city, c.state, c.postcode, c.addr, a.addr)
		}
	}
	if c := prepare(rec("c", "address", "12 Main St, #4, Springfield, IL 62704"), rules, "US", DateAuto); c.city != "springfield" || c.addr != "main street 4" {
		t.Errorf("a #-unit segment: city %q street %q", c.city, c.addr)
	}
}

func TestFrequentEmailIsWeakEvidence(t *testing.T) {
	var recs []Record
	for i := range 60 {
		recs = append(recs, rec(pid("s", i), "first_name", firstNames[i%len(firstNames)], "last_name", lastNames[i%len(lastNames)],
			"email", "shared@example.com"))
		recs = append(recs, rec(pid("u", i), "first_name", firstNames[(i+3)%len(firstNames)], "last_name", lastNames[(i+5)%len(lastNames)],
			"email", pid("user", i)+"@example.com"))
	}
	cfg := DefaultConfig()
	cfg.RandomPairs = 5000
	m, err := Train(recs, cfg)
	if err != nil {
		t.Fatal(err)
	}
	rules := profile.DefaultRules()
	shared := prepare(rec("x", "email", "shared@example.com"), rules, "US", DateAuto)
	unique := prepare(rec("y", "email", "user7@example.com"), rules, "US", DateAuto)
	vs, vu := compare(shared, shared), compare(unique, unique)
	ws, wu := m.levelWeight(cEmail, shared, &vs), m.levelWeight(cEmail, unique, &vu)
	if !(ws < 1 && ws < wu-1) {
		t.Fatalf("exact e-mail weight: shared by 60 records %.2f, unique %.2f; want the shared one weaker", ws, wu)
	}
}

func pid(p string, i int) string { return p + string(rune('a'+i/26)) + string(rune('a'+i%26)) }

func TestTransitiveChainingGuard(t *testing.T) {
	// a and c conflict (different national ids); b links to both by
	// shared e-mails. b may join one of them, never both.
	a := rec("a", "full_name", "John Smith", "national_id", "US:111-22-3333", "email", "js1@example.com")
	b := rec("b", "full_name", "John Smith", "email", "js1@example.com", "email", "js2@example.com")
	c := rec("c", "full_name", "John Smith", "national_id", "US:999-88-7777", "email", "js2@example.com")
	ix := resolveSmall(t, a, b, c)
	if sameCluster(t, ix, "a", "c") {
		t.Fatal("a chain through b merged two conflicting records")
	}
	rs := ix.ReviewCandidates()
	if len(rs) != 1 || rs[0].Conflict != vetoNationalID.String() || rs[0].ConflictA == "" || rs[0].ConflictB == "" {
		t.Fatalf("review candidates %+v, want the refused link with its conflict", rs)
	}
	// Accepting it would join a and c, who can never be one person: the
	// vetoed cross pair holds the clusters' probability below
	// ReviewMinProbability, so it is not put to a steward (decision 0048).
	if q := ix.Reviews(); len(q) != 0 {
		t.Fatalf("review queue %+v, want no item for clusters that conflict", q)
	}
}

// A model written before e-mail, phone and address had term-frequency
// tables (they are empty in its encoding) still loads and scores those
// comparisons by their level weights.
func TestModelWithoutContactTermFrequenciesLoads(t *testing.T) {
	recs := []Record{
		rec("a", "full_name", "Ann Lee", "email", "ann@example.com", "address", "1 Main St"),
		rec("b", "full_name", "Ann Lee", "email", "ann@example.com", "address", "1 Main St"),
		rec("c", "full_name", "Tom Ray", "email", "tom@example.com", "address", "2 Oak Rd"),
	}
	cfg := DefaultConfig()
	cfg.RandomPairs = 1000
	m, err := Train(recs, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if m.tf[cEmail] == nil {
		t.Fatal("no e-mail term frequencies trained")
	}
	old := *m
	old.tf[cEmail], old.tf[cPhone], old.tf[cAddress] = nil, nil, nil
	b, err := old.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	got, err := Unmarshal(b)
	if err != nil {
		t.Fatalf("old-style model does not load: %v", err)
	}
	pa := prepare(recs[0], got.cfg.Rules, "US", DateAuto)
	v := compare(pa, pa)
	if w := got.levelWeight(cEmail, pa, &v); w != got.w[cEmail][1] {
		t.Fatalf("exact e-mail weight %v, want the level weight %v", w, got.w[cEmail][1])
	}
}

// TestVetoSymmetric: the veto of (a, b) is the veto of (b, a) for every
// pair of the hand-written records above, so clusters cannot depend on
// which record came first.
func TestVetoSymmetric(t *testing.T) {
	rules := profile.DefaultRules()
	recs := []Record{
		rec("1", "full_name", "Ann Lee", "birth_date", "1985-12-03", "national_id", "US:123-45-6789", "address", "12 Main St, Springfield, IL 62704"),
		rec("2", "first_name", "Lee", "last_name", "Ann", "birth_date", "1962-04-17", "national_id", "987654321", "postcode", "62704"),
		rec("3", "full_name", "Tom Lee Jr", "email", "lees@example.com", "address", "12 Main Street, Springfield, IL 62704"),
		rec("4", "org_name", "Lee Consulting LLC", "email", "lees@example.com"),
		rec("5", "first_name", "Thonas", "last_name", "Lee", "generation", "Sr", "email", "lees@example.com", "birth_date", "1985-12-03"),
		rec("6", "first_name", "Ann", "middle_name", "Tom", "last_name", "Leigh", "passport", "GB:123456789"),
	}
	ps := make([]*prep, len(recs))
	for i, r := range recs {
		ps[i] = prepare(r, rules, "US", DateAuto)
	}
	for _, a := range ps {
		for _, b := range ps {
			if x, y := vetoOf(a, b), vetoOf(b, a); x != y {
				t.Errorf("veto(%s,%s) = %q, veto(%s,%s) = %q", a.id, b.id, x, b.id, a.id, y)
			}
		}
	}
}
