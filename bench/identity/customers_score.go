package identity

import (
	"encoding/csv"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	hid "ucv/hub/identity"
	"ucv/profile"
)

// SameDifferent counts row pairs of one entity and of two.
type SameDifferent struct{ Same, Different int64 }

// Share is Same / (Same + Different), 0 without pairs.
func (c SameDifferent) Share() float64 {
	if c.Same+c.Different == 0 {
		return 0
	}
	return float64(c.Same) / float64(c.Same+c.Different)
}

// Count is one named count.
type Count struct {
	Name  string
	Count int
}

// CustomerStats describes a generated customer data set.
type CustomerStats struct {
	Records, Entities, Persons, Orgs, Households int
	// Sources counts rows per source, Entity counts entities per
	// relation or trait, Rows counts rows per phenomenon tag; all sorted
	// by name.
	Sources, Entity, Rows []Count
	TruePairs             int64
	// ContactPairs is the number of true pairs joined by a chain of the
	// entity's own rows sharing a normalized e-mail or phone (display
	// names stripped): what exact contact matching alone could find, if
	// it never merged anyone else.
	ContactPairs int64
	// NamesakePairs is the number of true pairs with a row that carries
	// nothing but a given name and a family name (no middle name or
	// initial, generation, gender, e-mail, phone, date, address or
	// document) whose entity's true name another entity also bears: the
	// row's fields are equally likely under either namesake, so linking
	// it is a guess between them. A resolver at pair precision near 1
	// leaves them apart: pair recall ≤ 1 − NamesakePairs/TruePairs.
	NamesakePairs int64
	// SharedValuePairs is the number of true pairs joined by a chain of
	// the entity's own rows that share an exact value: a normalized
	// e-mail, a phone (also by its last nine digits, with or without a
	// country code), a given and family name in either order, a birth
	// date (any reading of an ambiguous one) or a street address. A
	// resolver that links two rows only when they share such a value —
	// even one that never links two different entities — reaches pair
	// recall ≤ SharedValuePairs/TruePairs.
	SharedValuePairs int64
	// NearNamePairs is SharedValuePairs with near names as links too:
	// given names equal, nicknames of each other (the resolver's table)
	// or at Jaro-Winkler ≥ 0.85, and family names equal or at
	// Jaro-Winkler ≥ 0.85 (either order), or one e-mail local part. The
	// pairs it adds beyond SharedValuePairs are those whose only link is
	// such a near name: a resolver needs them for any recall above
	// SharedValuePairs/TruePairs.
	NearNamePairs int64
	// NearOnly counts row pairs whose only link is a near name (as in
	// NearNamePairs, names not exact): no shared exact value, not both
	// dated, no two different generations — how many belong to one
	// entity and how many to two; NearOnlyPostcode the same among those
	// with one postcode too. Rows are paired within a family name and
	// within a given name; a given name held by more than
	// nearBlockMax rows is not paired on (its pairs are overwhelmingly
	// two people, so leaving them out only flatters the share).
	NearOnly, NearOnlyPostcode SameDifferent
	// FullNames is the number of distinct full names of persons, and
	// SharedNamePersons the persons whose full name (case aside) another
	// person bears too: how common namesakes are in the set (real name
	// distributions have far fewer).
	FullNames, SharedNamePersons int
}

