package identity

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	hid "ucv/hub/identity"
)

// The published customers data set: GenerateCustomers(CustomersSeed,
// CustomersHouseholds). Changing either changes the published statistics
// and scores (bench/README.md, docs/decisions/0043).
const (
	CustomersSeed       = 20261202
	CustomersHouseholds = 10000
)

// Sources of the customers data set, in row order.
const (
	SourceCRM     = "crm"
	SourcePOS     = "pos"
	SourceWeb     = "web"
	SourceSupport = "support"
)

// Record-level phenomena (CustomerRow.Tags).
const (
	TagNickname         = "nickname"            // Bob for Robert, Sasha for Aleksandr, Pepe for José
	TagNameSpelling     = "name_spelling"       // Alexander for Aleksandr, Jose for José, Juergen for Jürgen
	TagSurnameVariant   = "surname_variant"     // Mueller for Müller, O'Neil for O'Neill
	TagSurnamePartial   = "surname_partial"     // García for García López
	TagNameSwap         = "name_swap"           // given and family name exchanged
	TagNameTypo         = "name_typo"           // one edit in a name
	TagFirstNameOnly    = "first_name_only"     // "Ann" in a support ticket
	TagGenerationMarked = "generation_marked"   // Jr/Sr/III written in this record
	TagOldAddress       = "old_address"         // a mover's record at the previous address
	TagOldPhone         = "old_phone"           // a mover's record with the previous phone
	TagAddressOneLine   = "address_one_line"    // "12 Oak St, Salem, OR 97301" in one column
	TagAddressAbbrev    = "address_abbrev"      // St for Street
	TagAddressTypo      = "address_typo"        // one edit in the street name
	TagEmailDisplay     = "email_display_name"  // "Ann Lee" <ann@example.com>
	TagEmailUpper       = "email_upper"         // ANN@EXAMPLE.COM
	TagEmailTypo        = "email_typo"          // one edit in the local part
	TagEmailWork        = "email_work"          // the person's second (work) address
	TagSharedEmail      = "shared_email"        // the household's family e-mail
	TagSharedPhone      = "shared_phone"        // the household's landline
	TagPhoneCC          = "phone_with_cc"       // +1 written on a US number
	TagPhoneForeign     = "phone_foreign"       // a non-US number with its country code
	TagPhoneForeignNoCC = "phone_foreign_no_cc" // a non-US number written nationally
	TagDOBShortYear     = "dob_short_year"      // 12/3/85
	TagDOBText          = "dob_text"            // Dec 3 1985, December 3, 1985
	TagDOBISO           = "dob_iso"             // 1985-12-03
	TagDOBSwap          = "dob_day_month_swap"  // 3/12/1985 for December 3
	TagDOBTypo          = "dob_typo"            // one digit wrong
	TagOrgNameVariant   = "org_name_variant"    // L.L.C. for LLC, case, "The"
	TagOrgInNameField   = "org_in_name_field"   // a company written in full_name
	TagMissingName      = "missing_name"
	TagMissingEmail     = "missing_email"
	TagMissingPhone     = "missing_phone"
	TagMissingDOB       = "missing_dob"
	TagMissingAddress   = "missing_address"
)

// Column is one raw value of a generated row.
type Column struct{ Name, Value string }

// CustomerRow is one generated source row with its truth.
type CustomerRow struct {
	ID      string // "crm-000123": source and a running number
	Source  string
	Entity  string // the true person or organisation
	Columns []Column
	// Tags are the row's phenomena (Tag*), in a fixed order.
	Tags []string
}

// Value returns the value of column name ("" when absent).
func (r CustomerRow) Value(name string) string {
	for _, c := range r.Columns {
		if c.Name == name {
			return c.Value
		}
	}
	return ""
}

// CustomerEntity is one true person or organisation and its relations.
type CustomerEntity struct {
	ID  string
	Org bool
	// Name is the canonical name: "Given Family" of a person, the
	// organisation's registered name.
	Name string
	// Household is the household ID of a person (or of a home business's
	// owner); "" for a business with its own premises.
	Household string
	// Twin, Generation (the Jr/Sr counterpart) and Owner (of a home
	// business) name related entities; "" when none.
	Twin, Generation, Owner string
	Moved                   bool
	// SharedEmail and SharedPhone say the entity's rows may carry the
	// household's family e-mail or landline (or, for a business, its
	// owner's e-mail or phone).
	SharedEmail, SharedPhone bool
	// Building is set for households in a multi-unit building: other
	// households share the street address with another unit number.
	Building string
}

