package profile

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"pgregory.net/rapid"

	"ucv/crdt"
	"ucv/crdt/codec"
)

// write is one trait value written by a source to a record.
type write struct {
	record, source, trait string
	val                   any
	at                    int // seconds after t0
}

// fragments applies ws, each to its record's profile, and returns the
// records' states and every delta in write order.
func fragments(ws []write) (map[string]*Profile, []*Profile) {
	ps := map[string]*Profile{}
	var ds []*Profile
	for i, w := range ws {
		p := ps[w.record]
		if p == nil {
			p = New(w.record)
			ps[w.record] = p
		}
		m := &Message{Kind: Identify, MessageID: fmt.Sprintf("m%d", i), Timestamp: t0, Traits: map[string]any{w.trait: w.val}}
		ts := crdt.Timestamp{Wall: t0.Add(time.Duration(w.at) * time.Second).UnixMilli(), Node: crdt.ReplicaID(i + 1)}
		ds = append(ds, p.Apply(m, nil, Source{Node: crdt.ReplicaID(i + 1), Name: w.source}, ts))
	}
	return ps, ds
}

// cluster joins deltas into one profile with ID id, in the order given.
func cluster(id string, ds []*Profile) *Profile {
	c := New(id)
	for _, d := range ds {
		d2 := d.Clone()
		d2.ID = id
		c.Merge(d2)
	}
	return c
}

type policies map[string]Policy

func (ps policies) PolicyFor(trait string) Policy { return ps[trait] }

