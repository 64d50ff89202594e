package identity

import (
	"fmt"
	"strconv"
	"strings"

	"ucv/profile"
)

var folder = strings.NewReplacer("á", "a", "é", "e", "í", "i", "ó", "o", "ú", "u", "ñ", "n", "ü", "u",
	"ö", "o", "ä", "a", "Á", "A", "É", "E", "Í", "I", "Ó", "O", "Ú", "U", "Ü", "U", "Ö", "O", "Ä", "A",
	"ễ", "e", "ầ", "a", "ạ", "a", "ê", "e", "ư", "u", "ơ", "o", "ứ", "u", "ấ", "a", "Đ", "D", "đ", "d",
	"õ", "o", "Õ", "O", "ũ", "u", "ờ", "o", "ọ", "o", "ũ", "u", "ộ", "o", "ồ", "o", "ắ", "a", "ợ", "o",
	"Ạ", "A", "Ê", "E", "Ô", "O", "ô", "o", "'", "", " ", "")

// fold strips the diacritics, apostrophes and spaces of the pools' names
// (enough for e-mail local parts and slugs).
func fold(s string) string { return folder.Replace(s) }

func (g *cgen) uniqueEmail(local, domain string) string {
	local = strings.ToLower(local)
	e := local + "@" + domain
	for i := 2; g.emails[e]; i++ {
		e = local + strconv.Itoa(i+g.r.n(90)) + "@" + domain
	}
	g.emails[e] = true
	return e
}

func (g *cgen) personalLocal(p *cperson) string {
	f, l := fold(p.given.formal), fold(p.surname[0])
	switch g.r.n(7) {
	case 0:
		return f + "." + l
	case 1:
		return f + l + strconv.Itoa(p.y%100)
	case 2:
		return f[:1] + l
	case 3:
		return f + "_" + l
	case 4:
		if len(p.given.nick) > 0 {
			return fold(p.given.nick[0]) + strconv.Itoa(p.y%100)
		}
		return f + strconv.Itoa(p.y)
	case 5:
		return l + "." + f
	}
	return f + "." + l + strconv.Itoa(1+g.r.n(99))
}

func (g *cgen) familyLocal(p *cperson) string {
	l := fold(p.surname[0])
	switch g.r.n(3) {
	case 0:
		return "the" + l + "s"
	case 1:
		return l + "family"
	}
	return l + ".home"
}

// validPhone reports whether profile normalization (libphonenumber)
// accepts ph written with its country code.
func validPhone(ph *cphone) bool {
	_, err := profile.NormalizePhone("+"+ph.cc+ph.nsn, "US")
	return err == nil
}

func (g *cgen) digits(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte('0' + g.r.n(10))
	}
	return string(b)
}

func (g *cgen) usPhone(place int) *cphone {
	for {
		area := g.r.pick(places[place].area)
		ex := strconv.Itoa(2+g.r.n(8)) + g.digits(2)
		if ex[1:] == "11" || ex == "555" {
			continue
		}
		// Valid by construction (real area codes, exchange 2xx–9xx
		// without N11 and 555): TestCustomersPhonesValid checks it.
		ph := &cphone{cc: "1", nsn: area + ex + g.digits(4)}
		if !g.phones[ph.nsn] {
			g.phones[ph.nsn] = true
			return ph
		}
	}
}

func (g *cgen) foreignPhone(cc string, place int) *cphone {
	for try := 0; try < 20; try++ {
		var nsn string
		switch cc {
		case "52":
			nsn = "55" + g.digits(8)
		case "86":
			nsn = "13" + g.digits(9)
		case "84":
			nsn = "9" + strconv.Itoa(1+g.r.n(8)) + g.digits(7)
		case "91":
			nsn = strconv.Itoa(7+g.r.n(3)) + g.digits(9)
		case "7":
			nsn = "9" + strconv.Itoa(1+g.r.n(8)) + g.digits(8)
		case "49":
			nsn = "30" + g.digits(8)
		default:
			return g.usPhone(place)
		}
		ph := &cphone{cc: cc, nsn: nsn}
		if !g.phones[cc+nsn] && validPhone(ph) {
			g.phones[cc+nsn] = true
			return ph
		}
	}
	return g.usPhone(place)
}

