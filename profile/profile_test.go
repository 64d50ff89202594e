package profile

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"pgregory.net/rapid"

	"ucv/crdt"
)

var update = flag.Bool("update", false, "rewrite golden files")

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// msg builds a valid message from JSON for tests.
func msg(tb testing.TB, body string) *Message {
	tb.Helper()
	m, err := ParseMessage([]byte(body), "", t0, ParseOptions{Normalize: DefaultNormalizeOptions()})
	if err != nil {
		tb.Fatalf("ParseMessage(%s): %v", body, err)
	}
	return m
}

// genMessage draws a random but valid message.
func genMessage(t *rapid.T) *Message {
	kind := rapid.SampledFrom([]string{"identify", "track", "page", "order"}).Draw(t, "kind")
	o := map[string]any{
		"messageId": fmt.Sprintf("m%d", rapid.IntRange(0, 30).Draw(t, "mid")),
		"userId":    rapid.SampledFrom([]string{"u1", "u2"}).Draw(t, "uid"),
		"timestamp": t0.Add(time.Duration(rapid.IntRange(0, 1000).Draw(t, "ts")) * time.Second).Format(time.RFC3339),
	}
	switch kind {
	case "identify":
		o["type"] = "identify"
		o["traits"] = map[string]any{
			rapid.SampledFrom([]string{"plan", "name", "email", "age"}).Draw(t, "trait"): rapid.SampledFrom([]any{"a", "b", 3, true, "ann@example.com"}).Draw(t, "tv"),
		}
		if tr := o["traits"].(map[string]any); tr["email"] != nil {
			tr["email"] = rapid.SampledFrom([]string{"ann@example.com", "bob@example.com"}).Draw(t, "email")
		}
		o["context"] = map[string]any{"consent": map[string]any{"categoryPreferences": map[string]any{"ads": rapid.Bool().Draw(t, "ads")}}}
	case "track":
		o["type"] = "track"
		o["event"] = rapid.SampledFrom([]string{"Product Viewed", "Cart Viewed"}).Draw(t, "event")
		o["properties"] = map[string]any{"category": rapid.SampledFrom([]string{"games", "books"}).Draw(t, "cat")}
	case "page":
		o["type"] = "page"
		o["name"] = "Home"
		o["channel"] = rapid.SampledFrom([]string{"browser", "mobile"}).Draw(t, "ch")
	case "order":
		o["type"] = "track"
		o["event"] = "Order Completed"
		o["properties"] = map[string]any{"total": rapid.IntRange(1, 500).Draw(t, "total"), "currency": rapid.SampledFrom([]string{"USD", "EUR", "JPY"}).Draw(t, "cur")}
	}
	b, _ := json.Marshal(o)
	m, err := ParseMessage(b, "", t0.Add(time.Hour), ParseOptions{Normalize: DefaultNormalizeOptions()})
	if err != nil {
		t.Fatalf("generated message invalid: %v\n%s", err, b)
	}
	return m
}

