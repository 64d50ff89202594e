package hub_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"ucv/crdt"
	"ucv/hub"
	"ucv/hub/hubtest"
	"ucv/profile"
	"ucv/profile/catalog"
	"ucv/profile/clv"
	"ucv/replication"
)

// shop builds an edge's outbox of orders and erasures for customers it
// keeps the state of.
type shop struct {
	seq uint64
	ps  map[string]*profile.Profile
}

func (s *shop) entry(id string, d *profile.Profile) replication.Entry {
	s.seq++
	b, err := d.Marshal()
	if err != nil {
		panic(err)
	}
	return replication.Entry{Seq: s.seq, Kind: replication.KindDelta, ProfileID: id, Delta: b}
}

func (s *shop) profile(id string) *profile.Profile {
	if s.ps == nil {
		s.ps = map[string]*profile.Profile{}
	}
	p := s.ps[id]
	if p == nil {
		p = profile.New(id)
		s.ps[id] = p
	}
	return p
}

// order is customer id's order of amount in cur at at.
func (s *shop) order(id string, at time.Time, amount, cur string) replication.Entry {
	ids := []profile.Identifier{{Type: profile.UserID, Value: id}}
	m := &profile.Message{Kind: profile.Track, MessageID: fmt.Sprintf("%s-%d", id, s.seq+1), Event: "Order Completed", Identifiers: ids,
		Timestamp: at, Properties: map[string]any{"total": json.Number(amount), "currency": cur}}
	d := s.profile(id).Apply(m, ids, profile.Source{Node: 7, Name: "shop"}, crdt.Timestamp{Wall: at.UnixMilli(), Node: 7})
	return s.entry(id, d)
}

// simulated returns the orders of n EUR customers drawn from the
// models (clv.Simulate, first purchases over the year before now) and
// marks those who repeated in repeat.
func (s *shop) simulated(now time.Time, n int, repeat map[string]bool) []replication.Entry {
	day := 24 * time.Hour
	start := now.Truncate(day).Add(-364 * day)
	txs := clv.Simulate(rand.New(rand.NewPCG(3, 4)), n, clv.BGNBD{R: 0.8, Alpha: 40, A: 0.6, B: 2.5}, clv.GammaGamma{P: 6, Q: 4, V: 150}, 365)
	var es []replication.Entry
	for i, tx := range txs {
		at := start.Add(time.Duration(tx.Day)*day + time.Duration(i)*time.Millisecond)
		if at.After(now) {
			at = now.Add(-time.Minute)
		}
		if i > 0 && txs[i-1].Customer == tx.Customer {
			repeat[tx.Customer] = true
		}
		es = append(es, s.order(tx.Customer, at, fmt.Sprintf("%.2f", tx.Amount), "EUR"))
	}
	return es
}

// erase is customer id's erasure.
func (s *shop) erase(id string, at time.Time) replication.Entry {
	return s.entry(id, s.profile(id).Erase([]byte("salt"), crdt.Timestamp{Wall: at.UnixMilli(), Node: 7}))
}

func syncShop(t *testing.T, c *hubtest.Cluster, es []replication.Entry) {
	t.Helper()
	cmd, err := hub.MarshalSync(&hub.SyncBatch{Edge: "shop", Entries: es})
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.Apply(c.Leader(), cmd)
	if err != nil {
		t.Fatal(err)
	}
	c.WaitApplied(res.Index)
}

