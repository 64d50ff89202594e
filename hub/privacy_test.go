package hub_test

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"pgregory.net/rapid"

	"ucv/crdt"
	"ucv/hub"
	"ucv/hub/hubtest"
	"ucv/profile"
	"ucv/profile/catalog"
	"ucv/replication"
)

var testSalt = bytes.Repeat([]byte{7}, replication.SaltBytes)

const eraseAt = 1_800_000_000_000 // after every hubtest event time

// erasable builds the person of the erasure tests: p1 and p2 share an
// e-mail, a steward merged p3 (anonymous) into them with a reason that
// names the e-mail, a destination hears merges and erasures; p4 is
// somebody else.
func erasable(t testing.TB) *log {
	t.Helper()
	l := newLog(t)
	l.at = time.UnixMilli(eraseAt - 1000)
	if r := l.apply(hub.MarshalDefine(&hub.Define{Kind: catalog.KindAudience, Name: "everyone", Definition: []byte(`{"expression":"true"}`), Actor: "ops"})); r.Err != nil {
		t.Fatal(r.Err)
	}
	dest := []byte(`{"type":"webhook","url":"http://127.0.0.1:9/hook","secret":"0123456789abcdef","events":["profile.merged","profile.erased"]}`)
	if r := l.apply(hub.MarshalDefine(&hub.Define{Kind: hub.KindDestination, Name: "crm", Definition: dest, Actor: "ops"})); r.Err != nil {
		t.Fatal(r.Err)
	}
	if r := l.sync("store-1",
		hubtest.Delta(1, 1, hubtest.Event{Profile: p1, Kind: profile.Identify, IDs: []profile.Identifier{hubtest.Anon("anon-1"), hubtest.Email("ann@example.org")},
			Traits: map[string]any{"firstName": "Annabel"}}),
		hubtest.Delta(1, 2, hubtest.Event{Profile: p2, IDs: []profile.Identifier{hubtest.Email("ann@example.org"), {Type: profile.Phone, Value: "+33612345678"}},
			Name: "Order Completed", Revenue: 20}),
		hubtest.Delta(1, 3, hubtest.Event{Profile: p3, IDs: []profile.Identifier{hubtest.Anon("anon-3")}}),
		hubtest.Delta(1, 4, hubtest.Event{Profile: "01P4", IDs: []profile.Identifier{hubtest.Email("bob@example.org")}}),
	); r.Err != nil {
		t.Fatal(r.Err)
	}
	if r := l.apply(hub.MarshalMerge(&hub.Merge{A: p1, B: p3, Actor: "steward", Reason: "same as ann@example.org"})); r.Err != nil {
		t.Fatal(r.Err)
	}
	if v, err := l.f.Profile(p3); err != nil || len(v.Fragments) != 3 {
		t.Fatalf("Profile(p3) = %v, %v; want a cluster of three", v.Fragments, err)
	}
	if got := l.f.Audiences(p1); !slices.Equal(got, []string{"everyone"}) {
		t.Fatalf("Audiences(p1) = %v", got)
	}
	return l
}

func eraseReq(id string, at int64, ids ...string) *hub.PrivacyRequest {
	return &hub.PrivacyRequest{ID: id, Type: hub.PrivacyErase, Key: crdt.TombstoneKey(testSalt, "email:ann@example.org"),
		ProfileIDs: ids, Actor: "admin", At: at, Salt: testSalt}
}

