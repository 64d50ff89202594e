package hub_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"ucv/hub"
	"ucv/hub/hubtest"
	"ucv/profile"
	"ucv/profile/catalog"
)

// t0 is the leader's clock in the FSM tests of definitions.
var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func define(kind, name, body string) ([]byte, error) {
	return hub.MarshalDefine(&hub.Define{Kind: kind, Name: name, Definition: []byte(body), Actor: "ops"})
}

func undefine(kind, name string) ([]byte, error) {
	return hub.MarshalUndefine(&hub.Undefine{Kind: kind, Name: name, Actor: "ops"})
}

const (
	ordersBody  = `{"event":"Order Completed","aggregate":"count","window":"720h"}`
	revenueBody = `{"event":"Order Completed","aggregate":"sum","property":"revenue"}`
)

// Definitions change the catalog at their index (its version); a
// refused one is a domain error that changes nothing, identically on
// every replica.
func TestCatalogCommands(t *testing.T) {
	l := newLog(t)
	l.at = t0
	twoStores(l)
	if c := l.f.Catalog(); c.Version != 0 || len(c.ComputedTraits) != 0 {
		t.Fatalf("a new state's catalog = %+v", c)
	}
	r := l.apply(define(catalog.KindComputedTrait, "orders_30d", ordersBody))
	if r.Err != nil {
		t.Fatal(r.Err)
	}
	c := l.f.Catalog()
	want := catalog.ComputedTrait{Event: "Order Completed", Aggregate: "count", Window: "720h"}
	if c.Version != r.Index || c.ComputedTraits["orders_30d"] != want {
		t.Fatalf("catalog after define = %+v, want version %d and %+v", c, r.Index, want)
	}
	before := l.state()
	for _, tc := range []struct {
		name string
		cmd  func() ([]byte, error)
		err  error
	}{
		{"unknown aggregate", func() ([]byte, error) {
			return define(catalog.KindComputedTrait, "x", `{"event":"E","aggregate":"median","property":"p"}`)
		}, hub.ErrInvalid},
		{"window over 400 days", func() ([]byte, error) {
			return define(catalog.KindComputedTrait, "x", `{"event":"E","aggregate":"count","window":"401d"}`)
		}, hub.ErrInvalid},
		{"bad name", func() ([]byte, error) { return define(catalog.KindComputedTrait, "X-1", ordersBody) }, hub.ErrInvalid},
		{"built-in name", func() ([]byte, error) { return define(catalog.KindComputedTrait, "order_count", ordersBody) }, hub.ErrInvalid},
		{"unknown field", func() ([]byte, error) {
			return define(catalog.KindComputedTrait, "x", `{"event":"E","aggregate":"count","colour":"red"}`)
		}, hub.ErrInvalid},
		{"unknown kind", func() ([]byte, error) { return define("segments", "x", ordersBody) }, hub.ErrInvalid},
		{"offer without placement", func() ([]byte, error) { return define(catalog.KindOffer, "x", `{"priority":1}`) }, hub.ErrInvalid},
		{"undefine unknown", func() ([]byte, error) { return undefine(catalog.KindComputedTrait, "nope") }, hub.ErrNoDefinition},
		{"undefine unknown kind", func() ([]byte, error) { return undefine("segments", "orders_30d") }, hub.ErrInvalid},
	} {
		r := l.apply(tc.cmd())
		if !errors.Is(r.Err, tc.err) {
			t.Errorf("%s: err = %v, want %v", tc.name, r.Err, tc.err)
		}
		if got := l.state(); !bytes.Equal(got, before) {
			t.Errorf("%s: a refused command changed the state", tc.name)
		}
	}
	r = l.apply(define(catalog.KindComputedTrait, "revenue", revenueBody))
	if r.Err != nil {
		t.Fatal(r.Err)
	}
	r = l.apply(undefine(catalog.KindComputedTrait, "orders_30d"))
	if r.Err != nil {
		t.Fatal(r.Err)
	}
	if c := l.f.Catalog(); c.Version != r.Index || len(c.ComputedTraits) != 1 || c.ComputedTraits["revenue"].Aggregate != "sum" {
		t.Fatalf("catalog after undefine = %+v", c)
	}
}