// CustomerData is a generated customer data set: rows from four sources
// and the truth about every entity.
type CustomerData struct {
	Seed       uint64
	Rows       []CustomerRow
	Entities   []CustomerEntity
	Households int
	Names      NamePools
	byID       map[string]int
}

// Entity returns the entity with ID id.
func (d *CustomerData) Entity(id string) (CustomerEntity, bool) {
	i, ok := d.byID[id]
	if !ok {
		return CustomerEntity{}, false
	}
	return d.Entities[i], true
}

// CustomersMap is the column mapping of the customers data set: column →
// kind name, as a user would pass to `ucv resolve --map`. Kinds that
// hub/identity.ParseKind does not accept (org_name and generation before
// they exist) are left out by Records.
var CustomersMap = map[string]string{
	"first_name": "first_name", "middle_name": "middle_name", "last_name": "last_name",
	"full_name": "full_name", "generation": "generation", "org_name": "org_name",
	"birth_date": "birth_date", "gender": "gender", "email": "email", "phone": "phone",
	"street": "address_line", "address": "address", "city": "city", "state": "state",
	"postcode": "postcode",
}

// Records turns the rows into hub/identity records under mapping
// (column → kind name; nil means CustomersMap). Columns whose kind
// ParseKind rejects are skipped and returned in skipped (sorted), so the
// same code runs before and after hub/identity learns a kind.
func (d *CustomerData) Records(mapping map[string]string) (recs []hid.Record, skipped []string) {
	if mapping == nil {
		mapping = CustomersMap
	}
	kinds := map[string]hid.Kind{}
	for col, name := range mapping {
		k, err := hid.ParseKind(name)
		if err != nil {
			skipped = append(skipped, col)
			continue
		}
		kinds[col] = k
	}
	sort.Strings(skipped)
	recs = make([]hid.Record, len(d.Rows))
	for i, row := range d.Rows {
		r := hid.Record{ID: row.ID}
		for _, c := range row.Columns {
			if k, ok := kinds[c.Name]; ok && c.Value != "" {
				r.Fields = append(r.Fields, hid.Field{Kind: k, Name: c.Name, Value: c.Value})
			}
		}
		recs[i] = r
	}
	return recs, skipped
}

// Dataset returns the data set scored by Run, mapped with CustomersMap.
func (d *CustomerData) Dataset(name string) Dataset {
	recs, _ := d.Records(nil)
	ds := Dataset{Name: name, Records: recs, Entity: make(map[string]string, len(d.Rows)),
		Source: make(map[string]string, len(d.Rows)), Customers: d}
	for _, r := range d.Rows {
		ds.Entity[r.ID] = r.Entity
		ds.Source[r.ID] = r.Source
	}
	return ds
}

// crng is splitmix64: deterministic, fast, and the same everywhere.
type crng struct{ s uint64 }

