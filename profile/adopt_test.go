package profile

import (
	"bytes"
	"fmt"
	"reflect"
	"testing"

	"pgregory.net/rapid"

	"ucv/crdt"
)

// drawDelta draws a raw profile state, canonical or not: what an edge's
// delta (or a malformed one) may decode to — zero registers, empty or
// unsorted dot lists, zero dots and vector entries, context clouds,
// non-nil empty maps, candidates over MaxCandidates, timelines over
// TimelineCap, erased, retained.
func drawDelta(t *rapid.T) *Profile {
	small := func(label string, n int) int { return rapid.IntRange(0, n).Draw(t, label) }
	ts := func() crdt.Timestamp {
		return crdt.Timestamp{Wall: int64(small("wall", 3)), Logical: uint32(small("logical", 1)), Node: crdt.ReplicaID(small("node", 2))}
	}
	val := func() []byte {
		switch small("valkind", 3) {
		case 0:
			return nil
		case 1:
			return []byte{}
		default:
			return []byte{byte(small("val", 2))}
		}
	}
	lww := func(keys []string) crdt.LWWMap {
		switch small("lwwkind", 5) {
		case 0:
			return crdt.LWWMap{}
		case 1:
			return crdt.LWWMap{M: map[string]crdt.Register{}}
		}
		m := map[string]crdt.Register{}
		for range small("regs", 6) {
			m[rapid.SampledFrom(keys).Draw(t, "key")] = crdt.Register{TS: ts(), Val: val()}
		}
		return crdt.LWWMap{M: m}
	}
	gset := func() crdt.GSet {
		switch small("gsetkind", 3) {
		case 0:
			return crdt.GSet{}
		case 1:
			return crdt.GSet{M: map[string]struct{}{}}
		}
		m := map[string]struct{}{}
		for range small("elems", 4) {
			m[fmt.Sprint("e", small("elem", 5))] = struct{}{}
		}
		return crdt.GSet{M: m}
	}
	dot := func() crdt.Dot {
		return crdt.Dot{Replica: crdt.ReplicaID(small("rep", 2)), Seq: uint64(small("seq", 3))}
	}
	orset := func() crdt.ORSet {
		var s crdt.ORSet
		if rapid.Bool().Draw(t, "entries") {
			s.Entries = map[string][]crdt.Dot{}
			for range small("nentries", 3) {
				var ds []crdt.Dot
				for range small("ndots", 3) {
					ds = append(ds, dot())
				}
				s.Entries[fmt.Sprint("email:", small("who", 4))] = ds
			}
		}
		if rapid.Bool().Draw(t, "vv") {
			s.Ctx.VV = map[crdt.ReplicaID]uint64{}
			for range small("nvv", 3) {
				s.Ctx.VV[crdt.ReplicaID(small("vvrep", 2))] = uint64(small("vvseq", 3))
			}
		}
		if rapid.Bool().Draw(t, "cloud") {
			s.Ctx.Cloud = map[crdt.Dot]struct{}{}
			for range small("ncloud", 3) {
				s.Ctx.Cloud[dot()] = struct{}{}
			}
		}
		return s
	}
	mx := func(label string) crdt.Max {
		return crdt.Max{V: int64(small(label, 5)), Set: rapid.Bool().Draw(t, label+"set")}
	}
	p := &Profile{ID: "P1", Version: ts()}
	p.Traits = lww([]string{"plan", "email", "name"})
	p.Consent = lww([]string{"email", "sms"})
	p.Merges = lww([]string{"P2", "P3"})
	var cands []string
	for rec := range MaxCandidates + 3 {
		cands = append(cands, candidateKey("plan", "crm", fmt.Sprint("R", rec)), candidateKey("name", "", fmt.Sprint("R", rec)))
	}
	p.Candidates = lww(cands)
	if small("manycands", 3) == 0 { // over MaxCandidates in one group
		p.Candidates = crdt.LWWMap{M: map[string]crdt.Register{}}
		for i, k := range cands {
			p.Candidates.M[k] = crdt.Register{TS: crdt.Timestamp{Wall: int64(i % 4)}, Val: []byte{byte(i)}}
		}
	}
	p.Identities = orset()
	p.Channels = gset()
	p.Tombstones = crdt.Tombstones{Keys: gset()}
	for range small("counters", 3) {
		var c crdt.PNCounter
		for range small("pns", 2) {
			c.Entries = append(c.Entries, crdt.PN{Replica: crdt.ReplicaID(small("pnrep", 2)), P: uint64(small("p", 2)), N: uint64(small("n", 1))})
		}
		p.Counters.Entries = append(p.Counters.Entries, crdt.CounterEntry{Key: fmt.Sprint("k", small("ckey", 3)), Counter: c})
	}
	items := small("items", 3)
	if small("longtimeline", 4) == 0 {
		items = TimelineCap + 5
	}
	for i := range items {
		p.Timeline.Items = append(p.Timeline.Items, crdt.Item{ID: fmt.Sprint("m", small("itemid", items)), Time: int64(small("itemtime", 8)), Data: []byte{byte(i)}})
	}
	for i := range small("ledger", 4) {
		p.Ledger.Entries = append(p.Ledger.Entries, crdt.LedgerEntry{Key: uint64(small("lkey", 5)), Time: int64(small("ltime", 8)) - 1, Data: []byte{byte(i)}})
	}
	if p.Ledger.Entries == nil && small("emptyledger", 2) == 0 {
		p.Ledger.Entries = []crdt.LedgerEntry{}
	}
	if p.Timeline.Items == nil && small("emptytimeline", 2) == 0 {
		p.Timeline.Items = []crdt.Item{}
	}
	p.FirstSeen = crdt.Min{V: int64(small("first", 5)), Set: rapid.Bool().Draw(t, "firstset")}
	p.LastSeen, p.LastOrder = mx("last"), mx("order")
	p.Retained = mx("retained")
	if small("erased", 5) == 0 {
		p.Erased = crdt.Max{V: 1, Set: true}
	}
	return p
}