// TestMergeLaws checks that profile.Merge is a join and that replicas fed
// the same deltas in any order, with duplicates, converge — including
// identity merges that absorb another profile and erasure.
func TestMergeLaws(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		n := rapid.IntRange(2, 4).Draw(t, "replicas")
		ps := make([]*Profile, n)
		qs := make([]*Profile, n) // a second person each replica may fold in
		clocks := make([]*crdt.Clock, n)
		for i := range ps {
			ps[i], qs[i] = New("P"), New("Q")
			wall := t0
			clocks[i] = crdt.NewClock(crdt.ReplicaID(i+1), func() time.Time { return wall }, time.Second, crdt.Timestamp{})
		}
		var deltas []*Profile
		for range rapid.IntRange(0, 30).Draw(t, "steps") {
			i := rapid.IntRange(0, n-1).Draw(t, "at")
			src := Source{Node: crdt.ReplicaID(i + 1), Name: fmt.Sprintf("till-%d", i)}
			switch rapid.IntRange(0, 9).Draw(t, "op") {
			case 0:
				ps[i].Merge(ps[rapid.IntRange(0, n-1).Draw(t, "from")])
			case 1:
				qs[i].Apply(genMessage(t), nil, src, clocks[i].Now())
			case 2: // identity merge: Q is folded into P
				d := qs[i].Clone()
				d.ID = "P"
				rec := ps[i].RecordMerge(MergeRecord{From: "Q", Into: "P", Reason: "shared identifier"}, clocks[i].Now())
				ps[i].Merge(d)
				deltas = append(deltas, d, rec)
			case 3:
				if rapid.IntRange(0, 4).Draw(t, "erase") == 0 {
					deltas = append(deltas, ps[i].Erase([]byte("salt"), clocks[i].Now()).Clone())
				}
			case 4: // retention
				cut := t0.Add(time.Duration(rapid.IntRange(0, 1000).Draw(t, "cutoff")) * time.Second)
				d, _ := ps[i].Prune(cut.UnixMilli())
				deltas = append(deltas, d.Clone())
			default:
				m := genMessage(t)
				deltas = append(deltas, ps[i].Apply(m, m.Identifiers, src, clocks[i].Now()).Clone())
			}
		}
		a, b, c := ps[rapid.IntRange(0, n-1).Draw(t, "a")], ps[rapid.IntRange(0, n-1).Draw(t, "b")], ps[rapid.IntRange(0, n-1).Draw(t, "c")]
		join := func(x, y *Profile) *Profile { z := x.Clone(); z.Merge(y); return z }
		if !join(a, b).Equal(join(b, a)) {
			t.Fatal("profile merge not commutative")
		}
		if !join(join(a, b), c).Equal(join(a, join(b, c))) {
			t.Fatal("profile merge not associative")
		}
		if !join(a, a).Equal(a) {
			t.Fatal("profile merge not idempotent")
		}
		// Join equals clone then merge, byte for byte, and changes
		// neither side: between states, and fed delta after delta as
		// the hub does (every older state in the chain stays as it was).
		persistent := func(x, y *Profile) *Profile {
			bx, _ := x.Marshal()
			by, _ := y.Marshal()
			got := x.Join(y)
			gb, _ := got.Marshal()
			wb, _ := join(x, y).Marshal()
			if !bytes.Equal(gb, wb) || !got.Equal(join(x, y)) {
				t.Fatalf("Join differs from Clone+Merge")
			}
			if ax, _ := x.Marshal(); !bytes.Equal(ax, bx) {
				t.Fatal("Join changed its receiver")
			}
			if ay, _ := y.Marshal(); !bytes.Equal(ay, by) {
				t.Fatal("Join changed its argument")
			}
			return got
		}
		for _, x := range ps {
			for _, y := range ps {
				persistent(x, y)
			}
		}
		chain := []*Profile{New("P")}
		for _, d := range deltas {
			chain = append(chain, persistent(chain[len(chain)-1], d))
		}
		for i, s := range chain {
			want := New("P")
			for _, d := range deltas[:i] {
				want.Merge(d)
			}
			if !s.Equal(want) {
				t.Fatalf("state %d of the Join chain changed later", i)
			}
		}
		all := New("P")
		for _, p := range ps {
			all.Merge(p)
		}
		for k := range 3 {
			fresh := New("P")
			dups := deltas[:rapid.IntRange(0, len(deltas)).Draw(t, "dups")]
			for _, d := range rapid.Permutation(append(append([]*Profile{}, deltas...), dups...)).Draw(t, fmt.Sprintf("order%d", k)) {
				fresh.Merge(d)
			}
			if !fresh.Equal(all) {
				t.Fatalf("replica fed all deltas differs from the join of all states\n%+v\n%+v", fresh, all)
			}
			// Encoding is canonical: equal states, equal bytes.
			b1, _ := fresh.Marshal()
			b2, _ := all.Marshal()
			if !bytes.Equal(b1, b2) {
				t.Fatal("equal profiles encode differently")
			}
		}
	})
}