// Stats counts the data set's records, entities and phenomena.
func (d *CustomerData) Stats() CustomerStats {
	st := CustomerStats{Records: len(d.Rows), Entities: len(d.Entities), Households: d.Households}
	src, ent, rows := map[string]int{}, map[string]int{}, map[string]int{}
	hh := map[string]int{}
	buildings := map[string]bool{}
	for _, e := range d.Entities {
		if e.Org {
			st.Orgs++
			if e.Owner != "" {
				ent["orgs: home business of a customer (same address)"]++
			}
			if e.SharedPhone {
				ent["orgs: phone shared with the owner"]++
			}
			if e.SharedEmail {
				ent["orgs: e-mail shared with the owner"]++
			}
			continue
		}
		st.Persons++
		hh[e.Household]++
		if e.Twin != "" && e.ID < e.Twin {
			ent["twin pairs"]++
		}
		if e.Generation != "" && e.ID < e.Generation {
			ent["Jr/Sr pairs at one address"]++
		}
		if e.Moved {
			ent["persons who moved"]++
		}
		if e.SharedEmail {
			ent["persons with a family e-mail"]++
		}
		if e.SharedPhone {
			ent["persons with a shared landline"]++
		}
		if e.Building != "" {
			buildings[e.Household] = true
		}
	}
	for _, n := range hh {
		if n > 1 {
			ent["households with 2+ persons"]++
		}
	}
	ent["households in multi-unit buildings"] = len(buildings)
	for _, r := range d.Rows {
		src[r.Source]++
		seen := map[string]bool{}
		for _, t := range r.Tags {
			if !seen[t] {
				rows[t]++
				seen[t] = true
			}
		}
	}
	per := map[string]int{}
	for _, r := range d.Rows {
		per[r.Entity]++
	}
	for _, n := range per {
		st.TruePairs += int64(n * (n - 1) / 2)
	}
	contacts := d.rowContacts()
	evs := make([]evidenceRow, len(d.Rows))
	for i, r := range d.Rows {
		evs[i] = evidence(r, contacts[i])
	}
	st.ContactPairs = d.contactPairs(contacts)
	st.SharedValuePairs, st.NearNamePairs = d.evidencePairs(evs)
	st.NearOnly, st.NearOnlyPostcode = d.nearOnly(evs)
	st.NamesakePairs = d.namesakePairs(per)
	st.FullNames, st.SharedNamePersons = d.sharedNames()
	st.Sources, st.Entity, st.Rows = counts(src), counts(ent), counts(rows)
	return st
}

// sharedNames counts CustomerStats.FullNames and SharedNamePersons.
func (d *CustomerData) sharedNames() (names, shared int) {
	bearers := map[string]int{}
	for _, e := range d.Entities {
		if !e.Org {
			bearers[strings.ToLower(e.Name)]++
		}
	}
	for _, n := range bearers {
		if n > 1 {
			shared += n
		}
	}
	return len(bearers), shared
}

// namesakePairs counts CustomerStats.NamesakePairs; per is rows per
// entity.
func (d *CustomerData) namesakePairs(per map[string]int) int64 {
	bearers := map[string]int{}
	for _, e := range d.Entities {
		bearers[e.Name]++
	}
	ambiguous := map[string]int{} // entity → its name-only rows
	for _, r := range d.Rows {
		e, _ := d.Entity(r.Entity)
		if bearers[e.Name] > 1 && nameOnly(r) {
			ambiguous[r.Entity]++
		}
	}
	var n int64
	for ent, k := range ambiguous {
		// pairs with at least one of the entity's k name-only rows
		t := int64(per[ent])
		n += t*(t-1)/2 - (t-int64(k))*(t-int64(k)-1)/2
	}
	return n
}

// nameOnly reports whether r holds a given and a family name and
// nothing else: no other column, no middle name or initial, no
// generation in a written full name.
func nameOnly(r CustomerRow) bool {
	for _, c := range r.Columns {
		if c.Value == "" {
			continue
		}
		switch c.Name {
		case "first_name", "last_name":
		case "full_name":
			if len(strings.Fields(strings.ReplaceAll(c.Value, ",", " "))) != 2 {
				return false
			}
		default:
			return false
		}
	}
	return true
}

