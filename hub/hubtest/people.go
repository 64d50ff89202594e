package hubtest

import (
	"fmt"

	"ucv/profile"
)

var (
	givenNames = []string{"anna", "ben", "clara", "david", "emma", "felix", "grace", "henry", "isla", "jack",
		"karen", "liam", "maria", "noah", "olivia", "peter", "quinn", "rosa", "sam", "tara", "uma", "victor",
		"wendy", "xavier", "yara", "zoe", "alice", "bruno", "chloe", "diego", "elena", "frank"}
	familyNames = []string{"smith", "jones", "brown", "taylor", "wilson", "evans", "thomas", "roberts", "walker",
		"wright", "hall", "green", "wood", "clark", "hill", "lewis", "king", "baker", "adams", "moore", "turner",
		"parker", "cooper", "ward", "morris", "bell", "cook", "price", "bennett", "gray", "hughes", "foster",
		"fisher", "hayes", "marsh", "nolan", "owens", "pearce", "quigley", "rowe"}
	towns = []string{"leeds", "york", "bath", "hull", "derby", "wells", "ripon", "truro", "ely", "perth",
		"bangor", "exeter", "lincoln", "durham", "salford", "preston"}
)

// People returns n Identify events of distinct profiles (IDs
// "<prefix>00001"…) describing synthetic people, about a third of them a
// second record of an earlier person with a typo or a missing field —
// the duplicates self-training learns from. The same arguments give the
// same events.
func People(seed uint64, prefix string, n int) []Event {
	rng := seed*0x9e3779b97f4a7c15 + 1
	next := func(k int) int {
		rng += 0x9e3779b97f4a7c15
		z := rng
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
		z = (z ^ (z >> 27)) * 0x94d049bb133111eb
		return int((z ^ (z >> 31)) % uint64(k))
	}
	type person map[string]any
	var people []person
	out := make([]Event, 0, n)
	for i := range n {
		var tr person
		if len(people) > 0 && next(3) == 0 {
			src := people[next(len(people))]
			tr = person{}
			for k, v := range src {
				tr[k] = v
			}
			switch next(4) {
			case 0: // a typo in the given name
				s := tr["firstName"].(string)
				tr["firstName"] = s[:len(s)-1] + "e"
			case 1:
				delete(tr, "postalCode")
			case 2:
				delete(tr, "birthday")
			case 3:
				delete(tr, "email")
			}
		} else {
			first, last := givenNames[next(len(givenNames))], familyNames[next(len(familyNames))]
			tr = person{
				"firstName":  first,
				"lastName":   last,
				"birthday":   fmt.Sprintf("19%02d-%02d-%02d", 30+next(70), 1+next(12), 1+next(28)),
				"city":       towns[next(len(towns))],
				"postalCode": fmt.Sprintf("ab%d %d%c%c", next(99), next(10), 'a'+rune(next(26)), 'a'+rune(next(26))),
				"email":      fmt.Sprintf("%s.%s%d@example.com", first, last, next(1000)),
			}
			people = append(people, tr)
		}
		ev := Event{Profile: fmt.Sprintf("%s%05d", prefix, i+1), Kind: profile.Identify, Traits: map[string]any{}}
		for k, v := range tr {
			if k == "email" {
				ev.IDs = []profile.Identifier{Email(v.(string))}
			} else {
				ev.Traits[k] = v
			}
		}
		out = append(out, ev)
	}
	return out
}