func TestErasedProfileStaysGone(t *testing.T) {
	salt := []byte("s")
	clk := crdt.NewClock(1, func() time.Time { return t0 }, time.Second, crdt.Timestamp{})
	live := New("P")
	m := msg(t, `{"type":"identify","userId":"u1","traits":{"email":"Ann@Example.com","name":"Ann"}}`)
	live.Apply(m, m.Identifiers, Source{Node: 1}, clk.Now())
	old := live.Clone() // an edge that goes offline for weeks
	live.Erase(salt, clk.Now())
	old.Apply(msg(t, `{"type":"track","userId":"u1","event":"Order Completed","properties":{"total":10}}`), nil, Source{Node: 2}, clk.Now())
	live.Merge(old)
	if live.Identities.Len() != 0 || live.Traits.Len() != 0 || len(live.Timeline.Items) != 0 || live.Counters.Value("orders") != 0 {
		t.Fatalf("erased profile resurrected: %d identities, %d traits, %d events", live.Identities.Len(), live.Traits.Len(), len(live.Timeline.Items))
	}
	// And the other way round: the old replica learns of the erasure.
	old.Merge(live)
	if old.Identities.Len() != 0 || !old.Erased.Set {
		t.Fatal("old replica kept the person after merging the erasure")
	}
	if !old.Tombstones.Erased(crdt.TombstoneKey(salt, "email:ann@example.com")) {
		t.Fatal("no tombstone for the erased e-mail")
	}
}

func TestEraseIdentifierSurvivesOldReplica(t *testing.T) {
	salt := []byte("s")
	clk := crdt.NewClock(1, func() time.Time { return t0 }, time.Second, crdt.Timestamp{})
	p := New("P")
	m := msg(t, `{"type":"identify","userId":"u1","traits":{"email":"ann@example.com"}}`)
	p.Apply(m, m.Identifiers, Source{Node: 1}, clk.Now())
	old := p.Clone()
	p.EraseIdentifier(salt, Identifier{Type: Email, Value: "ann@example.com"}, clk.Now())
	p.Merge(old)
	p.Scrub(salt)
	if p.Identities.Has("email:ann@example.com") {
		t.Fatal("erased e-mail resurrected by an old replica")
	}
	if _, ok := p.Traits.Get("email"); ok {
		t.Fatal("email trait holding the erased value survived")
	}
	if !p.Identities.Has("user_id:u1") {
		t.Fatal("erasing the e-mail dropped the user id")
	}
}

func TestComputedTraits(t *testing.T) {
	clk := crdt.NewClock(1, func() time.Time { return t0 }, time.Second, crdt.Timestamp{})
	p := New("P")
	for _, b := range []string{
		`{"type":"track","userId":"u1","event":"Order Completed","messageId":"o1","timestamp":"2026-02-01T10:00:00Z","properties":{"total":99.99,"currency":"usd","products":[{"category":"Games"},{"category":"Books"}]}}`,
		`{"type":"track","userId":"u1","event":"Order Completed","messageId":"o2","timestamp":"2026-02-03T10:00:00Z","properties":{"revenue":"0.02","category":"Games"}}`,
		`{"type":"track","userId":"u1","event":"Order Completed","messageId":"o3","timestamp":"2026-02-02T10:00:00Z","properties":{"total":1500,"currency":"JPY"}}`,
		`{"type":"page","userId":"u1","name":"Home","channel":"browser","messageId":"p1","timestamp":"2026-02-04T10:00:00Z"}`,
		`{"type":"screen","userId":"u1","name":"Cart","channel":"mobile","messageId":"s1","timestamp":"2026-02-05T10:00:00Z"}`,
	} {
		p.Apply(msg(t, b), nil, Source{Node: 1, Name: "web"}, clk.Now())
	}
	// Redelivery of a replica's state must not double-count.
	p.Merge(p.Clone())
	c := p.Computed(time.Date(2026, 2, 15, 10, 0, 0, 0, time.UTC))
	if c.OrderCount != 3 {
		t.Errorf("OrderCount = %d, want 3", c.OrderCount)
	}
	if got := c.LifetimeRevenue["USD"]; got.MinorUnits != 10001 || got.Amount != "100.01" {
		t.Errorf("LifetimeRevenue[USD] = %+v, want 100.01", got)
	}
	if got := c.LifetimeRevenue["JPY"]; got.MinorUnits != 1500 || got.Amount != "1500" {
		t.Errorf("LifetimeRevenue[JPY] = %+v, want 1500", got)
	}
	if got := c.AverageOrderValue["USD"]; got.Amount != "50.01" {
		t.Errorf("AverageOrderValue[USD] = %+v, want 50.01", got)
	}
	if c.LastOrderAt == nil || !c.LastOrderAt.Equal(time.Date(2026, 2, 3, 10, 0, 0, 0, time.UTC)) {
		t.Errorf("LastOrderAt = %v, want 2026-02-03T10:00Z", c.LastOrderAt)
	}
	if c.TopCategory != "Games" {
		t.Errorf("TopCategory = %q, want Games", c.TopCategory)
	}
	if c.DaysSinceLastSeen == nil || *c.DaysSinceLastSeen != 10 {
		t.Errorf("DaysSinceLastSeen = %v, want 10", c.DaysSinceLastSeen)
	}
	if c.DistinctChannels != 3 { // server (the orders), browser, mobile
		t.Errorf("DistinctChannels = %d, want 3", c.DistinctChannels)
	}
}