// The hub fits both models over every cluster's orders, from any node
// (a follower forwards the definitions), every node then holds them and
// scores with them; with too little data a fit is refused and the model
// in force stays.
func TestFitModels(t *testing.T) {
	c := hubtest.NewCluster(t, 3)
	ctx := context.Background()
	follower := (c.Leader() + 1) % 3
	fs := c.Server(follower)
	if _, err := fs.FitModel(ctx, "test", catalog.ModelCLV); !errors.Is(err, hub.ErrTooLittleData) {
		t.Fatalf("fit with no profile: %v, want ErrTooLittleData", err)
	}
	now := time.Now()
	day := 24 * time.Hour
	// 300 EUR customers drawn from the models (first purchases over the
	// last year), a weekly buyer, a customer who bought twice long ago,
	// and three USD customers of whom one repeated.
	var s shop
	var es []replication.Entry
	repeat := map[string]bool{}
	es = s.simulated(now, 300, repeat)
	for k := range 8 {
		es = append(es, s.order("weekly", now.Add(-time.Duration(2+7*k)*day), "45", "EUR"))
	}
	es = append(es, s.order("twice", now.Add(-200*day), "30", "EUR"), s.order("twice", now.Add(-150*day), "50", "EUR"))
	es = append(es, s.order("u0", now.Add(-90*day), "15", "USD"), s.order("u0", now.Add(-9*day), "25", "USD"),
		s.order("u1", now.Add(-20*day), "15", "USD"), s.order("u2", now.Add(-30*day), "15", "USD"))
	repeat["weekly"], repeat["twice"], repeat["u0"] = true, true, true
	syncShop(t, c, es)
	fits, err := fs.FitModel(ctx, "test", hub.FitModels...)
	if err != nil {
		t.Fatal(err)
	}
	customers := len(s.ps)
	if len(fits) != 2 || fits[0].Model != "clv" || fits[1].Model != "rfm" || fits[0].Customers != customers {
		t.Fatalf("fits %+v, want clv and rfm over %d customers", fits, customers)
	}
	var m catalog.CLV
	if err := json.Unmarshal(fits[0].Parameters, &m); err != nil {
		t.Fatal(err)
	}
	if _, ok := m.Currencies["EUR"]; !ok || m.Customers != customers || m.Currencies["EUR"].Customers != customers-3 {
		t.Errorf("clv model %+v", m)
	}
	if _, ok := m.Currencies["USD"]; ok || m.Skipped["USD"] == "" {
		t.Errorf("USD: %+v (one repeat customer cannot identify a spend model)", m)
	}
	t.Logf("fitted %+v over %d customers", m.BGNBD, m.Customers)
	c.WaitApplied(fits[1].Version)
	for i := range 3 {
		cat := c.Server(i).FSM().Catalog()
		if !bytes.Equal(cat.Models["clv"], fits[0].Parameters) || !bytes.Equal(cat.Models["rfm"], fits[1].Parameters) {
			t.Fatalf("node %d's catalog holds %s", i, cat.Models)
		}
	}
	// Every node scores with them: a weekly buyer is a champion, likelier
	// alive and buys more than someone who bought twice long ago.
	score := func(id string) map[string]any {
		v, err := c.Server(follower).FSM().Profile(id)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]any{}
		for _, cv := range c.Server(follower).FSM().Compiled().Evaluate(v.Profile, now).Computed {
			out[cv.Name] = cv.Value
		}
		return out
	}
	weekly, twice := score("weekly"), score("twice")
	if weekly["rfm"].(map[string]any)["segment"] != "Champions" || weekly["p_alive"].(float64) <= twice["p_alive"].(float64) ||
		weekly["expected_orders_90d"].(float64) <= twice["expected_orders_90d"].(float64) {
		t.Errorf("weekly buyer %v, two orders long ago %v", weekly, twice)
	}
	if weekly["rfm"].(map[string]any)["f"].(int64) < twice["rfm"].(map[string]any)["f"].(int64) {
		t.Errorf("more orders, lower f: %v vs %v", weekly["rfm"], twice["rfm"])
	}
	if _, ok := weekly["predicted_value_365d"].(map[string]any)["EUR"]; !ok {
		t.Errorf("predicted value %v", weekly["predicted_value_365d"])
	}

	// Every repeat customer erased: the CLV fit has too little data and
	// the model in force stays; RFM still fits on the one-time buyers.
	es = nil
	for id := range repeat {
		es = append(es, s.erase(id, now))
	}
	syncShop(t, c, es)
	before := c.Server(follower).FSM().Catalog().Models["clv"]
	got, err := fs.FitModel(ctx, "test", hub.FitModels...)
	if !errors.Is(err, hub.ErrTooLittleData) || len(got) != 1 || got[0].Model != "rfm" || got[0].Customers != customers-len(repeat) {
		t.Fatalf("fit after erasures: %+v, %v; want only rfm and ErrTooLittleData", got, err)
	}
	c.WaitApplied(got[0].Version)
	if after := c.Server(follower).FSM().Catalog().Models["clv"]; !bytes.Equal(after, before) {
		t.Errorf("the clv model changed after a refused fit: %s → %s", before, after)
	}
}

// The leader refits on a schedule.
func TestFitSchedule(t *testing.T) {
	nw := new(hubtest.Network)
	cfg := nw.Config("h0", true)
	cfg.ModelFitInterval = 20 * time.Millisecond
	s, err := hub.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(context.Background()) })
	deadline := time.Now().Add(10 * time.Second)
	for !s.IsLeader() && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	var sh shop
	es := sh.simulated(time.Now(), 200, map[string]bool{})
	if _, err := s.Sync(context.Background(), &hub.SyncBatch{Edge: "shop", Entries: es}); err != nil {
		t.Fatal(err)
	}
	var first []byte
	for time.Now().Before(deadline) {
		cat := s.FSM().Catalog()
		if first == nil && cat.Models["clv"] != nil && cat.Models["rfm"] != nil {
			first = cat.Models["clv"]
		}
		if first != nil && !bytes.Equal(cat.Models["clv"], first) {
			return // fitted, then refitted
		}
		time.Sleep(20 * time.Millisecond)
	}
	_, ferr := s.FitModel(context.Background(), "t", "clv")
	t.Fatalf("no scheduled fit and refit within 10 s: catalog models %v (%v)", s.FSM().Catalog().Models, ferr)
}