func TestEraseScrubsTheHub(t *testing.T) {
	l := erasable(t)
	l.at = time.UnixMilli(eraseAt)
	r := l.apply(hub.MarshalPrivacy(eraseReq("pr_1", eraseAt, p2)))
	if r.Err != nil {
		t.Fatal(r.Err)
	}
	for _, id := range []string{p1, p2, p3} {
		v, err := l.f.Profile(id)
		if err != nil {
			t.Fatalf("Profile(%s): %v (the erased fragment stays, as a tombstone)", id, err)
		}
		if !v.Profile.Erased.Set || v.Profile.Identities.Len() != 0 || len(v.Fragments) != 1 {
			t.Errorf("Profile(%s) = %+v, want an erased fragment of its own", id, v)
		}
		if h := l.f.History(id); len(h) != 0 {
			t.Errorf("History(%s) = %v, want none", id, h)
		}
	}
	for _, key := range []string{"email:ann@example.org", "phone:+33612345678", "anonymous_id:anon-1"} {
		if _, _, err := l.f.ProfileByIdentifier(key); !errors.Is(err, hub.ErrNotFound) {
			t.Errorf("ProfileByIdentifier(%s) = %v, want ErrNotFound", key, err)
		}
	}
	if _, _, err := l.f.ProfileByIdentifier("email:bob@example.org"); err != nil {
		t.Errorf("somebody else is gone too: %v", err)
	}
	if cs := l.f.Clusters(); len(cs) != 0 {
		t.Errorf("Clusters() = %v, want none", cs)
	}
	for _, rv := range l.f.Reviews() {
		if slices.Contains([]string{p1, p2, p3}, rv.A) || slices.Contains([]string{p1, p2, p3}, rv.B) {
			t.Errorf("review pair of an erased profile: %+v", rv.Review)
		}
	}
	// Memberships and transitions go; somebody else stays in.
	for _, id := range []string{p1, p2, p3} {
		if got := l.f.Audiences(id); len(got) != 0 {
			t.Errorf("Audiences(%s) = %v, want none", id, got)
		}
	}
	if n := l.f.AudienceSize("everyone"); n != 1 {
		t.Errorf("AudienceSize = %d, want 1 (01P4)", n)
	}
	for _, tr := range l.f.Transitions(0, 1000) {
		if tr.Profile == p1 || tr.Profile == p2 || tr.Profile == p3 {
			t.Errorf("transition of an erased profile kept: %+v", tr)
		}
	}
	// The feed carries the erased states to the edges.
	page := l.f.FeedPage(0, 100)
	erased := 0
	for _, v := range page.Items {
		if v.Profile.Erased.Set {
			erased++
		}
	}
	if erased != 3 {
		t.Errorf("the feed carries %d erased states, want 3", erased)
	}
	// Webhooks: the merge delivery is gone, one profile.erased naming
	// profile IDs and the request only is queued.
	due, _ := l.f.DueDeliveries(time.UnixMilli(eraseAt+1e9), func(string) int { return 100 }, func(uint64) bool { return false })
	if len(due) != 1 || due[0].Type != hub.EventErased {
		t.Fatalf("deliveries = %+v, want one profile.erased", due)
	}
	body := string(due[0].Body)
	for _, want := range []string{`"request":"pr_1"`, p1, p2, p3} {
		if !strings.Contains(body, want) {
			t.Errorf("profile.erased body %s lacks %s", body, want)
		}
	}
	// No byte of the person in the state machine's snapshot.
	snap := l.snapshot()
	for _, raw := range []string{"ann@example.org", "Annabel", "33612345678", "anon-1", "anon-3"} {
		if bytes.Contains(snap, []byte(raw)) {
			t.Errorf("the snapshot still holds %q", raw)
		}
	}
	// The directive names the whole person.
	d := l.f.PrivacyDirectives("store-1", 10)
	if len(d.Directives) != 1 || !slices.Equal(d.Directives[0].ProfileIDs, []string{p1, p2, p3}) || !bytes.Equal(d.Salt, testSalt) {
		t.Fatalf("directives = %+v", d)
	}
	for _, k := range []string{"email:ann@example.org", "phone:+33612345678", "anonymous_id:anon-3"} {
		if !slices.Contains(d.Directives[0].Keys, crdt.TombstoneKey(testSalt, k)) {
			t.Errorf("directive lacks the tombstone of %s", k)
		}
	}

	// An old replica's delta for an erased fragment loses.
	if r := l.sync("store-1", hubtest.Delta(1, 5, hubtest.Event{Profile: p2, IDs: []profile.Identifier{hubtest.Email("ann@example.org")}})); r.Err != nil {
		t.Fatal(r.Err)
	}
	if v, _ := l.f.Profile(p2); !v.Profile.Erased.Set || v.Profile.Identities.Len() != 0 {
		t.Errorf("an old delta resurrected p2: %+v", v.Profile)
	}
	// A new fragment of the erased person with old data is erased on
	// arrival; one whose data is newer than the erasure is a new person.
	if r := l.sync("store-2", hubtest.Delta(2, 1, hubtest.Event{Profile: "01P9", IDs: []profile.Identifier{hubtest.Email("ann@example.org")}})); r.Err != nil {
		t.Fatal(r.Err)
	}
	if v, _ := l.f.Profile("01P9"); !v.Profile.Erased.Set {
		t.Errorf("an old replica's new fragment was not erased on arrival")
	}
	if r := l.sync("store-2", hubtest.Delta(2, 2, hubtest.Event{Profile: "01PA", IDs: []profile.Identifier{hubtest.Email("ann@example.org")}, At: eraseAt + 5000})); r.Err != nil {
		t.Fatal(r.Err)
	}
	if v, _, err := l.f.ProfileByIdentifier("email:ann@example.org"); err != nil || v.ID != "01PA" {
		t.Errorf("a person who signs up after the erasure: %v %v", v.ID, err)
	}

	// Receipts, then the shred receipt of every voter: done.
	st, _ := l.f.PrivacyRequest("pr_1")
	if st.Status != hub.StatusPending || st.Edges["store-1"] != hub.StatusPending {
		t.Fatalf("status = %+v", st)
	}
	if ids := l.f.PendingShred("n1"); len(ids) != 0 {
		t.Fatalf("shred before the edges confirmed: %v", ids)
	}
	for range 2 { // twice: idempotent
		l.apply(hub.MarshalEdgeReceipts(&hub.EdgeReceipts{Edge: "store-1", IDs: []string{"pr_1", "pr_unknown"}}))
	}
	if ids := l.f.PendingShred("n1"); !slices.Equal(ids, []string{"pr_1"}) {
		t.Fatalf("PendingShred = %v", ids)
	}
	l.apply(hub.MarshalShredReceipt(&hub.ShredReceipt{Node: "n1", IDs: []string{"pr_1"}, Voters: []string{"n1", "n2"}}))
	if st, _ := l.f.PrivacyRequest("pr_1"); st.Status != hub.StatusPending || st.Hub["n2"] != hub.StatusPending {
		t.Fatalf("done before n2 shredded: %+v", st)
	}
	l.at = time.UnixMilli(eraseAt + 9000)
	l.apply(hub.MarshalShredReceipt(&hub.ShredReceipt{Node: "n2", IDs: []string{"pr_1"}, Voters: []string{"n1", "n2"}}))
	st, _ = l.f.PrivacyRequest("pr_1")
	if st.Status != hub.StatusDone || st.CompletedAt == nil || st.CompletedAt.UnixMilli() != eraseAt+9000 {
		t.Fatalf("status = %+v, want done at the last receipt", st)
	}
	if d := l.f.PrivacyDirectives("store-1", 10); len(d.Directives) != 0 {
		t.Errorf("confirmed directives sent again: %+v", d.Directives)
	}
	if d := l.f.PrivacyDirectives("store-9", 10); len(d.Directives) != 1 {
		t.Errorf("an edge that registered later gets %d directives, want the erasure", len(d.Directives))
	}
	roundTrip(t, l)
}