// TestAdoptIsJoinIntoEmpty: Adopt(d) is exactly New(d.ID).Join(d) —
// deep-equal, nil maps and slices included, and the same encoding — and
// leaves d as it was, for canonical and malformed deltas alike, raw and
// after a round trip through the wire encoding.
func TestAdoptIsJoinIntoEmpty(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		d := drawDelta(t)
		if rapid.Bool().Draw(t, "roundtrip") {
			// What the wire admits (the decoder refuses some malformed
			// states; those stay raw).
			if b, err := d.Marshal(); err == nil {
				if rd, err := Unmarshal(b); err == nil {
					d = rd
				}
			}
		}
		before := cloneDeep(t, d)
		want := New(d.ID).Join(d)
		got := Adopt(d)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("Adopt(d) =\n%#v\nNew(id).Join(d) =\n%#v", got, want)
		}
		if !got.Equal(want) {
			t.Fatal("Adopt(d) is not Equal to New(id).Join(d)")
		}
		gb, err1 := got.Marshal()
		wb, err2 := want.Marshal()
		if err1 != nil || err2 != nil || !bytes.Equal(gb, wb) {
			t.Fatalf("encodings differ (%v, %v)", err1, err2)
		}
		if !reflect.DeepEqual(d, before) {
			t.Fatal("Adopt changed its argument")
		}
	})
}

// cloneDeep copies p field by field (Clone normalises, which would hide
// a change to p).
func cloneDeep(t *rapid.T, p *Profile) *Profile {
	c := *p
	c.Traits, c.Consent, c.Merges, c.Candidates = cloneLWW(p.Traits), cloneLWW(p.Consent), cloneLWW(p.Merges), cloneLWW(p.Candidates)
	c.Identities = p.Identities.Clone()
	if p.Identities.Entries != nil && len(p.Identities.Entries) == 0 {
		c.Identities.Entries = map[string][]crdt.Dot{}
	}
	for e, ds := range p.Identities.Entries {
		if ds == nil {
			c.Identities.Entries[e] = nil
		}
	}
	c.Channels, c.Tombstones.Keys = cloneGSet(p.Channels), cloneGSet(p.Tombstones.Keys)
	c.Counters = p.Counters.Clone()
	if p.Timeline.Items != nil {
		c.Timeline.Items = append([]crdt.Item{}, p.Timeline.Items...)
	}
	if p.Ledger.Entries != nil {
		c.Ledger.Entries = append([]crdt.LedgerEntry{}, p.Ledger.Entries...)
	}
	if !reflect.DeepEqual(&c, p) {
		t.Fatalf("cloneDeep lost something:\n%#v\n%#v", &c, p)
	}
	return &c
}

func cloneLWW(m crdt.LWWMap) crdt.LWWMap {
	if m.M == nil {
		return m
	}
	c := crdt.LWWMap{M: map[string]crdt.Register{}}
	for k, r := range m.M {
		c.M[k] = r
	}
	return c
}

func cloneGSet(g crdt.GSet) crdt.GSet {
	if g.M == nil {
		return g
	}
	c := crdt.GSet{M: map[string]struct{}{}}
	for k := range g.M {
		c.M[k] = struct{}{}
	}
	return c
}

// TestUnmarshalValuesOutliveThePooledDecoder: Unmarshal's decoders come
// from a pool; a profile decoded earlier must not change when the
// decoder is reused for others, here concurrently too.
func TestUnmarshalValuesOutliveThePooledDecoder(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		var bs [][]byte
		for range 4 {
			if b, err := drawDelta(t).Marshal(); err == nil {
				bs = append(bs, b)
			}
		}
		if len(bs) == 0 {
			return
		}
		first, err := Unmarshal(bs[0])
		if err != nil {
			return // a state the decoder refuses
		}
		want, err := first.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		for range 2 {
			go func() {
				defer func() { done <- struct{}{} }()
				for range 3 {
					for _, b := range bs[1:] {
						_, _ = Unmarshal(b)
					}
				}
			}()
		}
		<-done
		<-done
		again, err := first.Marshal()
		if err != nil || !bytes.Equal(again, want) {
			t.Fatalf("a decoded profile changed after its decoder was reused (%v)", err)
		}
	})
}

// UnmarshalIdentity reads the ID, version, traits, identities and
// erasure mark that Unmarshal reads, and Adopt of either gives the same
// traits, identities and erasure: what the hub's restore builds a
// fragment's identity record from.
func TestUnmarshalIdentityIsUnmarshal(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		p := drawDelta(t)
		b, err := p.Marshal()
		if err != nil {
			t.Skip(err)
		}
		full, err := Unmarshal(b)
		if err != nil {
			t.Skip(err) // a delta Marshal writes but Unmarshal refuses (malformed)
		}
		part, err := UnmarshalIdentity(b)
		if err != nil {
			t.Fatalf("UnmarshalIdentity: %v (Unmarshal read it)", err)
		}
		same := func(what string, a, b *Profile) {
			if a.ID != b.ID || a.Version != b.Version || !reflect.DeepEqual(a.Traits, b.Traits) ||
				!reflect.DeepEqual(a.Identities, b.Identities) || a.Erased != b.Erased {
				t.Fatalf("%s differ:\nfull %+v\npart %+v", what, a, b)
			}
		}
		same("decoded", full, part)
		same("adopted", Adopt(full), Adopt(part))
	})
}