// formatPhone writes ph as a source would; tags say how.
func (g *cgen) formatPhone(ph *cphone, src string, tags *[]string) string {
	n := ph.nsn
	if ph.cc != "1" {
		if g.r.p(50) {
			*tags = append(*tags, TagPhoneForeign)
			if g.r.p(50) {
				return "+" + ph.cc + n
			}
			return "+" + ph.cc + " " + n[:3] + " " + n[3:6] + " " + n[6:]
		}
		*tags = append(*tags, TagPhoneForeignNoCC)
		switch ph.cc {
		case "7":
			return "8 " + n[:3] + " " + n[3:6] + "-" + n[6:8] + "-" + n[8:]
		case "86", "52":
			return n[:3] + " " + n[3:7] + " " + n[7:]
		}
		return "0" + n[:3] + " " + n[3:]
	}
	a, e, s := n[:3], n[3:6], n[6:]
	var styles []int
	switch src {
	case SourcePOS:
		styles = []int{0, 1, 1, 3, 3}
	case SourceWeb:
		styles = []int{4, 5, 5, 0, 3}
	default:
		styles = []int{0, 1, 2, 4, 6}
	}
	switch styles[g.r.n(len(styles))] {
	case 0:
		return "(" + a + ") " + e + "-" + s
	case 1:
		return a + "-" + e + "-" + s
	case 2:
		return a + "." + e + "." + s
	case 3:
		return a + e + s
	case 4:
		*tags = append(*tags, TagPhoneCC)
		return "+1 " + a + " " + e + " " + s
	case 5:
		*tags = append(*tags, TagPhoneCC)
		return "+1" + a + e + s
	}
	*tags = append(*tags, TagPhoneCC)
	return "1-" + a + "-" + e + "-" + s
}

// typo makes one edit: substitution, deletion, transposition or
// insertion, never at the first letter.
func (g *cgen) typo(s string) string {
	b := []rune(s)
	if len(b) < 3 {
		return s
	}
	i := 1 + g.r.n(len(b)-1)
	switch g.r.n(4) {
	case 0:
		c := rune('a' + g.r.n(26))
		if c == b[i] {
			c = 'e'
		}
		b[i] = c
	case 1:
		b = append(b[:i], b[i+1:]...)
	case 2:
		if i == len(b)-1 {
			i--
		}
		if i >= 1 {
			b[i], b[i+1] = b[i+1], b[i]
		}
	default:
		b = append(b[:i], append([]rune{rune('a' + g.r.n(26))}, b[i:]...)...)
	}
	return string(b)
}

func (g *cgen) formatDOB(p *cperson, src string, tags *[]string) string {
	y, m, d := p.y, p.m, p.d
	if g.r.p(3) { // one digit wrong
		*tags = append(*tags, TagDOBTypo)
		switch g.r.n(3) {
		case 0:
			y += 1 - 2*g.r.n(2)
		case 1:
			d = 1 + (d+g.r.n(9))%28
		default:
			y += 10 * (1 - 2*g.r.n(2))
		}
	}
	if d <= 12 && d != m && g.r.p(5) {
		*tags = append(*tags, TagDOBSwap)
		return fmt.Sprintf("%d/%d/%d", d, m, y)
	}
	var style int
	switch src {
	case SourceCRM:
		style = []int{0, 0, 0, 1, 1, 4}[g.r.n(6)]
	case SourcePOS:
		style = []int{2, 2, 1, 1}[g.r.n(4)]
	case SourceWeb:
		style = []int{3, 3, 1, 0, 5}[g.r.n(5)]
	default:
		style = g.r.n(6)
	}
	switch style {
	case 0:
		*tags = append(*tags, TagDOBISO)
		return fmt.Sprintf("%04d-%02d-%02d", y, m, d)
	case 1:
		if g.r.p(50) {
			return fmt.Sprintf("%02d/%02d/%d", m, d, y)
		}
		return fmt.Sprintf("%d/%d/%d", m, d, y)
	case 2:
		*tags = append(*tags, TagDOBShortYear)
		return fmt.Sprintf("%d/%d/%02d", m, d, y%100)
	case 3:
		*tags = append(*tags, TagDOBText)
		return fmt.Sprintf("%s %d %d", months[m-1], d, y)
	case 4:
		return fmt.Sprintf("%04d%02d%02d", y, m, d)
	}
	*tags = append(*tags, TagDOBText)
	return fmt.Sprintf("%s %d, %d", monthsLong[m-1], d, y)
}

