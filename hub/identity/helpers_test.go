package identity

import (
	"fmt"
	"sync"
	"testing"
)

var (
	firstNames = []string{"robert", "mary", "john", "patricia", "michael", "linda", "william", "elizabeth",
		"david", "barbara", "richard", "susan", "joseph", "jessica", "thomas", "sarah", "charles", "karen",
		"daniel", "nancy", "matthew", "lisa", "anthony", "betty", "mark", "margaret", "paul", "sandra", "steven", "ashley"}
	lastNames = []string{"smith", "johnson", "williams", "brown", "jones", "garcia", "miller", "davis",
		"rodriguez", "martinez", "hernandez", "lopez", "gonzalez", "wilson", "anderson", "taylor", "moore",
		"jackson", "martin", "lee", "perez", "thompson", "white", "harris", "sanchez", "clark", "ramirez",
		"lewis", "robinson", "walker", "young", "allen", "king", "wright", "scott", "torres", "nguyen", "hill"}
	cities = []string{"springfield", "riverside", "fairview", "madison", "georgetown", "salem", "franklin", "clinton"}
)

// person is a synthetic true identity.
type person struct {
	first, last, dob, city, postcode, nid, email, phone string
}

func synthPerson(rng *splitmix64, i int) person {
	f := firstNames[rng.next()%uint64(len(firstNames))]
	l := lastNames[rng.next()%uint64(len(lastNames))]
	return person{
		first: f, last: l,
		dob:      fmt.Sprintf("%04d-%02d-%02d", 1940+rng.next()%60, 1+rng.next()%12, 1+rng.next()%28),
		city:     cities[rng.next()%uint64(len(cities))],
		postcode: fmt.Sprintf("%05d", 10000+rng.next()%500),
		nid:      fmt.Sprintf("%09d", rng.next()%1e9),
		email:    fmt.Sprintf("%s.%s%d@example.com", f, l, i),
		phone:    fmt.Sprintf("+1415555%04d", i%10000),
	}
}

// typo replaces one letter of s.
func typo(rng *splitmix64, s string) string {
	if len(s) < 2 {
		return s
	}
	b := []byte(s)
	i := int(rng.next() % uint64(len(b)))
	if b[i] >= '0' && b[i] <= '9' {
		b[i] = byte('0' + rng.next()%10)
	} else {
		b[i] = byte('a' + rng.next()%26)
	}
	return string(b)
}

// synthRecord is a noisy copy of p: fields dropped or mistyped at random.
func synthRecord(rng *splitmix64, id string, p person) Record {
	maybe := func(v string) string {
		switch rng.next() % 10 {
		case 0:
			return ""
		case 1:
			return typo(rng, v)
		}
		return v
	}
	r := Record{ID: id, Fields: []Field{
		{Kind: FirstName, Value: maybe(p.first)},
		{Kind: LastName, Value: maybe(p.last)},
		{Kind: BirthDate, Value: maybe(p.dob)},
		{Kind: City, Value: maybe(p.city)},
		{Kind: Postcode, Value: maybe(p.postcode)},
		{Kind: NationalID, Value: maybe(p.nid)},
	}}
	if rng.next()%3 == 0 {
		r.Fields = append(r.Fields, Field{Kind: Email, Value: p.email})
	}
	if rng.next()%4 == 0 {
		r.Fields = append(r.Fields, Field{Kind: Phone, Value: p.phone})
	}
	return r
}

// synth returns n records of about n/3 people and the true person of each.
func synth(seed uint64, n int) ([]Record, map[string]int) {
	rng := splitmix64(seed)
	people := make([]person, n/3+1)
	for i := range people {
		people[i] = synthPerson(&rng, i)
	}
	truth := map[string]int{}
	recs := make([]Record, n)
	for i := range recs {
		pi := int(rng.next() % uint64(len(people)))
		id := fmt.Sprintf("r%05d", i)
		recs[i] = synthRecord(&rng, id, people[pi])
		truth[id] = pi
	}
	return recs, truth
}

var (
	testModelOnce sync.Once
	testModelVal  *Model
)

// testModel is a Model trained once on 3,000 synthetic records.
func testModel(tb testing.TB) *Model {
	tb.Helper()
	testModelOnce.Do(func() {
		recs, _ := synth(42, 3000)
		m, err := Train(recs, DefaultConfig())
		if err != nil {
			panic(err)
		}
		testModelVal = m
	})
	return testModelVal
}

// prepDefault prepares r under the default configuration and identity
// rules, as the index would.
func prepDefault(r Record) *prep {
	cfg := withDefaultRules(DefaultConfig())
	return prepare(r, cfg.Rules, cfg.Region, cfg.DateOrder)
}