func (r *crng) next() uint64 {
	r.s += 0x9e3779b97f4a7c15
	z := r.s
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// n returns a number in [0, k).
func (r *crng) n(k int) int { return int(r.next() % uint64(k)) }

// p is true with probability percent/100.
func (r *crng) p(percent int) bool { return r.n(1000) < percent*10 }

func (r *crng) pick(v []string) string { return v[r.n(len(v))] }

type caddr struct {
	num         int
	street, apt string
	typ, place  int
	zip         string
}

type cphone struct{ cc, nsn string } // cc "1" for US numbers

type cperson struct {
	idx     int // index into CustomerData.Entities
	cult    *culture
	female  bool
	given   nameGroup
	middle  string
	surname []string // variants of the family name
	second  string   // second family name (Hispanic double surname)
	suffix  string
	y, m, d int
	emails  []string // own: personal, maybe work
	mobile  *cphone
	oldMob  *cphone
	home    *caddr
	old     *caddr
	hhEmail string
	hhPhone *cphone
}

type corg struct {
	idx   int
	names []string // written variants, [0] canonical
	email string
	phone *cphone
	addr  *caddr
}

type cgen struct {
	r       crng
	names   NamePools
	heads   map[*culture]*cheads // realistic draws: the heads' Zipf tables
	data    *CustomerData
	people  []*cperson
	orgs    []*corg
	emails  map[string]bool
	phones  map[string]bool
	seq     map[string]int
	cultSum int
}

// NamePools says how the generator draws names (decision 0092).
type NamePools int

const (
	// NamesDense draws only each culture's listed names, uniformly: most
	// customers share their name with another (88 % of persons in the
	// published set). The "customers" set, as published since
	// 2026-12-02.
	NamesDense NamePools = iota
	// NamesRealistic draws the listed names with Zipf-like weights for a
	// share of each culture's people and the rest from a long tail
	// (names_tail.go): namesakes about as common as FEBRL's real name
	// frequencies make them. The "customers-realistic" set.
	NamesRealistic
)

// String is the pools' name as the bench flags spell it.
func (n NamePools) String() string {
	if n == NamesRealistic {
		return "realistic"
	}
	return "dense"
}

// ParseNamePools reads a NamePools as String spells it.
func ParseNamePools(s string) (NamePools, error) {
	switch s {
	case "dense":
		return NamesDense, nil
	case "realistic":
		return NamesRealistic, nil
	}
	return 0, fmt.Errorf("name pools %q: want dense or realistic", s)
}

// cheads are one culture's Zipf tables for realistic draws.
type cheads struct{ sur, male, female zipf }

// GenerateCustomers returns a customer data set of the given number of
// households (about 3.3 rows each, plus businesses), its names drawn
// from the dense pools, deterministic for seed: the same seed and size
// give the same rows on every machine.
func GenerateCustomers(seed uint64, households int) *CustomerData {
	return GenerateCustomersWith(seed, households, NamesDense)
}

// GenerateCustomersWith is GenerateCustomers with the given name pools.
func GenerateCustomersWith(seed uint64, households int, names NamePools) *CustomerData {
	g := &cgen{r: crng{s: seed}, data: &CustomerData{Seed: seed, Households: households, Names: names, byID: map[string]int{}},
		emails: map[string]bool{}, phones: map[string]bool{}, seq: map[string]int{}, names: names,
		heads: map[*culture]*cheads{}}
	for i := range cultures {
		c := &cultures[i]
		g.cultSum += c.weight
		g.heads[c] = &cheads{sur: newZipf(len(c.surnames), surZipfOffset),
			male: newZipf(len(c.male), givenZipfOffset), female: newZipf(len(c.female), givenZipfOffset)}
	}
	var building *caddr
	for h := 0; h < households; h++ {
		hid := fmt.Sprintf("h%05d", h)
		home := g.address()
		bname := ""
		if g.r.p(12) { // multi-unit building: share the street address with the previous one
			if building != nil && g.r.p(60) {
				b := *building
				home = &b
			} else {
				building = home
			}
			home.apt = strconv.Itoa(1+g.r.n(20)) + string(rune('A'+g.r.n(6)))
			bname = fmt.Sprintf("b%d-%s", building.num, building.street)
		}
		g.household(hid, home, bname)
	}
	nOrgs := households * 6 / 100
	for i := 0; i < nOrgs; i++ {
		g.org()
	}
	for _, p := range g.people {
		g.personRows(p)
	}
	for _, o := range g.orgs {
		g.orgRows(o)
	}
	// Rows ordered by ID: source then number (IDs are zero-padded).
	sort.Slice(g.data.Rows, func(i, j int) bool { return g.data.Rows[i].ID < g.data.Rows[j].ID })
	for i, e := range g.data.Entities {
		g.data.byID[e.ID] = i
	}
	return g.data
}

// entity adds an entity and returns its index.
func (g *cgen) entity(org bool, household string) int {
	n := len(g.data.Entities)
	prefix := "p"
	if org {
		prefix = "o"
	}
	g.data.Entities = append(g.data.Entities, CustomerEntity{ID: fmt.Sprintf("%s%06d", prefix, n), Org: org, Household: household})
	return n
}

// ent returns entity i; the pointer is valid until the next entity call.
func (g *cgen) ent(i int) *CustomerEntity { return &g.data.Entities[i] }

func (g *cgen) culture() *culture {
	k := g.r.n(g.cultSum)
	for i := range cultures {
		if k < cultures[i].weight {
			return &cultures[i]
		}
		k -= cultures[i].weight
	}
	return &cultures[0]
}

func (g *cgen) address() *caddr {
	pl := g.r.n(len(places))
	return &caddr{num: 1 + g.r.n(9899), street: g.r.pick(streetNames), typ: g.r.n(len(streetTypes)),
		place: pl, zip: places[pl].zip + fmt.Sprintf("%02d", g.r.n(100))}
}

// household creates the people of one household.
func (g *cgen) household(hid string, home *caddr, building string) {
	cult := g.culture()
	surname := g.surname(cult)
	var members []*cperson
	add := func(c *culture, sur []string, female bool, age [2]int) *cperson {
		p := g.person(hid, c, sur, female, age, home)
		// No two members of a household bear one name: parents do not
		// give two children one name, and a son named after his father
		// is the Jr/Sr case below, which sets the name itself
		// (decision 0068).
		for sharesName(members, p) {
			p.given = g.given(c, female)
		}
		members = append(members, p)
		return p
	}
	adultAge := [2]int{25, 80}
	roll := g.r.n(100)
	switch {
	case roll < 33: // single
		add(cult, surname, g.r.p(50), [2]int{18, 90})
	case roll < 55: // couple
		a := add(cult, surname, false, adultAge)
		c2, s2 := cult, surname
		if g.r.p(30) { // kept her name, or a mixed couple
			c2 = g.culture()
			s2 = g.surname(c2)
		}
		b := add(c2, s2, true, adultAge)
		b.y = a.y + g.r.n(9) - 4
	case roll < 80: // family: couple and adult children
		a := add(cult, surname, false, [2]int{45, 80})
		b := add(cult, surname, true, [2]int{45, 80})
		b.y = a.y + g.r.n(7) - 3
		for k := 1 + g.r.n(3); k > 0; k-- {
			c := add(cult, surname, g.r.p(50), [2]int{18, 30})
			c.y = a.y + 22 + g.r.n(14)
		}
	case roll < 86: // Jr and Sr at one address
		sr := add(cult, surname, false, [2]int{50, 85})
		if g.r.p(60) {
			m := add(cult, surname, true, [2]int{50, 85})
			m.y = sr.y + g.r.n(7) - 3
		}
		jr := add(cult, surname, false, [2]int{18, 30})
		jr.y = sr.y + 20 + g.r.n(16)
		jr.given = sr.given
		jr.middle = sr.middle
		switch g.r.n(4) {
		case 0:
			sr.suffix, jr.suffix = "Jr", "III"
		default:
			sr.suffix, jr.suffix = "Sr", "Jr"
		}
		g.ent(sr.idx).Generation, g.ent(jr.idx).Generation = g.ent(jr.idx).ID, g.ent(sr.idx).ID
	case roll < 90: // twins, and a parent
		if g.r.p(70) {
			add(cult, surname, g.r.p(50), [2]int{45, 80})
		}
		a := add(cult, surname, g.r.p(50), [2]int{18, 40})
		b := add(cult, surname, g.r.p(50), [2]int{18, 40})
		b.y, b.m, b.d = a.y, a.m, a.d
		for b.given.formal == a.given.formal {
			b.given = g.given(b.cult, b.female)
		}
		if g.r.p(50) { // twins often share a middle name or an initial
			b.middle = a.middle
		}
		g.ent(a.idx).Twin, g.ent(b.idx).Twin = g.ent(b.idx).ID, g.ent(a.idx).ID
	case roll < 96: // unrelated housemates
		for k := 2 + g.r.n(2); k > 0; k-- {
			c := g.culture()
			add(c, g.surname(c), g.r.p(50), [2]int{20, 45})
		}
	default: // single parent and adult child
		a := add(cult, surname, g.r.p(70), [2]int{40, 75})
		c := add(cult, surname, g.r.p(50), [2]int{18, 30})
		c.y = a.y + 20 + g.r.n(15)
	}
	for _, p := range members {
		e := g.ent(p.idx)
		e.Building = building
		e.Name = p.given.formal + " " + p.surname[0]
	}
	if len(members) > 1 {
		related := !(roll >= 90 && roll < 96)
		if related && g.r.p(30) { // family e-mail
			email := g.uniqueEmail(g.familyLocal(members[0]), g.r.pick(emailDomains))
			for _, p := range members {
				p.hhEmail = email
				g.ent(p.idx).SharedEmail = true
				if len(p.emails) > 0 && g.r.p(40) { // only the family address
					p.emails = nil
				}
			}
		}
		if g.r.p(45) { // landline
			ph := g.usPhone(home.place)
			for _, p := range members {
				p.hhPhone = ph
				g.ent(p.idx).SharedPhone = true
			}
		}
	} else if g.r.p(10) {
		members[0].hhPhone = g.usPhone(home.place)
	}
}

// sharesName reports whether p's given and family name are those of one
// of members.
func sharesName(members []*cperson, p *cperson) bool {
	for _, m := range members {
		if m.given.formal == p.given.formal && m.surname[0] == p.surname[0] {
			return true
		}
	}
	return false
}

func (g *cgen) given(c *culture, female bool) nameGroup {
	if g.names == NamesDense {
		if female {
			return c.female[g.r.n(len(c.female))]
		}
		return c.male[g.r.n(len(c.male))]
	}
	t, h := tails[c.name], g.heads[c]
	tail, z, head := t.male, h.male, c.male
	if female {
		tail, z, head = t.female, h.female, c.female
	}
	if g.r.p(t.givenHead) || len(tail)+len(t.givenA)*len(t.givenB) == 0 {
		return head[z.draw(&g.r)]
	}
	v := spellings(g.tailName(tail, t.givenA, t.givenB))
	return nameGroup{formal: v[0], spell: v[1:]}
}

// surname draws a family name of culture c: its spellings, the
// canonical one first.
func (g *cgen) surname(c *culture) []string {
	if g.names == NamesDense {
		return c.surnames[g.r.n(len(c.surnames))]
	}
	t := tails[c.name]
	if g.r.p(t.surHead) || len(t.surnames)+len(t.surA)*len(t.surB) == 0 {
		return c.surnames[g.heads[c].sur.draw(&g.r)]
	}
	return spellings(g.tailName(t.surnames, t.surA, t.surB))
}

// tailName draws uniformly among the listed names and the compositions
// a × b (caller checks there is at least one).
func (g *cgen) tailName(listed, a, b []string) string {
	k := g.r.n(len(listed) + len(a)*len(b))
	if k < len(listed) {
		return listed[k]
	}
	k -= len(listed)
	return a[k/len(b)] + b[k%len(b)]
}

func (g *cgen) person(hid string, c *culture, sur []string, female bool, age [2]int, home *caddr) *cperson {
	p := &cperson{idx: g.entity(false, hid), cult: c, female: female, surname: sur, home: home,
		y: 2026 - age[0] - g.r.n(age[1]-age[0]+1), m: 1 + g.r.n(12), d: 1 + g.r.n(28)}
	p.given = g.given(c, female)
	if c.name == "russian" && female {
		p.surname = make([]string, len(sur))
		for i, v := range sur {
			p.surname[i] = v + "a"
		}
	}
	if c.name == "hispanic" && g.r.p(40) {
		p.second = g.surname(c)[0]
	}
	if g.r.p(45) {
		p.middle = g.given(&cultures[0], g.r.p(50)).formal
	}
	if g.r.p(90) {
		p.emails = append(p.emails, g.uniqueEmail(g.personalLocal(p), g.r.pick(emailDomains)))
	}
	if g.r.p(15) {
		p.emails = append(p.emails, g.uniqueEmail(strings.ToLower(fold(p.given.formal)[:1]+fold(p.surname[0])), "corp-"+strconv.Itoa(g.r.n(500))+".com"))
	}
	if g.r.p(88) {
		if c.phone != "" && g.r.p(40) {
			p.mobile = g.foreignPhone(c.phone, home.place)
		} else {
			p.mobile = g.usPhone(home.place)
		}
	}
	if g.r.p(9) { // moved: records at the previous address, some with the old phone
		p.old = g.address()
		g.ent(p.idx).Moved = true
		if p.mobile != nil && g.r.p(30) {
			p.oldMob = g.usPhone(p.old.place)
		}
	}
	g.people = append(g.people, p)
	return p
}

func (g *cgen) org() {
	idx := g.entity(true, "")
	o := &corg{idx: idx}
	var owner *cperson
	if g.r.p(50) && len(g.people) > 0 {
		owner = g.people[g.r.n(len(g.people))]
	}
	var base string
	if owner != nil && g.r.p(60) {
		base = fold(owner.surname[0]) + " " + g.r.pick(orgTrades)
	} else {
		base = g.r.pick(orgWords) + " " + g.r.pick(orgTrades)
	}
	forms := orgForms[g.r.n(len(orgForms))]
	o.names = append(o.names, base+" "+forms[0])
	g.ent(idx).Name = o.names[0]
	for _, f := range forms[1:] {
		o.names = append(o.names, base+" "+f, strings.ToUpper(base+" "+f))
	}
	o.names = append(o.names, "The "+base+" "+forms[0], base+", "+forms[0], base)
	slug := strings.ToLower(strings.NewReplacer(" ", "", "'", "", "&", "").Replace(fold(base)))
	o.email = g.uniqueEmail(g.r.pick([]string{"info", "office", "contact", "sales", "hello"}), slug+".com")
	o.phone = g.usPhone(g.r.n(len(places)))
	o.addr = g.address()
	if owner != nil {
		oe := &g.data.Entities[idx]
		oe.Owner = g.data.Entities[owner.idx].ID
		oe.Household = g.data.Entities[owner.idx].Household
		o.addr = owner.home
		if g.r.p(50) {
			if owner.hhPhone != nil && g.r.p(50) {
				o.phone = owner.hhPhone
			} else if owner.mobile != nil {
				o.phone = owner.mobile
			}
			oe.SharedPhone = true
		}
		if len(owner.emails) > 0 && g.r.p(25) {
			o.email = owner.emails[0]
			oe.SharedEmail = true
		}
	}
	g.orgs = append(g.orgs, o)
}