// roundTrip restores l's snapshot into a new FSM and checks that it
// writes the same bytes and answers the same privacy reads.
func roundTrip(t *testing.T, l *log) {
	t.Helper()
	snap := l.snapshot()
	g, err := hub.NewFSM()
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Restore(nopCloser{bytes.NewReader(snap)}); err != nil {
		t.Fatalf("restore: %v", err)
	}
	var again bytes.Buffer
	if err := g.WriteSnapshot(&again); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again.Bytes(), snap) {
		t.Fatal("the restored state writes other bytes")
	}
	for _, edge := range []string{"store-1", "store-2", "store-9"} {
		a, b := l.f.PrivacyDirectives(edge, 100), g.PrivacyDirectives(edge, 100)
		if !bytes.Equal(a.Salt, b.Salt) || len(a.Directives) != len(b.Directives) {
			t.Errorf("directives of %s differ after restore", edge)
		}
	}
	a, b := l.f.PrivacyRequests(0, 100), g.PrivacyRequests(0, 100)
	if len(a) != len(b) {
		t.Fatalf("requests after restore: %d, want %d", len(b), len(a))
	}
	for i := range a {
		if a[i].ID != b[i].ID || a[i].Status != b[i].Status || len(a[i].Edges) != len(b[i].Edges) || len(a[i].Hub) != len(b[i].Hub) {
			t.Errorf("request %d after restore = %+v, want %+v", i, b[i], a[i])
		}
	}
	if x, y := l.f.Audit(0, 100), g.Audit(0, 100); len(x) != len(y) {
		t.Errorf("audit after restore: %d entries, want %d", len(y), len(x))
	}
	if x, y := l.f.Edges(), g.Edges(); !slices.Equal(x, y) {
		t.Errorf("edges after restore = %v, want %v", y, x)
	}
}