// street returns the street line of a ("12 Oak Street Apt 4B").
func (g *cgen) street(a *caddr, tags *[]string) string {
	name := a.street
	if g.r.p(3) {
		*tags = append(*tags, TagAddressTypo)
		name = g.typo(name)
	}
	typ := streetTypes[a.typ][0]
	if g.r.p(45) && streetTypes[a.typ][1] != typ {
		typ = streetTypes[a.typ][1]
		*tags = append(*tags, TagAddressAbbrev)
	}
	line := strconv.Itoa(a.num) + " " + name + " " + typ
	if a.apt != "" {
		switch g.r.n(3) {
		case 0:
			line += " Apt " + a.apt
		case 1:
			line += " #" + a.apt
		default:
			line += ", Unit " + a.apt
		}
	}
	if g.r.p(10) {
		line = strings.ToUpper(line)
	}
	return line
}

// name is one record's rendering of a person's name.
type cname struct{ first, middle, last, suffix string }

func (g *cgen) name(p *cperson, src string, tags *[]string) cname {
	n := cname{first: p.given.formal, middle: p.middle, last: p.surname[0]}
	switch r := g.r.n(100); {
	case r < 15 && len(p.given.nick) > 0:
		n.first = g.r.pick(p.given.nick)
		*tags = append(*tags, TagNickname)
	case r >= 85 && len(p.given.spell) > 0:
		n.first = g.r.pick(p.given.spell)
		*tags = append(*tags, TagNameSpelling)
	}
	if len(p.surname) > 1 && g.r.p(25) {
		n.last = p.surname[1+g.r.n(len(p.surname)-1)]
		*tags = append(*tags, TagSurnameVariant)
	}
	if p.second != "" {
		if (src == SourceCRM || src == SourceWeb) && g.r.p(60) {
			n.last += " " + p.second
		} else {
			*tags = append(*tags, TagSurnamePartial)
		}
	}
	if g.r.p(6) {
		n.first = g.typo(n.first)
		*tags = append(*tags, TagNameTypo)
	} else if g.r.p(6) {
		n.last = g.typo(n.last)
		*tags = append(*tags, TagNameTypo)
	}
	n.suffix = p.suffix
	return n
}

func appendCol(cols []Column, name, value string) []Column {
	return append(cols, Column{Name: name, Value: value})
}

// sources chooses the sources an entity has rows in (at least one), with
// a possible duplicate row in one of them.
func (g *cgen) sources(pct [4]int, dup int) []string {
	all := [4]string{SourceCRM, SourcePOS, SourceWeb, SourceSupport}
	var out []string
	for i, s := range all {
		if g.r.p(pct[i]) {
			out = append(out, s)
		}
	}
	if len(out) == 0 {
		out = append(out, all[g.r.n(3)])
	}
	if g.r.p(dup) {
		out = append(out, out[g.r.n(len(out))])
	}
	return out
}

func (g *cgen) rowID(src string) string {
	g.seq[src]++
	return fmt.Sprintf("%s-%06d", src, g.seq[src])
}

