package hub_test

import (
	"bytes"
	"errors"
	"testing"

	"ucv/hub"
	"ucv/hub/hubtest"
	"ucv/profile"
)

// reviewPair pushes two profiles with the same first and last name and
// state and different e-mails: under the default model their weight
// (≈ +0.7, probability ≈ 0.62) lies in the review band, so they stay
// apart, and two single records more likely one person than not are in
// the review queue (decision 0048).
func reviewPair(t *testing.T, l *log) {
	t.Helper()
	tr := map[string]any{"firstName": "Ann", "lastName": "Lee", "address": map[string]any{"state": "IL"}}
	e := hubtest.NewEdge("e", 1)
	if r := l.sync("e",
		e.Delta(hubtest.Event{Profile: "pa", Kind: profile.Identify, IDs: []profile.Identifier{hubtest.Email("a@x.org")}, Traits: tr}),
		e.Delta(hubtest.Event{Profile: "pb", Kind: profile.Identify, IDs: []profile.Identifier{hubtest.Email("b@y.org")}, Traits: tr}),
	); r.Err != nil {
		t.Fatal(r.Err)
	}
	rs := l.f.Reviews()
	if len(rs) != 1 || rs[0].A != "pa" || rs[0].B != "pb" || rs[0].ClusterA != "pa" || rs[0].ClusterB != "pb" {
		t.Fatalf("reviews = %+v, want the pending pair pa/pb", rs)
	}
	if len(rs[0].Explanation.Levels) == 0 || rs[0].Explanation.Weight != rs[0].Weight {
		t.Fatalf("explanation = %+v, want levels and the pair's weight %v", rs[0].Explanation, rs[0].Weight)
	}
}

func review(l *log, a, b string, accept bool) *hub.Result {
	l.t.Helper()
	return l.apply(hub.MarshalReview(&hub.Review{A: a, B: b, Accept: accept, Actor: "steward", Reason: "checked"}))
}

func TestReviewAccept(t *testing.T) {
	l := newLog(t)
	reviewPair(t, l)
	// The pair may be named in either order.
	if r := review(l, "pb", "pa", true); r.Err != nil {
		t.Fatal(r.Err)
	}
	v, err := l.f.Profile("pb")
	if err != nil || v.ID != "pa" || len(v.Fragments) != 2 {
		t.Fatalf("profile pb = %+v, %v; want cluster pa with both fragments", v, err)
	}
	if rs := l.f.Reviews(); len(rs) != 0 {
		t.Fatalf("reviews after accept = %+v, want none", rs)
	}
	h := l.f.History("pa")
	if len(h) == 0 || h[len(h)-1].Rule != "steward" || h[len(h)-1].Actor != "steward" || h[len(h)-1].Reason != "checked" {
		t.Fatalf("history = %+v, want a steward merge with actor and reason", h)
	}
	// No longer pending: a second accept changes nothing.
	if r := review(l, "pa", "pb", true); !errors.Is(r.Err, hub.ErrNotFound) {
		t.Fatalf("second accept: %v, want ErrNotFound", r.Err)
	}
}

func TestReviewReject(t *testing.T) {
	l := newLog(t)
	reviewPair(t, l)
	if r := review(l, "pa", "pb", false); r.Err != nil {
		t.Fatal(r.Err)
	}
	if rs := l.f.Reviews(); len(rs) != 0 {
		t.Fatalf("reviews after reject = %+v, want none", rs)
	}
	if v, err := l.f.Profile("pb"); err != nil || v.ID != "pb" || len(v.Fragments) != 1 {
		t.Fatalf("profile pb = %+v, %v; want it alone", v, err)
	}
	// The rejection is state: a restored replica keeps the queue empty
	// and gives the same bytes.
	snap := l.snapshot()
	f, err := hub.NewFSM()
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Restore(nopCloser{bytes.NewReader(snap)}); err != nil {
		t.Fatal(err)
	}
	if rs := f.Reviews(); len(rs) != 0 {
		t.Fatalf("restored reviews = %+v, want none", rs)
	}
	var again bytes.Buffer
	if err := f.WriteSnapshot(&again); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again.Bytes(), snap) {
		t.Fatal("restored state writes different snapshot bytes")
	}
}

func TestReviewUnknownPair(t *testing.T) {
	l := newLog(t)
	reviewPair(t, l)
	before := l.state()
	for _, c := range []struct {
		a, b string
		want error
	}{
		{"pa", "nobody", hub.ErrNotFound},
		{"pa", "pa", hub.ErrInvalid},
		{"", "pb", hub.ErrInvalid},
	} {
		if r := review(l, c.a, c.b, true); !errors.Is(r.Err, c.want) {
			t.Fatalf("review %q/%q: %v, want %v", c.a, c.b, r.Err, c.want)
		}
	}
	if !bytes.Equal(l.state(), before) {
		t.Fatal("a refused review changed the state")
	}
}