// Two profiles of one person, each with orders counted by the same till,
// merged by identity resolution: no order is lost or counted twice.
func TestIdentityMergeKeepsBothProfilesCounters(t *testing.T) {
	clk := crdt.NewClock(1, func() time.Time { return t0 }, time.Second, crdt.Timestamp{})
	a, b := New("A"), New("B")
	order := `{"type":"track","anonymousId":"x","event":"Order Completed","messageId":"%s","properties":{"total":10}}`
	a.Apply(msg(t, fmt.Sprintf(order, "1")), nil, Source{Node: 1}, clk.Now())
	b.Apply(msg(t, fmt.Sprintf(order, "2")), nil, Source{Node: 1}, clk.Now())
	b.Apply(msg(t, fmt.Sprintf(order, "3")), nil, Source{Node: 1}, clk.Now())
	a.Merge(b)
	a.Merge(b) // redelivered
	if got := a.Computed(t0).OrderCount; got != 3 {
		t.Fatalf("orders after merging profiles = %d, want 3", got)
	}
}

func TestLogValueHidesPII(t *testing.T) {
	clk := crdt.NewClock(1, func() time.Time { return t0 }, time.Second, crdt.Timestamp{})
	p := New("P")
	m := msg(t, `{"type":"identify","userId":"u1","traits":{"email":"secret.person@example.com","phone":"+44 20 7946 0958","name":"Zebedee Quux"}}`)
	p.Apply(m, m.Identifiers, Source{Node: 1}, clk.Now())
	var buf bytes.Buffer
	// No time: its nanoseconds are digits that can spell part of the
	// phone number by chance (CI once saw "0958" in "…547409582Z").
	noTime := func(groups []string, a slog.Attr) slog.Attr {
		if len(groups) == 0 && a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		return a
	}
	log := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{ReplaceAttr: noTime}))
	log.Info("profile", "profile", p, "message", m)
	for _, id := range m.Identifiers {
		log.Info("identifier", "id", id)
	}
	_, err := NewIdentifier("traits.email", Email, "not-an-email secret.person", DefaultNormalizeOptions())
	log.Info("error", "err", err)
	out := buf.String()
	for _, secret := range []string{"secret.person", "example.com", "7946 0958", "2079460958", "Zebedee", "Quux"} {
		if strings.Contains(out, secret) {
			t.Errorf("log output contains %q:\n%s", secret, out)
		}
	}
	if !strings.Contains(out, "email") || !strings.Contains(out, "h:") {
		t.Errorf("log output lost the identifier types or hashes:\n%s", out)
	}
}