func (g *cgen) personRows(p *cperson) {
	e := g.data.Entities[p.idx]
	for _, src := range g.sources([4]int{60, 45, 55, 25}, 12) {
		var tags []string
		n := g.name(p, src, &tags)
		addr, mob := p.home, p.mobile
		if p.old != nil && g.r.p(45) {
			addr = p.old
			tags = append(tags, TagOldAddress)
			if p.oldMob != nil {
				mob = p.oldMob
				tags = append(tags, TagOldPhone)
			}
		}
		// e-mail
		email := ""
		useHH := p.hhEmail != "" && (len(p.emails) == 0 || g.r.p(50))
		switch {
		case useHH:
			email = p.hhEmail
			tags = append(tags, TagSharedEmail)
		case len(p.emails) > 1 && g.r.p(30):
			email = p.emails[1]
			tags = append(tags, TagEmailWork)
		case len(p.emails) > 0:
			email = p.emails[0]
		}
		if email != "" && !useHH && g.r.p(2) {
			at := strings.IndexByte(email, '@')
			email = g.typo(email[:at]) + email[at:]
			tags = append(tags, TagEmailTypo)
		}
		// phone
		var ph *cphone
		switch {
		case p.hhPhone != nil && (mob == nil || g.r.p(35)):
			ph = p.hhPhone
			if e.SharedPhone {
				tags = append(tags, TagSharedPhone)
			}
		default:
			ph = mob
		}
		swap := (p.cult.familyFirst && g.r.p(30)) || g.r.p(3)
		if swap {
			tags = append(tags, TagNameSwap)
		}
		var cols []Column
		switch src {
		case SourceCRM:
			first, last := n.first, n.last
			if swap {
				first, last = last, first
			}
			mid := n.middle
			if mid != "" && g.r.p(50) {
				mid = mid[:1]
			}
			gen := ""
			if n.suffix != "" && g.r.p(80) {
				gen = n.suffix
				tags = append(tags, TagGenerationMarked)
			}
			cols = appendCol(cols, "first_name", first)
			cols = appendCol(cols, "middle_name", mid)
			cols = appendCol(cols, "last_name", last)
			cols = appendCol(cols, "generation", gen)
			cols = appendCol(cols, "org_name", "")
			cols = g.dobCol(cols, p, src, 70, &tags)
			gender := ""
			if g.r.p(80) {
				gender = map[bool]string{true: "F", false: "M"}[p.female]
			}
			cols = appendCol(cols, "gender", gender)
			cols = g.emailCol(cols, email, n, src, 90, 5, &tags)
			cols = g.phoneCol(cols, ph, src, 85, &tags)
			if g.r.p(92) {
				cols = appendCol(cols, "street", g.street(addr, &tags))
				cols = appendCol(cols, "city", places[addr.place].city)
				cols = appendCol(cols, "state", places[addr.place].state)
				cols = appendCol(cols, "postcode", addr.zip)
			} else {
				tags = append(tags, TagMissingAddress)
				cols = append(cols, Column{"street", ""}, Column{"city", ""}, Column{"state", ""}, Column{"postcode", ""})
			}
		case SourcePOS:
			cols = appendCol(cols, "full_name", g.fullName(n, swap, &tags))
			cols = appendCol(cols, "org_name", "")
			cols = g.phoneCol(cols, ph, src, 90, &tags)
			cols = g.emailCol(cols, email, n, src, 40, 0, &tags)
			zip := ""
			if g.r.p(60) {
				zip = addr.zip
			}
			cols = appendCol(cols, "postcode", zip)
			cols = g.dobCol(cols, p, src, 20, &tags)
		case SourceWeb:
			first, last := n.first, n.last
			if swap {
				first, last = last, first
			}
			if n.suffix != "" && g.r.p(25) {
				last += " " + n.suffix
				tags = append(tags, TagGenerationMarked)
			}
			if !g.r.p(85) {
				first, last = "", ""
				tags = append(tags, TagMissingName)
			}
			cols = appendCol(cols, "first_name", first)
			cols = appendCol(cols, "last_name", last)
			cols = g.emailCol(cols, email, n, src, 100, 15, &tags)
			cols = g.phoneCol(cols, ph, src, 50, &tags)
			cols = g.dobCol(cols, p, src, 40, &tags)
			one := ""
			if g.r.p(55) {
				pl := places[addr.place]
				one = g.street(addr, &tags) + ", " + pl.city + ", " + pl.state + " " + addr.zip
				tags = append(tags, TagAddressOneLine)
			}
			cols = appendCol(cols, "address", one)
		case SourceSupport:
			full := ""
			switch {
			case g.r.p(10):
				full = n.first
				tags = append(tags, TagFirstNameOnly)
			case g.r.p(92):
				full = g.fullName(n, swap, &tags)
			default:
				tags = append(tags, TagMissingName)
			}
			cols = appendCol(cols, "full_name", full)
			cols = appendCol(cols, "org_name", "")
			cols = g.emailCol(cols, email, n, src, 85, 40, &tags)
			cols = g.phoneCol(cols, ph, src, 50, &tags)
		}
		g.data.Rows = append(g.data.Rows, CustomerRow{ID: g.rowID(src), Source: src, Entity: e.ID, Columns: cols, Tags: tags})
	}
}

