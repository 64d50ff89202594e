package hub_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"ucv/crdt"
	"ucv/hub"
	"ucv/hub/hubtest"
	"ucv/profile"
	"ucv/profile/catalog"
	"ucv/replication"
)

// applyOn returns a function that commits a marshalled command through
// node i of c and waits until every node has applied it, failing t on
// any error.
func applyOn(t *testing.T, c *hubtest.Cluster, i int) func([]byte, error) {
	return func(cmd []byte, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		res, err := c.Apply(i, cmd)
		if err != nil {
			t.Fatal(err)
		}
		c.WaitApplied(res.Index)
	}
}

// TestRetentionSweep: with a policy of 365 days for inactive people and
// 30 for anonymous ones, the leader's sweep raises system-initiated erase
// requests for the person idle 400 days and the anonymous visitor idle
// 40 days — and for nobody else; they erase as an operator's would; a
// second sweep finds nothing more; a follower refuses to sweep.
func TestRetentionSweep(t *testing.T) {
	c := hubtest.NewClusterWith(t, 3, nil)
	leader := c.Leader()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	apply := applyOn(t, c, leader)
	// Nothing to do without a policy.
	if got, err := c.Server(leader).RetentionSweep(ctx, 10); err != nil || len(got) != 0 {
		t.Fatalf("sweep without a policy = %v, %v", got, err)
	}
	now := c.Clock().Now()
	day := 24 * time.Hour
	e := hubtest.NewEdge("store-1", 1)
	ev := func(id string, idle time.Duration, ids ...profile.Identifier) replication.Entry {
		return e.Delta(hubtest.Event{Profile: id, MessageID: "m-" + id, Name: "Page Viewed", At: now.Add(-idle).UnixMilli(), IDs: ids})
	}
	apply(hub.MarshalSync(&hub.SyncBatch{Edge: "store-1", Entries: []replication.Entry{
		ev("01OLD", 400*day, hubtest.Email("old@example.org")),
		ev("01ANON", 40*day, hubtest.Anon("anon-40")),
		ev("01ANONNEW", 2*day, hubtest.Anon("anon-2")),
		ev("01KNOWN", 40*day, hubtest.Email("known@example.org")),
	}}))
	apply(define(catalog.KindRetention, catalog.RetentionPolicyName, `{"inactive_days":365,"anonymous_days":30}`))

	if _, err := c.Server((leader+1)%3).RetentionSweep(ctx, 10); err == nil {
		t.Fatal("a follower swept")
	}
	got, err := c.Server(leader).RetentionSweep(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	var swept []string
	for _, st := range got {
		if st.Type != "erase" || len(st.Profiles) != 1 {
			t.Fatalf("request %+v", st)
		}
		swept = append(swept, st.Profiles[0]+" "+st.Actor)
	}
	slices.Sort(swept)
	want := []string{"01ANON system:retention:anonymous", "01OLD system:retention:inactive"}
	if !slices.Equal(swept, want) {
		t.Fatalf("swept %v, want %v", swept, want)
	}
	for _, ref := range []string{"email:old@example.org", "anonymous_id:anon-40"} {
		if _, _, err := c.Server(leader).FSM().ProfileByIdentifier(ref); err == nil {
			t.Errorf("%s still resolves after the sweep", ref)
		}
	}
	for _, ref := range []string{"email:known@example.org", "anonymous_id:anon-2"} {
		if _, _, err := c.Server(leader).FSM().ProfileByIdentifier(ref); err != nil {
			t.Errorf("%s was erased: %v", ref, err)
		}
	}
	// The requests wait for the edge like any other; each names its
	// system actor (the request record is the trail).
	d, err := c.Server(leader).PrivacySync(ctx, "store-1", nil)
	if err != nil || len(d.Directives) != 2 {
		t.Fatalf("directives = %+v, %v", d, err)
	}
	if again, err := c.Server(leader).RetentionSweep(ctx, 10); err != nil || len(again) != 0 {
		t.Fatalf("second sweep = %v, %v", again, err)
	}
}

// TestRetentionSparesTheHousehold: the retention sweep erases an idle
// person who shares a landline with an active one; the active one stays,
// and the erasure's directive does not carry the landline's key, which
// every edge would erase the holders of (decision 0059).
func TestRetentionSparesTheHousehold(t *testing.T) {
	c := hubtest.NewClusterWith(t, 1, nil)
	leader := c.Leader()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	apply := applyOn(t, c, leader)
	now := c.Clock().Now()
	day := 24 * time.Hour
	landline := profile.Identifier{Type: profile.Phone, Value: "+12175550111"}
	e := hubtest.NewEdge("store-1", 1)
	ev := func(id string, idle time.Duration, traits map[string]any, ids ...profile.Identifier) replication.Entry {
		return e.Delta(hubtest.Event{Profile: id, Kind: profile.Identify, MessageID: "m-" + id, At: now.Add(-idle).UnixMilli(), IDs: ids, Traits: traits})
	}
	apply(hub.MarshalSync(&hub.SyncBatch{Edge: "store-1", Entries: []replication.Entry{
		ev("01CAT", 400*day, map[string]any{"firstName": "Cat", "lastName": "Kim", "birthday": "1981-05-02"}, hubtest.Email("cat@example.org"), landline),
		ev("01DAN", 2*day, map[string]any{"firstName": "Dan", "lastName": "Kim", "birthday": "1979-10-19"}, hubtest.Email("dan@example.org"), landline),
	}}))
	fsm := c.Server(leader).FSM()
	if v, err := fsm.Profile("01CAT"); err == nil && len(v.Fragments) > 1 {
		apply(hub.MarshalUnmerge(&hub.Unmerge{A: "01CAT", B: "01DAN", Actor: "steward", Reason: "two people"}))
	}
	apply(define(catalog.KindRetention, catalog.RetentionPolicyName, `{"inactive_days":365}`))
	got, err := c.Server(leader).RetentionSweep(ctx, 10)
	if err != nil || len(got) != 1 || !slices.Equal(got[0].Profiles, []string{"01CAT"}) {
		t.Fatalf("sweep = %+v, %v; want Cat's erasure", got, err)
	}
	if _, _, err := fsm.ProfileByIdentifier("email:cat@example.org"); err == nil {
		t.Error("Cat still resolves after the sweep")
	}
	if v, _, err := fsm.ProfileByIdentifier(landline.Key()); err != nil || v.ID != "01DAN" {
		t.Fatalf("the landline after Cat's erasure: %v %v; want Dan", v.ID, err)
	}
	d, err := c.Server(leader).PrivacySync(ctx, "store-1", nil)
	if err != nil || len(d.Directives) != 1 {
		t.Fatalf("directives = %+v, %v", d, err)
	}
	if keys := d.Directives[0].Keys; slices.Contains(keys, crdt.TombstoneKey(d.Salt, landline.Key())) ||
		!slices.Contains(keys, crdt.TombstoneKey(d.Salt, "email:cat@example.org")) {
		t.Errorf("the directive's keys hold the shared landline, or lack Cat's own e-mail")
	}
}