// The change feed carries the catalog to a reader whose cursor is
// before its version, and moves the cursor past it when the page
// reaches the end of the feed, so a catalog change alone is news.
func TestFeedCarriesCatalog(t *testing.T) {
	l := newLog(t)
	l.at = t0
	twoStores(l)
	l.sync("edge-c", hubtest.Delta(3, 1, hubtest.Event{Profile: p3, IDs: []profile.Identifier{hubtest.Anon("anon-3")}}))
	if p := l.f.FeedPage(0, 100); p.Catalog != nil {
		t.Fatal("the feed carries a catalog before any definition")
	}
	r := l.apply(define(catalog.KindComputedTrait, "orders_30d", ordersBody))
	if r.Err != nil {
		t.Fatal(r.Err)
	}
	p := l.f.FeedPage(r.Index-1, 100)
	if p.Catalog == nil || p.Next != r.Index || len(p.Items) != 0 {
		t.Fatalf("page after the define = %d items, next %d, catalog %v; want only the catalog, next %d", len(p.Items), p.Next, p.Catalog != nil, r.Index)
	}
	got, err := catalog.Unmarshal(p.Catalog)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(l.f.Catalog(), got, cmpopts.EquateEmpty()); d != "" {
		t.Fatalf("feed catalog differs (-fsm +feed):\n%s", d)
	}
	if p := l.f.FeedPage(r.Index, 100); p.Catalog != nil || p.Next != r.Index {
		t.Fatalf("after the catalog's version: catalog %v, next %d", p.Catalog != nil, p.Next)
	}
	// From the start with a page too small for the whole feed: the
	// catalog comes along, the cursor stays on the items.
	p = l.f.FeedPage(0, 1)
	if p.Catalog == nil || p.Next >= r.Index || len(p.Items) == 0 {
		t.Fatalf("first small page: %d items, next %d, catalog %v", len(p.Items), p.Next, p.Catalog != nil)
	}
	for p.Next < r.Index {
		q := l.f.FeedPage(p.Next, 1)
		if q.Next <= p.Next {
			t.Fatalf("feed stuck at %d", p.Next)
		}
		p = q
	}
	if p.Next != r.Index {
		t.Fatalf("the feed ends at %d, want the catalog's version %d", p.Next, r.Index)
	}
	// The bootstrap copy holds the catalog too.
	if b := l.f.Bootstrap(); !bytes.Equal(b.Catalog(), l.f.FeedPage(0, 100).Catalog) {
		t.Fatal("the bootstrap copy's catalog differs from the feed's")
	}
}

// A snapshot with a catalog is golden, restores to the same catalog,
// and the snapshots from before catalogs existed restore with an empty
// one.
func TestSnapshotCatalogGolden(t *testing.T) {
	l := newLog(t)
	l.at = t0
	twoStores(l)
	for _, cmd := range [][]byte{
		must(define(catalog.KindComputedTrait, "orders_30d", ordersBody)),
		must(define(catalog.KindComputedTrait, "revenue", revenueBody)),
	} {
		if r := l.apply(cmd, nil); r.Err != nil {
			t.Fatal(r.Err)
		}
	}
	r := goldenRestore(t, l.snapshot(), "snapshot_catalog.golden", "SnapshotCatalogGolden")
	if d := cmp.Diff(l.f.Catalog(), r.Catalog(), cmpopts.EquateEmpty()); d != "" {
		t.Fatalf("restored catalog differs (-want +got):\n%s", d)
	}
	for _, name := range []string{"snapshot.golden", "snapshot_model.golden", "snapshot_before_ledger.golden"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		f := newFSM(t)
		if err := f.Restore(nopCloser{bytes.NewReader(b)}); err != nil {
			t.Fatalf("Restore(%s): %v", name, err)
		}
		if c := f.Catalog(); c.Version != 0 || len(c.ComputedTraits)+len(c.Audiences) != 0 {
			t.Errorf("%s restored with catalog %+v", name, c)
		}
	}
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

// Definitions made through any node of a 3-node cluster reach every
// node's FSM at the same version, and survive a leader failover.
func TestCatalogReplicated(t *testing.T) {
	c := hubtest.NewCluster(t, 3)
	leader := c.Leader()
	follower := (leader + 1) % 3
	r, err := c.Apply(follower, must(define(catalog.KindComputedTrait, "orders_30d", ordersBody)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Apply(leader, must(define(catalog.KindComputedTrait, "bad", `{"event":"E","aggregate":"count","window":"9999h"}`))); !errors.Is(err, hub.ErrInvalid) {
		t.Fatalf("an invalid definition: err = %v, want ErrInvalid", err)
	}
	c.WaitApplied(r.Index)
	want := c.Server(leader).FSM().Catalog()
	if want.Version != r.Index || len(want.ComputedTraits) != 1 {
		t.Fatalf("leader's catalog = %+v", want)
	}
	for i := range c.Len() {
		if d := cmp.Diff(want, c.Server(i).FSM().Catalog(), cmpopts.EquateEmpty()); d != "" {
			t.Errorf("node %d's catalog differs (-leader +node):\n%s", i, d)
		}
	}
	c.Kill(leader)
	nl := c.Leader()
	r2, err := c.Apply(nl, must(undefine(catalog.KindComputedTrait, "orders_30d")))
	if err != nil {
		t.Fatal(err)
	}
	c.Restart(leader)
	c.WaitApplied(r2.Index)
	for i := range c.Len() {
		got := c.Server(i).FSM().Catalog()
		if got.Version != r2.Index || len(got.ComputedTraits) != 0 {
			t.Errorf("node %d's catalog after undefine = %+v", i, got)
		}
	}
}

// The definition a command carries is JSON; a malformed one never
// reaches the log: Server.Apply refuses it.
func TestDefineRefusedBeforeTheLog(t *testing.T) {
	c := hubtest.NewCluster(t, 1)
	idx := c.Server(0).FSM().Index()
	_, err := c.Apply(0, must(define(catalog.KindComputedTrait, "x", `{"event":`)))
	if !errors.Is(err, hub.ErrInvalid) || !strings.Contains(err.Error(), "body") {
		t.Fatalf("malformed JSON: err = %v, want ErrInvalid naming the body", err)
	}
	if got := c.Server(0).FSM().Index(); got != idx {
		t.Fatalf("a refused command moved the index from %d to %d", idx, got)
	}
	var v any
	if json.Unmarshal([]byte(ordersBody), &v) != nil {
		t.Fatal("test body is not JSON")
	}
}