// goldenProfile builds a fixed profile covering every field.
func goldenProfile(t *testing.T) *Profile {
	clk := crdt.NewClock(7, func() time.Time { return t0 }, time.Second, crdt.Timestamp{})
	p := New("01HZY0000000000000000000AA")
	for _, b := range []string{
		`{"type":"identify","userId":"u1","anonymousId":"a1","messageId":"m1","timestamp":"2026-02-01T10:00:00Z","traits":{"email":"ann@example.com","plan":"pro","logins":5,"address":{"city":"Oslo"}},"context":{"consent":{"categoryPreferences":{"Advertising":false,"Analytics":true}}}}`,
		`{"type":"track","userId":"u1","event":"Order Completed","messageId":"m2","timestamp":"2026-02-02T10:00:00Z","properties":{"total":"42.50","currency":"EUR","category":"Books"}}`,
		`{"type":"page","userId":"u1","name":"Home","channel":"browser","messageId":"m3","timestamp":"2026-02-03T10:00:00Z"}`,
	} {
		m := msg(t, b)
		p.Apply(m, m.Identifiers, Source{Node: 7, Name: "till-1"}, clk.Now())
	}
	p.RecordMerge(MergeRecord{From: "01HZY0000000000000000000BB", Into: p.ID, Reason: "shared identifier", Rule: "deterministic:email", Identifiers: []string{"email:ann@example.com"}, Node: "till-1", At: t0.UnixMilli()}, clk.Now())
	p.Tombstones.Erase(crdt.TombstoneKey([]byte("s"), "phone:+4720000000"))
	return p
}

