package profile

import (
	"fmt"
	"testing"
	"time"

	"ucv/crdt"
)

// benchProfile builds the reference profile of the foundation issue: 50
// traits, 5 identities and 100 timeline events (analytics.js-style
// messageIds), written by two tills.
func benchProfile(tb testing.TB, seed int) *Profile {
	tb.Helper()
	clk := crdt.NewClock(crdt.ReplicaID(seed+1), func() time.Time { return t0 }, time.Second, crdt.Timestamp{})
	p := New("01J9ZC3M6W4Q8YV2T0XK5N7RBD")
	traits := map[string]any{}
	for i := range 50 {
		switch i % 3 {
		case 0:
			traits[fmt.Sprintf("trait_%02d", i)] = fmt.Sprintf("value-%d-%d", i, seed)
		case 1:
			traits[fmt.Sprintf("trait_%02d", i)] = i * 7
		default:
			traits[fmt.Sprintf("trait_%02d", i)] = i%2 == 0
		}
	}
	delete(traits, "trait_48")
	delete(traits, "trait_49")
	traits["email"] = "ann.lee@example.com"
	traits["phone"] = "+14155552671"
	id := fmt.Sprintf(`{"type":"identify","userId":"u-%d","anonymousId":"anon-8f14e45f","traits":{}, "context":{"device":{"id":"dev-c9f0f895"}}}`, seed)
	m := msg(tb, id)
	m.Traits = traits
	m.Identifiers = append(m.Identifiers, Identifier{Email, "ann.lee@example.com"}, Identifier{Phone, "+14155552671"})
	p.Apply(m, m.Identifiers, Source{Node: crdt.ReplicaID(seed + 1), Name: "till-1"}, clk.Now())
	events := []string{"Product Viewed", "Product Added", "Checkout Started", "Order Completed"}
	for i := range 100 {
		body := fmt.Sprintf(`{"type":"track","userId":"u-%d","event":%q,"messageId":"ajs-next-%032x","timestamp":"2026-02-%02dT10:%02d:00Z","properties":{"category":"cat-%d","total":%d.99}}`,
			seed, events[i%4], seed*1000+i, 1+i%28, i%60, i%5, i)
		p.Apply(msg(tb, body), nil, Source{Node: crdt.ReplicaID(seed + 1 + i%2), Name: "till-1"}, clk.Now())
	}
	return p
}

func BenchmarkProfileMerge(b *testing.B) {
	x, y := benchProfile(b, 1), benchProfile(b, 2)
	b.ReportAllocs()
	for b.Loop() {
		z := x.Clone()
		z.Merge(y)
	}
}

func BenchmarkProfileEncode(b *testing.B) {
	p := benchProfile(b, 1)
	enc, _ := p.Marshal()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := p.Marshal(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(enc)), "bytes/profile")
}

func BenchmarkProfileDecode(b *testing.B) {
	enc, _ := benchProfile(b, 1).Marshal()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Unmarshal(enc); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(enc)), "bytes/profile")
}

// TestReferenceProfileSize pins the size budget of the reference profile.
func TestReferenceProfileSize(t *testing.T) {
	p := benchProfile(t, 1)
	enc, err := p.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Traits.Keys()) != 50 || p.Identities.Len() != 5 || len(p.Timeline.Items) != 100 {
		t.Fatalf("reference profile has %d traits, %d identities, %d events", len(p.Traits.Keys()), p.Identities.Len(), len(p.Timeline.Items))
	}
	if len(enc) > 8<<10 {
		t.Fatalf("encoded reference profile = %d bytes, budget 8192", len(enc))
	}
}