func TestSuppressionAndDecommission(t *testing.T) {
	l := newLog(t)
	l.at = time.UnixMilli(eraseAt)
	l.sync("store-1", hubtest.Delta(1, 1, hubtest.Event{Profile: p1, IDs: []profile.Identifier{hubtest.Anon("a1")}}))
	l.sync("store-2", hubtest.Delta(2, 1, hubtest.Event{Profile: p2, IDs: []profile.Identifier{hubtest.Anon("a2")}}))
	key := crdt.TombstoneKey(testSalt, "email:bob@example.org")
	sup := &hub.PrivacyRequest{ID: "pr_s", Type: hub.PrivacySuppress, Key: key, Actor: "privacy-officer", At: eraseAt, Salt: testSalt}
	if r := l.apply(hub.MarshalPrivacy(sup)); r.Err != nil {
		t.Fatal(r.Err)
	}
	// A second request under another salt is refused: its key is wrong.
	other := *sup
	other.ID, other.Salt = "pr_t", bytes.Repeat([]byte{8}, replication.SaltBytes)
	if r := l.apply(hub.MarshalPrivacy(&other)); !errors.Is(r.Err, hub.ErrStaleSalt) {
		t.Fatalf("a request under another salt: %v, want ErrStaleSalt", r.Err)
	}
	if !l.f.Suppressed(key) {
		t.Fatal("the key is not suppressed")
	}
	d := l.f.PrivacyDirectives("store-1", 10)
	if len(d.Directives) != 1 || d.Directives[0].Type != replication.DirectiveSuppress || !slices.Equal(d.Directives[0].Keys, []string{key}) {
		t.Fatalf("directives = %+v", d.Directives)
	}
	// The hub drops a suppressed person's deltas too (the batch applies).
	if r := l.sync("store-1", hubtest.Delta(1, 2, hubtest.Event{Profile: p3, IDs: []profile.Identifier{hubtest.Email("bob@example.org")}})); r.Err != nil || r.LastSeq != 2 {
		t.Fatalf("sync: %+v", r)
	}
	if _, err := l.f.Profile(p3); !errors.Is(err, hub.ErrNotFound) {
		t.Errorf("a suppressed delta made profile %s: %v", p3, err)
	}
	l.apply(hub.MarshalEdgeReceipts(&hub.EdgeReceipts{Edge: "store-1", IDs: []string{"pr_s"}}))
	if st, _ := l.f.PrivacyRequest("pr_s"); st.Status != hub.StatusPending || st.Edges["store-2"] != hub.StatusPending {
		t.Fatalf("status = %+v", st)
	}
	// Decommissioning store-2 completes it; store-2 is refused from now on.
	l.apply(hub.MarshalDecommission(&hub.Decommission{Edge: "store-2", Actor: "ops", At: eraseAt}))
	st, _ := l.f.PrivacyRequest("pr_s")
	if st.Status != hub.StatusDone || len(st.Edges) != 1 {
		t.Fatalf("status after decommission = %+v", st)
	}
	if r := l.sync("store-2", hubtest.Delta(2, 2, hubtest.Event{Profile: p2})); !errors.Is(r.Err, hub.ErrInvalid) {
		t.Errorf("a decommissioned edge's batch: %v, want ErrInvalid", r.Err)
	}
	uns := &hub.PrivacyRequest{ID: "pr_u", Type: hub.PrivacyUnsuppress, Key: key, Actor: "privacy-officer", At: eraseAt}
	if r := l.apply(hub.MarshalPrivacy(uns)); r.Err != nil {
		t.Fatal(r.Err)
	}
	if l.f.Suppressed(key) {
		t.Fatal("still suppressed")
	}
	if d := l.f.PrivacyDirectives("store-1", 10); len(d.Directives) != 1 || d.Directives[0].Type != replication.DirectiveUnsuppress {
		t.Fatalf("directives = %+v", d.Directives)
	}
	if st, _ := l.f.PrivacyRequest("pr_u"); len(st.Edges) != 1 || st.Edges["store-1"] != hub.StatusPending {
		t.Errorf("a decommissioned edge registered: %+v", st.Edges)
	}
	if r := l.sync("store-1", hubtest.Delta(1, 3, hubtest.Event{Profile: p3, IDs: []profile.Identifier{hubtest.Email("bob@example.org")}})); r.Err != nil {
		t.Fatal(r.Err)
	}
	if _, err := l.f.Profile(p3); err != nil {
		t.Errorf("unsuppressed, yet: %v", err)
	}
	l.apply(hub.MarshalAudit(&hub.AuditEntry{At: eraseAt, Actor: "ops", Role: "admin", Action: "DELETE /v1/admin/edges/{id}", Targets: []string{"store-2"}, Outcome: 200}))
	if es := l.f.Audit(0, 10); len(es) != 1 || es[0].Seq != 1 || es[0].Targets[0] != "store-2" {
		t.Errorf("audit = %+v", es)
	}
	roundTrip(t, l)
}