func (g *cgen) fullName(n cname, swap bool, tags *[]string) string {
	first, last := n.first, n.last
	var s string
	switch {
	case swap:
		s = last + " " + first // family name first, no comma
	case g.r.p(25):
		s = last + ", " + first
	case n.middle != "" && g.r.p(30):
		s = first + " " + n.middle[:1] + ". " + last
	default:
		s = first + " " + last
	}
	if n.suffix != "" && g.r.p(60) {
		s += " " + n.suffix + "."
		*tags = append(*tags, TagGenerationMarked)
	}
	if g.r.p(20) {
		s = strings.ToUpper(s)
	}
	return s
}

func (g *cgen) dobCol(cols []Column, p *cperson, src string, present int, tags *[]string) []Column {
	if !g.r.p(present) {
		*tags = append(*tags, TagMissingDOB)
		return appendCol(cols, "birth_date", "")
	}
	return appendCol(cols, "birth_date", g.formatDOB(p, src, tags))
}

func (g *cgen) emailCol(cols []Column, email string, n cname, src string, present, display int, tags *[]string) []Column {
	if email == "" || !g.r.p(present) {
		*tags = append(*tags, TagMissingEmail)
		return appendCol(cols, "email", "")
	}
	if g.r.p(display) && n.first != "" {
		*tags = append(*tags, TagEmailDisplay)
		if g.r.p(50) {
			email = fmt.Sprintf("%q <%s>", n.first+" "+n.last, email)
		} else {
			email = n.first + " " + n.last + " <" + email + ">"
		}
	} else if g.r.p(5) {
		*tags = append(*tags, TagEmailUpper)
		email = strings.ToUpper(email)
	}
	return appendCol(cols, "email", email)
}

func (g *cgen) phoneCol(cols []Column, ph *cphone, src string, present int, tags *[]string) []Column {
	if ph == nil || !g.r.p(present) {
		*tags = append(*tags, TagMissingPhone)
		return appendCol(cols, "phone", "")
	}
	return appendCol(cols, "phone", g.formatPhone(ph, src, tags))
}

func (g *cgen) orgRows(o *corg) {
	e := g.data.Entities[o.idx]
	for _, src := range g.sources([4]int{80, 20, 0, 50}, 10) {
		var tags []string
		name := o.names[0]
		if g.r.p(45) {
			name = o.names[1+g.r.n(len(o.names)-1)]
			tags = append(tags, TagOrgNameVariant)
		}
		var cols []Column
		switch src {
		case SourceCRM:
			cols = append(cols, Column{"first_name", ""}, Column{"middle_name", ""}, Column{"last_name", ""}, Column{"generation", ""})
			cols = appendCol(cols, "org_name", name)
			cols = append(cols, Column{"birth_date", ""}, Column{"gender", ""})
			cols = g.emailCol(cols, o.email, cname{}, src, 85, 0, &tags)
			cols = g.phoneCol(cols, o.phone, src, 90, &tags)
			cols = appendCol(cols, "street", g.street(o.addr, &tags))
			cols = appendCol(cols, "city", places[o.addr.place].city)
			cols = appendCol(cols, "state", places[o.addr.place].state)
			cols = appendCol(cols, "postcode", o.addr.zip)
		case SourcePOS, SourceWeb:
			full, org := "", name
			if g.r.p(50) {
				full, org = name, ""
				tags = append(tags, TagOrgInNameField)
			}
			cols = appendCol(cols, "full_name", full)
			cols = appendCol(cols, "org_name", org)
			cols = g.phoneCol(cols, o.phone, src, 90, &tags)
			cols = g.emailCol(cols, o.email, cname{}, src, 40, 0, &tags)
			cols = appendCol(cols, "postcode", o.addr.zip)
			cols = appendCol(cols, "birth_date", "")
			src = SourcePOS
		case SourceSupport:
			cols = appendCol(cols, "full_name", "")
			cols = appendCol(cols, "org_name", name)
			cols = g.emailCol(cols, o.email, cname{}, src, 90, 0, &tags)
			cols = g.phoneCol(cols, o.phone, src, 60, &tags)
		}
		g.data.Rows = append(g.data.Rows, CustomerRow{ID: g.rowID(src), Source: src, Entity: e.ID, Columns: cols, Tags: tags})
	}
}