// TestGoldenBeforeConsentHistory: a profile written before consent was
// kept by event time and with its history decodes, keeps its consent,
// has no history, and re-encodes to the same bytes.
func TestGoldenBeforeConsentHistory(t *testing.T) {
	old, err := os.ReadFile(filepath.Join("testdata", "profile_v1.golden"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := Unmarshal(old)
	if err != nil {
		t.Fatalf("Unmarshal(old golden): %v", err)
	}
	if g, known := p.ConsentState("advertising"); g || !known {
		t.Errorf("advertising = %v, %v; want declined", g, known)
	}
	if g, _ := p.ConsentState("analytics"); !g {
		t.Error("analytics not granted")
	}
	if h := p.ConsentHistory(); len(h) != 0 {
		t.Errorf("history %v from an old encoding", h)
	}
	again, err := p.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again, old) {
		t.Error("old golden bytes do not re-encode unchanged")
	}
}

// TestGoldenBeforeCandidates: a profile written before survivorship
// candidates were kept decodes without candidates, renders the same view,
// and re-encodes to the same bytes.
func TestGoldenBeforeCandidates(t *testing.T) {
	old, err := os.ReadFile(filepath.Join("testdata", "profile_v1_consent.golden"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := Unmarshal(old)
	if err != nil {
		t.Fatalf("Unmarshal(old golden): %v", err)
	}
	if p.Candidates.Len() != 0 {
		t.Fatalf("%d candidates from an old encoding", p.Candidates.Len())
	}
	again, err := p.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again, old) {
		t.Error("old golden bytes do not re-encode unchanged")
	}
	// Every trait still has a candidate (its register, source unknown).
	for _, k := range p.Traits.Keys() {
		cs := p.CandidatesOf(k)
		if len(cs) != 1 || cs[0].Source != "" {
			t.Errorf("trait %s: candidates %+v", k, cs)
		}
	}
}

// TestGoldenBeforeOrigins: a profile written with every candidate in
// full (the first form of 0045) decodes to the same profile as today's
// encoding of it, with the same candidates and survivorship, and
// re-encodes in today's form.
func TestGoldenBeforeOrigins(t *testing.T) {
	old, err := os.ReadFile(filepath.Join("testdata", "profile_v1_candidates.golden"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := Unmarshal(old)
	if err != nil {
		t.Fatalf("Unmarshal(old golden): %v", err)
	}
	want := goldenProfile(t)
	if !p.Equal(want) || p.Candidates.Len() == 0 {
		t.Fatalf("old golden decodes to a different profile (%d candidates)", p.Candidates.Len())
	}
	for _, k := range want.Traits.Keys() {
		if got, exp := p.CandidatesOf(k), want.CandidatesOf(k); !reflect.DeepEqual(got, exp) {
			t.Errorf("trait %s: candidates %+v, want %+v", k, got, exp)
		}
	}
	again, err := p.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	cur, err := os.ReadFile(filepath.Join("testdata", "profile_v1_origins.golden"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again, cur) {
		t.Error("old golden does not re-encode in today's form")
	}
	if len(again) >= len(old) {
		t.Errorf("today's form is %d bytes, the old one %d", len(again), len(old))
	}
}

func TestGoldenEncoding(t *testing.T) {
	p := goldenProfile(t)
	got, err := p.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	// profile_v1_consent.golden: consent registers timestamped with
	// the event time and the consent history in the ledger (0041). The
	// bytes written before that, profile_v1.golden, still decode and
	// re-encode unchanged (TestGoldenBeforeConsentHistory).
	// profile_v1_candidates.golden: with survivorship candidates (0045);
	// profile_v1_consent.golden, written before them, still decodes and
	// re-encodes unchanged (TestGoldenBeforeCandidates).
	// profile_v1_origins.golden: the candidates that hold their trait's
	// register encoded by origin (0045, "Encoding"); the bytes written
	// before, profile_v1_candidates.golden, still decode to the same
	// profile (TestGoldenBeforeOrigins).
	path := filepath.Join("testdata", "profile_v1_origins.golden")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden file (run with -update to create): %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("profile encoding changed: got %d bytes, golden %d bytes. If intended, bump codec.Version or add a field compatibly, then run go test ./profile -run Golden -update", len(got), len(want))
	}
	back, err := Unmarshal(want)
	if err != nil {
		t.Fatalf("Unmarshal(golden): %v", err)
	}
	if !back.Equal(p) {
		t.Fatal("golden bytes decode to a different profile")
	}
	// The JSON view is pinned too.
	view, _ := json.MarshalIndent(p.View(time.Date(2026, 2, 10, 0, 0, 0, 0, time.UTC)), "", "  ")
	vpath := filepath.Join("testdata", "profile_view.golden.json")
	if *update {
		if err := os.WriteFile(vpath, append(view, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	wantView, _ := os.ReadFile(vpath)
	if string(append(view, '\n')) != string(wantView) {
		t.Fatalf("JSON view changed:\n%s\nwant:\n%s", view, wantView)
	}
}

// A profile stored before the ledger existed (14 fields, per-replica
// counters) still decodes, and its counters still show in the view: the
// JSON view of the old golden bytes is the view pinned above.
func TestGoldenEncodingBeforeLedger(t *testing.T) {
	old, err := os.ReadFile(filepath.Join("testdata", "profile_v1_counters.golden"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := Unmarshal(old)
	if err != nil {
		t.Fatalf("Unmarshal(pre-ledger golden): %v", err)
	}
	if p.Ledger.Len() != 0 || len(p.Counters.Entries) == 0 {
		t.Fatalf("pre-ledger golden decoded with %d ledger entries and %d counters", p.Ledger.Len(), len(p.Counters.Entries))
	}
	view, _ := json.MarshalIndent(p.View(time.Date(2026, 2, 10, 0, 0, 0, 0, time.UTC)), "", "  ")
	want, _ := os.ReadFile(filepath.Join("testdata", "profile_view.golden.json"))
	if string(append(view, '\n')) != string(want) {
		t.Fatalf("view of the pre-ledger profile:\n%s\nwant:\n%s", view, want)
	}
}

func FuzzUnmarshalProfile(f *testing.F) {
	p := New("x")
	b, _ := p.Marshal()
	f.Add(b)
	for _, name := range []string{"profile_v1.golden", "profile_v1_candidates.golden", "profile_v1_origins.golden"} {
		if g, err := os.ReadFile(filepath.Join("testdata", name)); err == nil {
			f.Add(g)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := Unmarshal(b)
		if err != nil {
			return
		}
		b1, err := p.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		p2, err := Unmarshal(b1)
		if err != nil {
			t.Fatalf("re-decode: %v", err)
		}
		if !p2.Equal(p) {
			t.Fatal("round trip changed the profile")
		}
		_ = p.View(t0)
		p.Merge(p2)
	})
}

func TestViewPrefixCompletes(t *testing.T) {
	p := goldenProfile(t)
	pre, err := p.ViewPrefix()
	if err != nil {
		t.Fatal(err)
	}
	full := string(pre) + `,"days_since_last_seen":6}}`
	var got, want map[string]any
	if err := json.Unmarshal([]byte(full), &got); err != nil {
		t.Fatalf("completed prefix is not JSON: %v", err)
	}
	w, _ := json.Marshal(p.View(time.Date(2026, 2, 10, 0, 0, 0, 0, time.UTC)))
	_ = json.Unmarshal(w, &want)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("completed prefix = %v\nwant %v", got, want)
	}
	// An empty profile too.
	pre, err = New("x").ViewPrefix()
	if err != nil || json.Unmarshal(append(pre, []byte(`,"days_since_last_seen":null}}`)...), &got) != nil {
		t.Fatalf("empty profile prefix %s: %v", pre, err)
	}
}

// The hand-written view rendering must equal encoding/json's, for any
// profile.
func TestViewJSONMatchesEncodingJSON(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		clk := crdt.NewClock(1, func() time.Time { return t0 }, time.Second, crdt.Timestamp{})
		p := New("P")
		for range rapid.IntRange(0, 12).Draw(t, "events") {
			m := genMessage(t)
			p.Apply(m, m.Identifiers, Source{Node: 1, Name: rapid.SampledFrom([]string{"", "till-1", "web<&>"}).Draw(t, "src")}, clk.Now())
		}
		if rapid.IntRange(0, 5).Draw(t, "erase") == 0 {
			p.Erase([]byte("s"), clk.Now())
		}
		now := t0.Add(time.Duration(rapid.IntRange(0, 1e6).Draw(t, "now")) * time.Second)
		v := p.View(now)
		want, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		if got := v.appendJSON(nil); string(got) != string(want) {
			t.Fatalf("appendJSON =\n%s\nencoding/json =\n%s", got, want)
		}
	})
}

// Builtins agrees with Computed on every value both hold.
func TestBuiltinsMatchComputed(t *testing.T) {
	p := goldenProfile(t)
	b, c := p.Builtins(), p.Computed(t0)
	if b["order_count"] != c.OrderCount || b["top_category"] != c.TopCategory || b["distinct_channels"] != int64(c.DistinctChannels) {
		t.Fatalf("Builtins %v, Computed %+v", b, c)
	}
	for cur, m := range c.LifetimeRevenue {
		if got := b["lifetime_revenue"].(map[string]any)[cur]; fmt.Sprint(got) != strings.TrimRight(strings.TrimRight(m.Amount, "0"), ".") {
			t.Errorf("lifetime_revenue[%s] = %v, Computed %s", cur, got, m.Amount)
		}
	}
	for cur, m := range c.AverageOrderValue {
		if got := b["average_order_value"].(map[string]any)[cur]; fmt.Sprint(got) != strings.TrimRight(strings.TrimRight(m.Amount, "0"), ".") {
			t.Errorf("average_order_value[%s] = %v, Computed %s", cur, got, m.Amount)
		}
	}
	for name, n := range c.EventCounts {
		if b["event_counts"].(map[string]any)[name] != n {
			t.Errorf("event_counts[%s]", name)
		}
	}
	if c.LastOrderAt == nil || b["last_order_at"] != *c.LastOrderAt {
		t.Errorf("last_order_at %v, Computed %v", b["last_order_at"], c.LastOrderAt)
	}
}