// TestNoPrivacyStateKeepsTheFormat: a state without privacy data writes
// the bytes of the format before it (the golden snapshots hold that too).
func TestNoPrivacyStateKeepsTheFormat(t *testing.T) {
	l := newLog(t)
	twoStores(l)
	if bytes.Contains(l.snapshot(), []byte{0x0d}) && len(l.f.PrivacyRequests(0, 1)) != 0 {
		t.Fatal("privacy records without privacy state")
	}
	snap := l.snapshot()
	// The end record holds four counts: 0xff, length, fixarray(4).
	if i := bytes.LastIndexByte(snap, 0xff); i < 0 || snap[i+2] != 0x94 {
		t.Fatalf("end record %x, want four counts", snap[max(0, len(snap)-8):])
	}
}

// TestPropertyErasedPersonNeverReappears: edges push the person's
// fragments (and somebody else's) one entry at a time in a random
// interleaving; the erasure lands at a random point, naming whoever the
// hub then resolves the e-mail to. Whatever arrives afterwards — old
// deltas of erased fragments, new fragments, edge merges — the e-mail is
// never found again and no live view holds it.
func TestPropertyErasedPersonNeverReappears(t *testing.T) {
	ann := hubtest.Email("ann@example.org")
	rapid.Check(t, func(t *rapid.T) {
		nEdges := rapid.IntRange(1, 3).Draw(t, "edges")
		entries := make([][]replication.Entry, nEdges)
		for e := range nEdges {
			edge := hubtest.NewEdge(fmt.Sprintf("store-%d", e), crdt.ReplicaID(e+1))
			var seen []string
			for range rapid.IntRange(1, 6).Draw(t, "entries") {
				p := fmt.Sprintf("P%d-%d", e, rapid.IntRange(0, 2).Draw(t, "profile"))
				if q := fmt.Sprintf("P%d-%d", e, rapid.IntRange(0, 2).Draw(t, "other")); q != p && slices.Contains(seen, q) &&
					rapid.IntRange(0, 4).Draw(t, "merge") == 0 {
					entries[e] = append(entries[e], edge.Merge(q, p))
					continue
				}
				seen = append(seen, p)
				ev := hubtest.Event{Profile: p, Name: "Product Viewed", IDs: []profile.Identifier{hubtest.Anon(p)}}
				switch rapid.IntRange(0, 2).Draw(t, "who") {
				case 0:
					ev.IDs = append(ev.IDs, ann)
					ev.Traits = map[string]any{"firstName": "Annabel"}
				case 1:
					ev.IDs = append(ev.IDs, hubtest.Email("bob@example.org"))
				}
				entries[e] = append(entries[e], edge.Delta(ev))
			}
		}
		total := 0
		for _, es := range entries {
			total += len(es)
		}
		eraseAfter := rapid.IntRange(0, total).Draw(t, "erase after")
		l := newLog(t)
		l.at = time.UnixMilli(eraseAt)
		next := make([]int, nEdges)
		erase := func() {
			_, holders, _ := l.f.ProfileByIdentifier(ann.Key())
			if r := l.apply(hub.MarshalPrivacy(eraseReq("pr_1", eraseAt, holders...))); r.Err != nil {
				t.Fatal(r.Err)
			}
		}
		for pushed := 0; pushed < total; pushed++ {
			if pushed == eraseAfter {
				erase()
			}
			var open []int
			for e := range nEdges {
				if next[e] < len(entries[e]) {
					open = append(open, e)
				}
			}
			e := rapid.SampledFrom(open).Draw(t, "edge")
			if r := l.sync(fmt.Sprintf("store-%d", e), entries[e][next[e]]); r.Err != nil {
				t.Fatal(r.Err)
			}
			next[e]++
		}
		if eraseAfter == total {
			erase()
		}
		if v, _, err := l.f.ProfileByIdentifier(ann.Key()); !errors.Is(err, hub.ErrNotFound) {
			t.Fatalf("the erased e-mail is found again, in %s %v", v.ID, v.Fragments)
		}
		for _, v := range l.f.FeedPage(0, 1<<20).Items {
			if !v.Profile.Erased.Set && (v.Profile.Identities.Has(ann.Key()) || bytes.Contains(mustMarshal(t, v.Profile), []byte("Annabel"))) {
				t.Fatalf("cluster %s %v holds the erased person", v.ID, v.Fragments)
			}
		}
	})
}

