package identity

import (
	"fmt"

	hid "ucv/hub/identity"
)

// Generator makes synthetic customer records for load tests: people with
// FEBRL-like fields and noisy duplicates (typos, missing values, nicknames,
// swapped day and month). It is deterministic for a seed. It has no
// ground truth API on purpose; it exists to measure speed, not accuracy.
type Generator struct {
	s    uint64
	next int
	// people seen so far, so later records can be duplicates of them.
	people []genPerson
}

type genPerson struct {
	first, last, dob, street, city, postcode, nid string
}

// NewGenerator returns a Generator seeded with seed.
func NewGenerator(seed uint64) *Generator { return &Generator{s: seed} }

func (g *Generator) rand() uint64 {
	g.s += 0x9e3779b97f4a7c15
	z := g.s
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

func (g *Generator) pick(s []string) string { return s[g.rand()%uint64(len(s))] }

var (
	genFirst = []string{"james", "mary", "robert", "patricia", "john", "jennifer", "michael", "linda", "david",
		"elizabeth", "william", "barbara", "richard", "susan", "joseph", "jessica", "thomas", "sarah",
		"charles", "karen", "chloe", "liam", "olivia", "noah", "emma", "ava", "mia", "lucas", "ethan", "zoe",
		"harper", "jack", "isla", "oscar", "ruby", "leo", "grace", "archie", "ivy", "henry", "aisha", "omar",
		"wei", "yuki", "priya", "arjun", "fatima", "mateo", "sofia", "lena"}
	genSyll = []string{"an", "ber", "cas", "dor", "el", "fin", "gar", "hol", "ing", "jor", "kel", "lan", "mor",
		"nor", "ost", "par", "quin", "ros", "sel", "tor", "ul", "ver", "wil", "yor", "zan", "ton", "son", "ley"}
	genStreet = []string{"street", "road", "avenue", "place", "crescent", "circuit", "lane", "court"}
	genCity   = []string{"springfield", "riverside", "fairview", "madison", "georgetown", "salem", "franklin",
		"clinton", "greenville", "bristol", "oxford", "dover", "hudson", "milton", "newport", "ashland"}
)

func (g *Generator) person() genPerson {
	last := g.pick(genSyll) + g.pick(genSyll) + g.pick(genSyll)
	return genPerson{
		first:    g.pick(genFirst),
		last:     last,
		dob:      fmt.Sprintf("%04d%02d%02d", 1930+g.rand()%80, 1+g.rand()%12, 1+g.rand()%28),
		street:   fmt.Sprintf("%d %s%s %s", 1+g.rand()%300, g.pick(genSyll), g.pick(genSyll), g.pick(genStreet)),
		city:     g.pick(genCity),
		postcode: fmt.Sprintf("%04d", 2000+g.rand()%7000),
		nid:      fmt.Sprintf("%07d", g.rand()%10_000_000),
	}
}

func (g *Generator) noisy(s string) string {
	switch g.rand() % 12 {
	case 0:
		return ""
	case 1:
		if len(s) > 2 {
			b := []byte(s)
			i := g.rand() % uint64(len(b))
			b[i] = byte('a' + g.rand()%26)
			return string(b)
		}
	}
	return s
}

// Records returns the next n records: about 70% new people, 30% noisy
// copies of people generated earlier.
func (g *Generator) Records(n int) []hid.Record {
	out := make([]hid.Record, n)
	for i := range out {
		var p genPerson
		if len(g.people) > 0 && g.rand()%10 < 3 {
			p = g.people[g.rand()%uint64(len(g.people))]
			p.first, p.last, p.street, p.city = g.noisy(p.first), g.noisy(p.last), g.noisy(p.street), g.noisy(p.city)
			if g.rand()%10 == 0 && len(p.dob) == 8 {
				p.dob = p.dob[:4] + p.dob[6:8] + p.dob[4:6]
			}
		} else {
			p = g.person()
			g.people = append(g.people, p)
		}
		out[i] = hid.Record{ID: fmt.Sprintf("g%09d", g.next), Fields: []hid.Field{
			{Kind: hid.FirstName, Value: p.first}, {Kind: hid.LastName, Value: p.last},
			{Kind: hid.BirthDate, Value: p.dob}, {Kind: hid.Address, Value: p.street},
			{Kind: hid.City, Value: p.city}, {Kind: hid.Postcode, Value: p.postcode},
			{Kind: hid.NationalID, Value: g.noisy(p.nid)},
		}}
		g.next++
	}
	return out
}