// BenchmarkSurvivorship measures what survivorship candidates cost on
// the reference profile (50 traits): encoding size, merge, decode, and
// rendering the golden record under a most_frequent default — against
// the same profile without candidates (as before 0045).
func BenchmarkSurvivorship(b *testing.B) {
	with, other := benchProfile(b, 1), benchProfile(b, 2)
	without, otherWithout := with.Clone(), other.Clone()
	without.Candidates, otherWithout.Candidates = crdt.LWWMap{}, crdt.LWWMap{}
	for _, c := range []struct {
		name string
		p, o *Profile
	}{{"candidates", with, other}, {"none", without, otherWithout}} {
		enc, _ := c.p.Marshal()
		b.Run("merge/"+c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				z := c.p.Clone()
				z.Merge(c.o)
			}
			b.ReportMetric(float64(len(enc)), "bytes/profile")
		})
		b.Run("encode/"+c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.p.Marshal(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(enc)), "bytes/profile")
		})
		b.Run("decode/"+c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Unmarshal(enc); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	joined := with.Clone()
	joined.Merge(other)
	b.Run("render/most_recent", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = joined.Survive(nil).TraitsJSON()
		}
	})
	// Three more records from three sources each write every trait: 4
	// candidates a trait.
	multi := joined.Clone()
	for i, src := range []string{"crm", "web", "pos"} {
		r := New(fmt.Sprintf("record-%d", i))
		m := msg(b, `{"type":"identify","userId":"u-1","messageId":"x","traits":{}}`)
		m.Traits = map[string]any{}
		for _, k := range joined.Traits.Keys() {
			m.Traits[k] = fmt.Sprintf("%s-%d", k, i%2)
		}
		d := r.Apply(m, nil, Source{Node: 9, Name: src}, crdt.Timestamp{Wall: t0.UnixMilli() + int64(i), Node: 9})
		d.ID = multi.ID
		multi.Merge(d)
	}
	for _, pol := range []string{PolicyMostFrequent, PolicySourcePriority, PolicyLongest, PolicyMax} {
		b.Run("render/"+pol+"/4-candidates", func(b *testing.B) {
			pol := allPolicy{Policy{Name: pol, Sources: []string{"crm", "pos"}}}
			b.ReportAllocs()
			for b.Loop() {
				_ = multi.Survive(pol).TraitsJSON()
			}
		})
	}
	b.Run("render/most_recent/4-candidates", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = multi.Survive(nil).TraitsJSON()
		}
	})
	mEnc, _ := multi.Marshal()
	b.Run("encode/4-candidates", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := multi.Marshal(); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(len(mEnc)), "bytes/profile")
	})
	b.Run("decode/4-candidates", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := Unmarshal(mEnc); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(len(mEnc)), "bytes/profile")
	})
	b.Run("apply/identify-50-traits", func(b *testing.B) {
		m := msg(b, `{"type":"identify","userId":"u-1","messageId":"x","traits":{}}`)
		m.Traits = map[string]any{}
		for i := range 50 {
			m.Traits[fmt.Sprintf("trait_%02d", i)] = i
		}
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			i++
			p := with.Clone()
			p.Apply(m, nil, Source{Node: 9, Name: "web"}, crdt.Timestamp{Wall: t0.UnixMilli() + int64(i), Node: 9})
		}
	})
}

type allPolicy struct{ p Policy }

func (a allPolicy) PolicyFor(string) Policy { return a.p }

// BenchmarkParseBatch parses a /v1/batch body of 100 track events as
// `ucv bench compare`'s batch phase sends them (issue 16: what parsing
// costs an event, on the HTTP goroutines, before the log or the applier
// see it; bench/README.md, "What /v1/batch ≥ 150k needs").
func BenchmarkParseBatch(b *testing.B) {
	items := map[string]string{
		"track": `{"type":"track","userId":"u%d","messageId":"b1-%d","event":"Product Viewed","properties":{"sku":"sku-%d","price":19.99}}`,
		// A CRM's or a sign-up form's identify: five traits, two of them
		// identifiers to normalise.
		"identify": `{"type":"identify","userId":"u%d","messageId":"i1-%d","traits":{"email":"user%[1]d@example.com","phone":"+44 20 7946 %04[3]d","firstName":"Ann","lastName":"Lee","plan":"gold"}}`,
	}
	for _, kind := range []string{"track", "identify"} {
		b.Run(kind, func(b *testing.B) {
			body := []byte(`{"batch":[`)
			for k := range 100 {
				if k > 0 {
					body = append(body, ',')
				}
				body = fmt.Appendf(body, items[kind], k*7919%100000, k, k%500)
			}
			body = append(body, "]}"...)
			b.ReportAllocs()
			for b.Loop() {
				bt, err := ParseBatch(body, t0, ParseOptions{Normalize: DefaultNormalizeOptions()})
				if err != nil || len(bt.Rejected) > 0 {
					b.Fatal(err, bt.Rejected)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/100/1000, "µs/event")
		})
	}
}

// BenchmarkApplyIdentify applies identifies of 20 traits the profile
// already holds (benchProfile's 50 traits, its candidates from one
// source) — a returning customer's sign-in: every trait's candidate key
// exists, so the join adds none and the cap has nothing to drop.
func BenchmarkApplyIdentify(b *testing.B) {
	clk := crdt.NewClock(1, time.Now, time.Second, crdt.Timestamp{})
	p := benchProfile(b, 1)
	msgs := make([]*Message, 64)
	for i := range msgs {
		m := msg(b, fmt.Sprintf(`{"type":"identify","userId":"u-1","messageId":"id-%d","traits":{}}`, i))
		m.Traits = map[string]any{}
		for k := range 20 {
			m.Traits[fmt.Sprintf("trait_%02d", k)] = fmt.Sprintf("v%d-%d", k, i)
		}
		msgs[i] = m
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		m := msgs[i%len(msgs)]
		i++
		p.Apply(m, m.Identifiers, Source{Node: 1, Name: "till-1"}, clk.Now())
	}
	b.ReportMetric(float64(len(p.Candidates.M)), "candidates")
}