func mustMarshal(t *rapid.T, p *profile.Profile) []byte {
	b, err := p.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestEraseOnArrivalDetaches: an edge had merged two fragments and,
// offline, identified one with the erased e-mail; that old delta erases
// the fragment on arrival and detaches it, and the other fragment's
// person stays whole.
func TestEraseOnArrivalDetaches(t *testing.T) {
	l := newLog(t)
	l.at = time.UnixMilli(eraseAt)
	e := hubtest.NewEdge("store-2", 2)
	l.sync("store-2",
		e.Delta(hubtest.Event{Profile: "01P5", IDs: []profile.Identifier{hubtest.Anon("a5")}}),
		e.Delta(hubtest.Event{Profile: "01P6", IDs: []profile.Identifier{hubtest.Anon("a6")}, Traits: map[string]any{"city": "Lyon"}}),
		e.Merge("01P5", "01P6"))
	if v, _ := l.f.Profile("01P6"); len(v.Fragments) != 2 {
		t.Fatalf("fragments %v, want the edge's merge", v.Fragments)
	}
	if r := l.apply(hub.MarshalPrivacy(eraseReq("pr_1", eraseAt))); r.Err != nil {
		t.Fatal(r.Err)
	}
	if r := l.sync("store-2", e.Delta(hubtest.Event{Profile: "01P5", IDs: []profile.Identifier{hubtest.Email("ann@example.org")}})); r.Err != nil {
		t.Fatal(r.Err)
	}
	if v, _ := l.f.Profile("01P5"); !v.Profile.Erased.Set || len(v.Fragments) != 1 {
		t.Errorf("01P5 = %v erased %v, want erased and alone", v.Fragments, v.Profile.Erased.Set)
	}
	v, _, err := l.f.ProfileByIdentifier("anonymous_id:a6")
	if err != nil || v.Profile.Erased.Set || !slices.Equal(v.Fragments, []string{"01P6"}) {
		t.Errorf("the other fragment's person: %v %v", v.Fragments, err)
	}
	if h := l.f.History("01P5"); len(h) != 0 {
		t.Errorf("history of the erased fragment: %v", h)
	}
	roundTrip(t, l)
}

// TestEraseSparesWhoSharesAContactPoint: Cat and Dan share a landline
// (the hub keeps them two people). Erasing Cat tombstones her own
// identifiers, not the landline: the directive's keys — which every edge
// erases holders of — leave it out, Dan stays, a later delta of Dan's
// with old data is not erased on arrival, and an old replica's fragment
// of Cat (her e-mail) still is (docs/decisions/0059).
func TestEraseSparesWhoSharesAContactPoint(t *testing.T) {
	l := newLog(t)
	l.at = time.UnixMilli(eraseAt - 1000)
	landline := profile.Identifier{Type: profile.Phone, Value: "+12175550111"}
	if r := l.sync("store-1",
		hubtest.Delta(1, 1, hubtest.Event{Profile: "01CA", Kind: profile.Identify, IDs: []profile.Identifier{hubtest.Anon("anon-cat"), hubtest.Email("cat@example.org"), landline},
			Traits: map[string]any{"firstName": "Cat", "lastName": "Kim", "birthday": "1981-05-02"}}),
		hubtest.Delta(1, 2, hubtest.Event{Profile: "01DA", Kind: profile.Identify, IDs: []profile.Identifier{hubtest.Anon("anon-dan"), landline},
			Traits: map[string]any{"firstName": "Dan", "lastName": "Kim", "birthday": "1979-10-19"}}),
	); r.Err != nil {
		t.Fatal(r.Err)
	}
	if v, _ := l.f.Profile("01CA"); len(v.Fragments) != 1 {
		if r := l.apply(hub.MarshalUnmerge(&hub.Unmerge{A: "01CA", B: "01DA", Actor: "steward", Reason: "two people"})); r.Err != nil {
			t.Fatal(r.Err)
		}
	}
	if _, holders, err := l.f.ProfileByIdentifier(landline.Key()); err != nil || len(holders) != 2 {
		t.Fatalf("holders of the landline = %v, %v; want Cat and Dan apart", holders, err)
	}
	l.at = time.UnixMilli(eraseAt)
	req := &hub.PrivacyRequest{ID: "pr_cat", Type: hub.PrivacyErase, Key: crdt.TombstoneKey(testSalt, "email:cat@example.org"),
		ProfileIDs: []string{"01CA"}, Actor: "admin", At: eraseAt, Salt: testSalt}
	if r := l.apply(hub.MarshalPrivacy(req)); r.Err != nil {
		t.Fatal(r.Err)
	}
	d := l.f.PrivacyDirectives("store-1", 10)
	if len(d.Directives) != 1 || !slices.Equal(d.Directives[0].ProfileIDs, []string{"01CA"}) {
		t.Fatalf("directives = %+v", d)
	}
	keys := d.Directives[0].Keys
	for _, k := range []string{"email:cat@example.org", "anonymous_id:anon-cat"} {
		if !slices.Contains(keys, crdt.TombstoneKey(testSalt, k)) {
			t.Errorf("the directive lacks Cat's own %s", strings.Split(k, ":")[0])
		}
	}
	if slices.Contains(keys, crdt.TombstoneKey(testSalt, landline.Key())) {
		t.Error("the directive tombstones the landline Dan holds too: every edge would erase Dan")
	}
	// Dan's next delta, data from before the erasure, keeps him.
	if r := l.sync("store-1", hubtest.Delta(1, 3, hubtest.Event{Profile: "01DA", IDs: []profile.Identifier{landline}, At: eraseAt - 500})); r.Err != nil {
		t.Fatal(r.Err)
	}
	if v, _, err := l.f.ProfileByIdentifier(landline.Key()); err != nil || v.ID != "01DA" || v.Profile.Erased.Set {
		t.Fatalf("Dan after Cat's erasure: %v %v", v.ID, err)
	}
	// An old replica's fragment of Cat is still erased on arrival.
	if r := l.sync("store-2", hubtest.Delta(2, 1, hubtest.Event{Profile: "01CB", IDs: []profile.Identifier{hubtest.Email("cat@example.org"), landline}, At: eraseAt - 700})); r.Err != nil {
		t.Fatal(r.Err)
	}
	if v, _ := l.f.Profile("01CB"); !v.Profile.Erased.Set {
		t.Error("an old replica's fragment of Cat was not erased on arrival")
	}
}