func traitOf(t testing.TB, p *Profile, k string) any {
	t.Helper()
	b, ok := p.Traits.Get(k)
	if !ok {
		t.Fatalf("no trait %s", k)
	}
	v, err := codec.UnmarshalValue(b)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestSurvivePolicies: each policy picks its value among three records'
// writes, where last-writer-wins would take the (typo'd) latest.
func TestSurvivePolicies(t *testing.T) {
	ws := []write{
		// A CRM record says Katherine; the web typo comes later.
		{"crm-1001", "crm", "first_name", "Katherine", 1},
		{"web-1", "web", "first_name", "Katherin", 5},
		// Two records of three say Smith.
		{"crm-1001", "crm", "last_name", "Smith", 1},
		{"pos-7", "pos", "last_name", "Smith", 2},
		{"web-1", "web", "last_name", "Smiht", 6},
		// The longest address.
		{"crm-1001", "crm", "street", "12 Elm St", 1},
		{"pos-7", "pos", "street", "12 Elm Street, Apt 4", 2},
		{"web-1", "web", "street", "12 Elm", 7},
		// Numbers and dates for max and min.
		{"crm-1001", "crm", "loyalty_points", 1200, 1},
		{"pos-7", "pos", "loyalty_points", 1500.5, 2},
		{"web-1", "web", "loyalty_points", 900, 8},
		{"crm-1001", "crm", "customer_since", "2019-04-01", 1},
		{"web-1", "web", "customer_since", "2021-01-09", 9},
		// most_recent: the LWW choice.
		{"crm-1001", "crm", "plan", "gold", 1},
		{"web-1", "web", "plan", "silver", 9},
	}
	_, ds := fragments(ws)
	p := cluster("C", ds)
	pol := policies{
		"first_name":     {Name: PolicySourcePriority, Sources: []string{"crm", "pos"}},
		"last_name":      {Name: PolicyMostFrequent},
		"street":         {Name: PolicyLongest},
		"loyalty_points": {Name: PolicyMax},
		"customer_since": {Name: PolicyMin},
		"plan":           {Name: PolicyMostRecent},
	}
	want := map[string]any{
		"first_name": "Katherine", "last_name": "Smith", "street": "12 Elm Street, Apt 4",
		"loyalty_points": 1500.5, "customer_since": "2019-04-01", "plan": "silver",
	}
	// Without policies every trait is the latest write, typos included.
	if v := traitOf(t, p.Survive(nil), "first_name"); v != "Katherin" {
		t.Fatalf("LWW first_name = %v", v)
	}
	g := p.Survive(pol)
	for k, w := range want {
		if v := traitOf(t, g, k); fmt.Sprint(v) != fmt.Sprint(w) {
			t.Errorf("%s = %v, want %v", k, v, w)
		}
	}
	if !p.Equal(cluster("C", ds)) {
		t.Error("Survive changed the profile")
	}
	for _, w := range p.Winners(pol) {
		switch w.Trait {
		case "first_name":
			if w.Source != "crm" || w.Record != "crm-1001" || !strings.Contains(w.Reason, "ranked 1st") {
				t.Errorf("first_name winner %+v", w)
			}
		case "last_name":
			if w.Count != 2 || w.Candidates != 3 || !strings.Contains(w.Reason, "2 of 3") {
				t.Errorf("last_name winner %+v", w)
			}
		}
		if strings.Contains(w.Reason, "Katherine") || strings.Contains(w.Reason, "Smith") {
			t.Errorf("reason carries a value: %s", w.Reason)
		}
	}
	// A source not listed ranks after every listed one; a trait whose
	// listed sources are silent falls back to the most recent.
	q := cluster("C", ds[:2])
	if v := traitOf(t, q.Survive(policies{"first_name": {Name: PolicySourcePriority, Sources: []string{"web"}}}), "first_name"); v != "Katherin" {
		t.Errorf("web-first priority = %v", v)
	}
	if v := traitOf(t, q.Survive(policies{"first_name": {Name: PolicySourcePriority, Sources: []string{"erp"}}}), "first_name"); v != "Katherin" {
		t.Errorf("unlisted fallback = %v", v)
	}
}

// TestSurviveErasedCandidates: erasing an e-mail drops it from the
// candidates too, so no policy can bring it back.
func TestSurviveErasedCandidates(t *testing.T) {
	_, ds := fragments([]write{{"r1", "crm", "email", "old@example.com", 1}, {"r2", "web", "email", "new@example.com", 2}})
	p := cluster("C", ds)
	salt := []byte("s")
	p.EraseIdentifier(salt, Identifier{Type: Email, Value: "old@example.com"}, crdt.Timestamp{Wall: t0.Add(time.Hour).UnixMilli()})
	for _, c := range p.CandidatesOf("email") {
		if strings.Contains(string(c.Val), "old@") {
			t.Fatalf("erased e-mail still a candidate: %+v", c)
		}
	}
	if v := traitOf(t, p.Survive(policies{"email": {Name: PolicySourcePriority, Sources: []string{"crm"}}}), "email"); v != "new@example.com" {
		t.Errorf("email = %v", v)
	}
}

// TestCandidateCapIsJoin: capping the candidates per (trait, source) to
// the newest keeps merge a join: any grouping and order of merges, with
// repeats, gives the cap of all writes.
func TestCandidateCapIsJoin(t *testing.T) {
	const k = 2
	join := func(a, b crdt.LWWMap) crdt.LWWMap {
		c := a.Clone()
		c.Merge(b)
		return capCandidates(c, k)
	}
	rapid.Check(t, func(t *rapid.T) {
		var states []crdt.LWWMap
		all := crdt.LWWMap{}
		for range rapid.IntRange(1, 6).Draw(t, "states") {
			s := crdt.LWWMap{}
			for range rapid.IntRange(0, 8).Draw(t, "writes") {
				key := candidateKey(rapid.SampledFrom([]string{"a", "b"}).Draw(t, "trait"),
					rapid.SampledFrom([]string{"crm", "web"}).Draw(t, "source"),
					rapid.SampledFrom([]string{"r1", "r2", "r3", "r4"}).Draw(t, "record"))
				r := crdt.Register{TS: crdt.Timestamp{Wall: int64(rapid.IntRange(0, 20).Draw(t, "ts"))}, Val: []byte{byte(rapid.IntRange(0, 3).Draw(t, "v"))}}
				s.Merge(crdt.LWWMap{M: map[string]crdt.Register{key: r}})
				all.Merge(crdt.LWWMap{M: map[string]crdt.Register{key: r}})
			}
			states = append(states, capCandidates(s, k))
		}
		want := capCandidates(all, k)
		perm := rapid.Permutation(states).Draw(t, "order")
		got := crdt.LWWMap{}
		for _, s := range perm {
			got = join(got, s)
			got = join(got, s) // idempotent
		}
		if !got.Equal(want) {
			t.Fatalf("joined %v, want %v", got.M, want.M)
		}
		if len(states) >= 3 {
			a, b, c := states[0], states[1], states[2]
			if !join(join(a, b), c).Equal(join(a, join(b, c))) || !join(a, b).Equal(join(b, a)) {
				t.Fatal("not associative or commutative")
			}
		}
	})
}

// TestSurviveArrivalOrder: replicas that receive the same writes in any
// order, any grouping, with repeats, show the same golden record under
// every policy.
func TestSurviveArrivalOrder(t *testing.T) {
	pol := policies{
		"a": {Name: PolicySourcePriority, Sources: []string{"crm", "pos"}},
		"b": {Name: PolicyMostFrequent},
		"c": {Name: PolicyLongest},
		"d": {Name: PolicyMax},
		"e": {Name: PolicyMin},
	}
	rapid.Check(t, func(t *rapid.T) {
		var ws []write
		for i := range rapid.IntRange(1, 40).Draw(t, "writes") {
			ws = append(ws, write{
				record: rapid.SampledFrom([]string{"r1", "r2", "r3"}).Draw(t, "record"),
				source: rapid.SampledFrom([]string{"crm", "pos", "web", ""}).Draw(t, "source"),
				trait:  rapid.SampledFrom([]string{"a", "b", "c", "d", "e", "f"}).Draw(t, "trait"),
				val:    rapid.SampledFrom([]any{"x", "xy", "Xyz", 3, 4.5, -1, true, nil}).Draw(t, "val"),
				at:     rapid.IntRange(0, 5).Draw(t, "at") + i,
			})
		}
		_, ds := fragments(ws)
		want := cluster("C", ds).Survive(pol)
		for range 2 {
			order := rapid.Permutation(ds).Draw(t, "order")
			order = append(order, order[:rapid.IntRange(0, len(order)).Draw(t, "repeat")]...)
			got := cluster("C", order).Survive(pol)
			if string(got.TraitsJSON()) != string(want.TraitsJSON()) {
				t.Fatalf("traits %s, want %s", got.TraitsJSON(), want.TraitsJSON())
			}
		}
		// Joined (the hub's persistent join) agrees with Merge.
		j := New("C")
		for _, d := range slices.Backward(ds) {
			d2 := d.Clone()
			d2.ID = "C"
			j = j.Join(d2)
		}
		if string(j.Survive(pol).TraitsJSON()) != string(want.TraitsJSON()) || !j.Candidates.Equal(cluster("C", ds).Candidates) {
			t.Fatalf("Join: traits %s, want %s", j.Survive(pol).TraitsJSON(), want.TraitsJSON())
		}
	})
}

// TestCandidatesStayCapped: whatever mix of identifies (several sources)
// and merges of other profiles (other records) a profile takes, its
// candidates are always capped — capCandidates returns them unchanged —
// so skipping the cap when a join adds no key (mergeCandidates) keeps
// exactly what capping every time kept.
func TestCandidatesStayCapped(t *testing.T) {
	clk := crdt.NewClock(1, func() time.Time { return t0 }, time.Second, crdt.Timestamp{})
	reached := 0
	rapid.Check(t, func(t *rapid.T) {
		var ids []string // more records than MaxCandidates for one trait and source
		for i := range 3 * MaxCandidates {
			ids = append(ids, fmt.Sprintf("p%02d", i))
		}
		identify := func(p *Profile, label string) {
			m, err := ParseMessage([]byte(`{"type":"identify","userId":"u1","messageId":"`+label+`"}`), "", t0, ParseOptions{})
			if err != nil {
				t.Fatal(err)
			}
			m.Traits = map[string]any{}
			for range rapid.IntRange(1, 2).Draw(t, label+"-traits") {
				m.Traits[rapid.SampledFrom([]string{"name", "city"}).Draw(t, label+"-trait")] = rapid.SampledFrom([]string{"a", "b", "c"}).Draw(t, label+"-value")
			}
			p.Apply(m, nil, Source{Node: 1, Name: rapid.SampledFrom([]string{"crm", "pos"}).Draw(t, label+"-source")}, clk.Now())
		}
		p := New(ids[0])
		overs := 0
		for i := range rapid.IntRange(1, 60).Draw(t, "steps") {
			label := fmt.Sprintf("m%d", i)
			if rapid.Bool().Draw(t, "merge") {
				o := New(rapid.SampledFrom(ids[1:]).Draw(t, label+"-other"))
				identify(o, label+"o")
				o.ID = p.ID // merged in as an absorbed profile's state
				p.Merge(o)
			} else {
				identify(p, label)
			}
			if capped := capCandidates(p.Candidates, MaxCandidates); !capped.Equal(p.Candidates) {
				t.Fatalf("step %d: candidates over the cap: %d held, %d capped", i, len(p.Candidates.M), len(capped.M))
			}
			if len(p.Candidates.M) >= MaxCandidates {
				overs++
			}
		}
		reached += overs
	})
	if reached == 0 {
		t.Fatal("no run held as many candidates as the cap: the check checked nothing")
	}
}