func counts(m map[string]int) []Count {
	out := make([]Count, 0, len(m))
	for k, v := range m {
		out = append(out, Count{k, v})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// WriteMarkdown writes the statistics as Markdown.
func (st CustomerStats) WriteMarkdown(w io.Writer) {
	fmt.Fprintf(w, "records %d · entities %d (persons %d, organisations %d) · households %d · true pairs %d, of which %d (%.1f %%) are joined by a chain of shared e-mails/phones\n\n",
		st.Records, st.Entities, st.Persons, st.Orgs, st.Households, st.TruePairs, st.ContactPairs, pct(st.ContactPairs, st.TruePairs))
	var srcs []string
	for _, c := range st.Sources {
		srcs = append(srcs, fmt.Sprintf("%s %d", c.Name, c.Count))
	}
	fmt.Fprintf(w, "rows per source: %s\n\n", strings.Join(srcs, " · "))
	fmt.Fprintf(w, "true pairs with a row that holds only a name another entity also bears: %d (%.1f %%) — linking them is a guess between namesakes, so at pair precision near 1 pair recall ≤ %.3f\n\n",
		st.NamesakePairs, pct(st.NamesakePairs, st.TruePairs), 1-float64(st.NamesakePairs)/float64(max(st.TruePairs, 1)))
	fmt.Fprintf(w, "at pair recall 0.97, the namesake rows alone hold pair precision to ≤ %.4f in expectation\n\n", st.NamesakePrecisionBound(0.97))
	fmt.Fprintf(w, "true pairs joined by a chain of the entity's rows sharing an exact value (e-mail, phone, full name, birth date, street address): %d (%.1f %%) — pair recall ≤ %.4f for a resolver that links rows only on a shared value; with near names (nicknames, Jaro-Winkler ≥ 0.85) and e-mail local parts as links too: %d (%.1f %%)\n\n",
		st.SharedValuePairs, pct(st.SharedValuePairs, st.TruePairs), float64(st.SharedValuePairs)/float64(max(st.TruePairs, 1)), st.NearNamePairs, pct(st.NearNamePairs, st.TruePairs))
	fmt.Fprintf(w, "row pairs linked only by a near name (no shared exact value, not both dated): %d, of which %.1f %% one entity; with one postcode too: %d, %.1f %% one entity\n\n",
		st.NearOnly.Same+st.NearOnly.Different, 100*st.NearOnly.Share(), st.NearOnlyPostcode.Same+st.NearOnlyPostcode.Different, 100*st.NearOnlyPostcode.Share())
	fmt.Fprintf(w, "at pair recall 0.97, %d more true pairs than shared values join are needed, linked by near names at best %.1f %% right: pair precision ≤ %.4f (estimate)\n\n",
		max(int64(0.97*float64(st.TruePairs))-st.SharedValuePairs, 0), 100*st.NearOnlyPostcode.Share(), st.NearPrecisionBound(0.97))
	fmt.Fprintf(w, "persons sharing their full name with another person: %d of %d (%.1f %%), over %d distinct full names\n\n",
		st.SharedNamePersons, st.Persons, pct(int64(st.SharedNamePersons), int64(st.Persons)), st.FullNames)
	fmt.Fprintf(w, "| entities | count |\n|---|---:|\n")
	for _, c := range st.Entity {
		fmt.Fprintf(w, "| %s | %d |\n", c.Name, c.Count)
	}
	fmt.Fprintf(w, "\n| rows with phenomenon | count |\n|---|---:|\n")
	for _, c := range st.Rows {
		fmt.Fprintf(w, "| %s | %d |\n", c.Name, c.Count)
	}
}

// rowContacts returns each row's normalized e-mail ("e:…") and phone
// ("p:…"), read as hub/identity's default region (US) reads them.
func (d *CustomerData) rowContacts() [][]string {
	contacts := make([][]string, len(d.Rows))
	opts := profile.NormalizeOptions{DefaultRegion: "US"}
	for i, r := range d.Rows {
		if v, err := profile.NormalizeValue(profile.Email, plainEmail(r.Value("email")), opts); err == nil {
			contacts[i] = append(contacts[i], "e:"+v)
		}
		if v, err := profile.NormalizeValue(profile.Phone, r.Value("phone"), opts); err == nil {
			contacts[i] = append(contacts[i], "p:"+v)
		}
	}
	return contacts
}

// contactPairs counts true pairs connected through the entity's rows
// sharing contact points.
func (d *CustomerData) contactPairs(contacts [][]string) int64 {
	u := newUnion(len(d.Rows))
	first := map[string]int{} // entity + contact → first row
	for i, r := range d.Rows {
		for _, c := range contacts[i] {
			k := r.Entity + "|" + c
			if j, ok := first[k]; ok {
				u.join(i, j)
			} else {
				first[k] = i
			}
		}
	}
	return u.pairs()
}

// evidenceRow is what evidencePairs compares of one row.
type evidenceRow struct {
	keys          []string // exact values, prefixed by kind
	given, family string
	local         string // e-mail local part
	dated         bool
	generation    string
	postcode      string
}

// evidence returns row r's exact values (e:, p:, n:, d:, a:) and names.
func evidence(r CustomerRow, contacts []string) evidenceRow {
	ev := evidenceRow{keys: append([]string(nil), contacts...)}
	if e := strings.ToLower(hid.EmailAddress(r.Value("email"))); e != "" {
		ev.keys = append(ev.keys, "e:"+e)
		ev.local, _, _ = strings.Cut(e, "@")
	}
	var digits []byte
	for _, c := range []byte(r.Value("phone")) {
		if c >= '0' && c <= '9' {
			digits = append(digits, c)
		}
	}
	if len(digits) >= 9 {
		ev.keys = append(ev.keys, "p9:"+string(digits[len(digits)-9:]))
	}
	ev.given, ev.family = hid.NormalizeName(r.Value("first_name")), hid.NormalizeName(r.Value("last_name"))
	if ev.given == "" && ev.family == "" {
		ev.given, _, ev.family = hid.SplitFullName(r.Value("full_name"))
	}
	if ev.given != "" && ev.family != "" {
		a, b := ev.given, ev.family
		if b < a {
			a, b = b, a
		}
		ev.keys = append(ev.keys, "n:"+a+"|"+b)
	}
	for _, c := range hid.ParseBirthDate(r.Value("birth_date"), hid.DateAuto) {
		ev.keys = append(ev.keys, "d:"+c)
		ev.dated = true
	}
	ev.generation = hid.NormalizeGeneration(r.Value("generation"))
	street := r.Value("street")
	ev.postcode = r.Value("postcode")
	if street == "" {
		street, _, _ = strings.Cut(r.Value("address"), ",")
	}
	if f := strings.Fields(r.Value("address")); ev.postcode == "" && len(f) > 0 {
		ev.postcode = f[len(f)-1] // "…, Denver, CO 80264"
	}
	if a := hid.NormalizeAddress(street); a != "" {
		ev.keys = append(ev.keys, "a:"+a)
	}
	return ev
}

// nearNames reports whether a and b bear near names (NearNamePairs) or
// one e-mail local part.
func nearNames(a, b evidenceRow) bool {
	if a.local != "" && a.local == b.local {
		return true
	}
	near := func(x, y string) bool { return x != "" && y != "" && (x == y || hid.JaroWinkler(x, y) >= 0.85) }
	givenNear := func(x, y string) bool { return near(x, y) || (x != "" && hid.Nicknames(x, y)) }
	return (givenNear(a.given, b.given) && near(a.family, b.family)) ||
		(givenNear(a.given, b.family) && near(a.family, b.given))
}

// evidencePairs counts CustomerStats.SharedValuePairs and NearNamePairs;
// evs holds evidence of each row of d.Rows.
func (d *CustomerData) evidencePairs(evs []evidenceRow) (shared, near int64) {
	byEnt := map[string][]int{}
	for i, r := range d.Rows {
		byEnt[r.Entity] = append(byEnt[r.Entity], i)
	}
	for _, rows := range byEnt {
		exact, wide := newUnion(len(rows)), newUnion(len(rows))
		for x, a := range rows {
			for y := x + 1; y < len(rows); y++ {
				b := rows[y]
				if shareKey(evs[a].keys, evs[b].keys) {
					exact.join(x, y)
					wide.join(x, y)
				} else if nearNames(evs[a], evs[b]) {
					wide.join(x, y)
				}
			}
		}
		shared += exact.pairs()
		near += wide.pairs()
	}
	return shared, near
}

// nearBlockMax bounds the rows nearOnly pairs within one name.
const nearBlockMax = 400

// nearOnly counts CustomerStats.NearOnly and NearOnlyPostcode; evs
// holds evidence of each row of d.Rows.
func (d *CustomerData) nearOnly(evs []evidenceRow) (all, postcode SameDifferent) {
	blocks := map[string][]int{}
	for i := range d.Rows {
		if evs[i].family != "" {
			blocks["f:"+evs[i].family] = append(blocks["f:"+evs[i].family], i)
		}
		if evs[i].given != "" {
			blocks["g:"+evs[i].given] = append(blocks["g:"+evs[i].given], i)
		}
	}
	seen := map[[2]int]bool{}
	for _, rows := range blocks {
		if len(rows) > nearBlockMax {
			continue
		}
		for x, a := range rows {
			for _, b := range rows[x+1:] {
				if seen[[2]int{a, b}] {
					continue
				}
				seen[[2]int{a, b}] = true
				ea, eb := evs[a], evs[b]
				if shareKey(ea.keys, eb.keys) || (ea.local != "" && ea.local == eb.local) || !nearNames(ea, eb) ||
					(ea.dated && eb.dated) || (ea.generation != "" && eb.generation != "" && ea.generation != eb.generation) {
					continue
				}
				same := d.Rows[a].Entity == d.Rows[b].Entity
				all.add(same)
				if ea.postcode != "" && ea.postcode == eb.postcode {
					postcode.add(same)
				}
			}
		}
	}
	return all, postcode
}

func (c *SameDifferent) add(same bool) {
	if same {
		c.Same++
	} else {
		c.Different++
	}
}

func shareKey(a, b []string) bool {
	for _, x := range a {
		for _, y := range b {
			if x == y {
				return true
			}
		}
	}
	return false
}

// union is a small union-find over 0..n-1.
type union []int

func newUnion(n int) union {
	u := make(union, n)
	for i := range u {
		u[i] = i
	}
	return u
}

func (u union) find(i int) int {
	for u[i] != i {
		u[i] = u[u[i]]
		i = u[i]
	}
	return i
}

func (u union) join(a, b int) { u[u.find(a)] = u.find(b) }

// pairs counts the pairs of elements in one set.
func (u union) pairs() int64 {
	size := map[int]int64{}
	for i := range u {
		size[u.find(i)]++
	}
	var n int64
	for _, s := range size {
		n += s * (s - 1) / 2
	}
	return n
}

// NearPrecisionBound is the pair precision a resolver can expect at
// pair recall recall if every true pair beyond SharedValuePairs that
// recall needs is linked at the best near-name share measured
// (NearOnlyPostcode: a near name and one postcode) and nothing else is
// wrong. It is an estimate, not a proof: it takes a pair share for
// the precision of links. It returns 1 when recall needs no near-name
// link, 0 when the set has no such pairs to measure.
func (st CustomerStats) NearPrecisionBound(recall float64) float64 {
	right := recall * float64(st.TruePairs)
	needed := right - float64(st.SharedValuePairs)
	if needed <= 0 {
		return 1
	}
	s := st.NearOnlyPostcode.Share()
	if s == 0 {
		return 0
	}
	return right / (right + needed*(1-s)/s)
}

// NamesakePrecisionBound is the highest pair precision a resolver can
// expect at pair recall recall, from the namesake rows alone
// (NamesakePairs): recall above 1 − NamesakePairs/TruePairs needs
// namesake pairs linked by a guess, and a guess between two or more
// entities of one name, made on a row that holds nothing else, is
// wrong at least as often as right — each wrong pair it makes matched
// by a right one at best. It returns 1 when recall needs no guess.
func (st CustomerStats) NamesakePrecisionBound(recall float64) float64 {
	right := recall * float64(st.TruePairs)
	guessed := float64(st.NamesakePairs) - (1-recall)*float64(st.TruePairs)
	if guessed <= 0 || right <= 0 {
		return 1
	}
	return right / (right + guessed)
}

// Relation classes of two different entities, most specific first.
const (
	RelTwins          = "twins"
	RelJrSr           = "Jr/Sr"
	RelOrgOwner       = "organisation and its owner"
	RelHouseholdEmail = "household, family e-mail"
	RelHouseholdPhone = "household, shared landline"
	RelHousehold      = "household, address only"
	RelBuilding       = "same building, other unit"
	RelOrgOther       = "organisation and unrelated person/org"
	RelUnrelated      = "unrelated persons"
)

// Relation classifies two different entities.
func (d *CustomerData) Relation(a, b string) string {
	ea, _ := d.Entity(a)
	eb, _ := d.Entity(b)
	switch {
	case ea.Twin == b:
		return RelTwins
	case ea.Generation == b:
		return RelJrSr
	case ea.Org && ea.Owner == b, eb.Org && eb.Owner == a:
		return RelOrgOwner
	case ea.Org || eb.Org:
		if ea.Household != "" && ea.Household == eb.Household {
			return RelOrgOwner + " (household)"
		}
		return RelOrgOther
	case ea.Household == eb.Household:
		switch {
		case ea.SharedEmail && eb.SharedEmail:
			return RelHouseholdEmail
		case ea.SharedPhone && eb.SharedPhone:
			return RelHouseholdPhone
		}
		return RelHousehold
	case ea.Building != "" && ea.Building == eb.Building:
		return RelBuilding
	}
	return RelUnrelated
}

// ErrorClass is one row of a Breakdown.
type ErrorClass struct {
	Name string
	// Errors is the number of wrong pairs (false merges or misses) in the
	// class; Total, for misses, the number of true pairs in it.
	Errors, Total int64
	// Direct is, for false merges, how many of the wrong pairs share a
	// normalized e-mail or phone themselves (the rest are joined through
	// other records or by probabilistic score).
	Direct int64
	// SameName is, for false merges, how many of the wrong pairs are of
	// entities with the same canonical name (namesakes, Jr/Sr).
	SameName int64
	// Undated is, for false merges, how many of the wrong pairs have no
	// readable birth date on one record or both (the rest are dated on
	// both sides, and were joined through other records when the dates
	// differ).
	Undated int64
}

// Breakdown says which phenomena cause a clustering's errors.
type Breakdown struct {
	// FalseMerges: wrongly merged pairs by the relation of their two
	// entities. MixedClusters is the number of predicted clusters holding
	// more than one entity; LargestCluster the size of the biggest.
	FalseMerges                   []ErrorClass
	MixedClusters, LargestCluster int
	// Glue counts mixed clusters by the strongest direct link between two
	// of their entities: a shared e-mail, else a shared phone, else none
	// (merged on names, dates and addresses).
	Glue []Count
	// Misses: true pairs left apart, by phenomenon: a pair is counted
	// under every tag of either record, under "pair: …" classes, and
	// under "all".
	Misses []ErrorClass
}

// Analyze classifies the errors of assign (record → cluster).
func (d *CustomerData) Analyze(assign [][2]string) Breakdown {
	idx := make(map[string]int, len(d.Rows))
	for i, r := range d.Rows {
		idx[r.ID] = i
	}
	contacts := d.rowContacts()
	share := func(a, b int) bool {
		for _, x := range contacts[a] {
			for _, y := range contacts[b] {
				if x == y {
					return true
				}
			}
		}
		return false
	}
	cluster := make([]string, len(d.Rows))
	groups := map[string][]int{}
	for _, a := range assign {
		i, ok := idx[a[0]]
		if !ok {
			continue
		}
		cluster[i] = a[1]
		groups[a[1]] = append(groups[a[1]], i)
	}
	dated := make([]bool, len(d.Rows))
	for i, r := range d.Rows {
		dated[i] = len(hid.ParseBirthDate(r.Value("birth_date"), hid.DateAuto)) > 0
	}
	var b Breakdown
	fm := map[string]*ErrorClass{}
	glue := map[string]int{}
	sharesKind := func(a, b int, prefix string) bool {
		for _, x := range contacts[a] {
			for _, y := range contacts[b] {
				if x == y && strings.HasPrefix(x, prefix) {
					return true
				}
			}
		}
		return false
	}
	keys := make([]string, 0, len(groups))
	for k := range groups {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		g := groups[k]
		b.LargestCluster = max(b.LargestCluster, len(g))
		mixed, byEmail, byPhone := false, false, false
		for x := range g {
			for y := x + 1; y < len(g); y++ {
				ra, rb := d.Rows[g[x]], d.Rows[g[y]]
				if ra.Entity == rb.Entity {
					continue
				}
				mixed = true
				rel := d.Relation(ra.Entity, rb.Entity)
				c := fm[rel]
				if c == nil {
					c = &ErrorClass{Name: rel}
					fm[rel] = c
				}
				c.Errors++
				if share(g[x], g[y]) {
					c.Direct++
				}
				ea, _ := d.Entity(ra.Entity)
				eb, _ := d.Entity(rb.Entity)
				if ea.Name == eb.Name {
					c.SameName++
				}
				if !dated[g[x]] || !dated[g[y]] {
					c.Undated++
				}
				byEmail = byEmail || sharesKind(g[x], g[y], "e:")
				byPhone = byPhone || sharesKind(g[x], g[y], "p:")
			}
		}
		if mixed {
			b.MixedClusters++
			switch {
			case byEmail:
				glue["a shared e-mail"]++
			case byPhone:
				glue["a shared phone (no shared e-mail)"]++
			default:
				glue["no shared e-mail or phone"]++
			}
		}
	}
	ms := map[string]*ErrorClass{}
	bump := func(name string, missed bool) {
		c := ms[name]
		if c == nil {
			c = &ErrorClass{Name: name}
			ms[name] = c
		}
		c.Total++
		if missed {
			c.Errors++
		}
	}
	byEntity := map[string][]int{}
	for i, r := range d.Rows {
		byEntity[r.Entity] = append(byEntity[r.Entity], i)
	}
	for _, rows := range byEntity {
		for x := range rows {
			for y := x + 1; y < len(rows); y++ {
				a, bb := rows[x], rows[y]
				missed := cluster[a] != cluster[bb] || cluster[a] == ""
				bump("all", missed)
				seen := map[string]bool{}
				for _, t := range append(append([]string(nil), d.Rows[a].Tags...), d.Rows[bb].Tags...) {
					if !seen[t] {
						seen[t] = true
						bump(t, missed)
					}
				}
				if len(seen) == 0 {
					bump("pair: no phenomenon", missed)
				}
				if !share(a, bb) {
					bump("pair: no shared e-mail or phone", missed)
				}
				if d.Rows[a].Source == d.Rows[bb].Source {
					bump("pair: same source", missed)
				}
				e, _ := d.Entity(d.Rows[a].Entity)
				if e.Org {
					bump("pair: organisation", missed)
				}
			}
		}
	}
	b.Glue = counts(glue)
	b.FalseMerges = sortClasses(fm)
	b.Misses = sortClasses(ms)
	return b
}

func sortClasses(m map[string]*ErrorClass) []ErrorClass {
	out := make([]ErrorClass, 0, len(m))
	for _, c := range m {
		out = append(out, *c)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Errors != out[j].Errors {
			return out[i].Errors > out[j].Errors
		}
		return out[i].Name < out[j].Name
	})
	return out
}

// plainEmail takes the address out of a display-name form for the
// breakdown's own contact comparison.
func plainEmail(s string) string {
	if i := strings.LastIndexByte(s, '<'); i >= 0 {
		if j := strings.LastIndexByte(s, '>'); j > i {
			return s[i+1 : j]
		}
	}
	return s
}

// WriteMarkdown writes the breakdown as two Markdown tables.
func (b Breakdown) WriteMarkdown(w io.Writer) {
	var total int64
	for _, c := range b.FalseMerges {
		total += c.Errors
	}
	fmt.Fprintf(w, "False merges: %d wrong pairs in %d mixed clusters (largest cluster %d records)\n\n",
		total, b.MixedClusters, b.LargestCluster)
	fmt.Fprintf(w, "| relation of the two entities | wrong pairs | share | sharing an e-mail/phone directly | same name | a birth date missing |\n|---|---:|---:|---:|---:|---:|\n")
	var undated int64
	for _, c := range b.FalseMerges {
		fmt.Fprintf(w, "| %s | %d | %.1f %% | %d | %d | %d |\n", c.Name, c.Errors, pct(c.Errors, total), c.Direct, c.SameName, c.Undated)
		undated += c.Undated
	}
	fmt.Fprintf(w, "\n%d of the wrong pairs (%.1f %%) have no birth date on one record or both.\n", undated, pct(undated, total))
	fmt.Fprintf(w, "\nMixed clusters by what glues them (strongest direct link between two of their entities):\n\n")
	fmt.Fprintf(w, "| glue | clusters |\n|---|---:|\n")
	for _, c := range b.Glue {
		fmt.Fprintf(w, "| %s | %d |\n", c.Name, c.Count)
	}
	fmt.Fprintf(w, "\nMisses (true pairs left apart) by phenomenon of either record:\n\n")
	fmt.Fprintf(w, "| phenomenon | missed pairs | true pairs | miss rate |\n|---|---:|---:|---:|\n")
	for _, c := range b.Misses {
		fmt.Fprintf(w, "| %s | %d | %d | %.1f %% |\n", c.Name, c.Errors, c.Total, pct(c.Errors, c.Total))
	}
}

func pct(a, b int64) float64 {
	if b == 0 {
		return 0
	}
	return 100 * float64(a) / float64(b)
}

// WriteCSV writes the rows as one CSV file per source (crm.csv, pos.csv,
// web.csv, support.csv: an "id" column, then the source's columns) and
// truth.csv (id, source, entity, tags separated by spaces) into dir, for
// `ucv resolve` and imports. It returns the files written.
func (d *CustomerData) WriteCSV(dir string) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("bench/identity: %w", err)
	}
	files := map[string]*csv.Writer{}
	var closers []*os.File
	var paths []string
	defer func() {
		for _, f := range closers {
			f.Close()
		}
	}()
	open := func(name string) (*csv.Writer, error) {
		if w, ok := files[name]; ok {
			return w, nil
		}
		p := filepath.Join(dir, name+".csv")
		f, err := os.Create(p)
		if err != nil {
			return nil, fmt.Errorf("bench/identity: %w", err)
		}
		closers = append(closers, f)
		paths = append(paths, p)
		w := csv.NewWriter(f)
		files[name] = w
		return w, nil
	}
	truth, err := open("truth")
	if err != nil {
		return nil, err
	}
	if err := truth.Write([]string{"id", "source", "entity", "tags"}); err != nil {
		return nil, fmt.Errorf("bench/identity: %w", err)
	}
	for _, r := range d.Rows {
		_, existed := files[r.Source]
		w, err := open(r.Source)
		if err != nil {
			return nil, err
		}
		if !existed {
			head := []string{"id"}
			for _, c := range r.Columns {
				head = append(head, c.Name)
			}
			if err := w.Write(head); err != nil {
				return nil, fmt.Errorf("bench/identity: %w", err)
			}
		}
		row := []string{r.ID}
		for _, c := range r.Columns {
			row = append(row, c.Value)
		}
		if err := w.Write(row); err != nil {
			return nil, fmt.Errorf("bench/identity: %w", err)
		}
		if err := truth.Write([]string{r.ID, r.Source, r.Entity, strings.Join(r.Tags, " ")}); err != nil {
			return nil, fmt.Errorf("bench/identity: %w", err)
		}
	}
	for _, w := range files {
		w.Flush()
		if err := w.Error(); err != nil {
			return nil, fmt.Errorf("bench/identity: %w", err)
		}
	}
	for _, f := range closers {
		if err := f.Close(); err != nil {
			return nil, fmt.Errorf("bench/identity: %w", err)
		}
	}
	closers = nil
	sort.Strings(paths)
	return paths, nil
}
