package identity

import (
	"testing"
)

// person records for the review queue tests: same name and state,
// different e-mails — under the untrained model a pair of them scores
// about +0.7 (probability ≈ 0.62): in the review band, more likely one
// person than not.
func annLee(id, email string) Record {
	return rec(id, "first_name", "Ann", "last_name", "Lee", "state", "IL", "email", email)
}

// TestReviewQueueCollapsesClusterPairs: two records linked by a shared
// e-mail and a third that resembles both give two candidate pairs but
// one item (one ruling joins or separates the clusters); a third cluster
// resembling the first two waits until their item is ruled on (at most
// one item per cluster), then comes up.
func TestReviewQueueCollapsesClusterPairs(t *testing.T) {
	ix := resolveSmall(t,
		annLee("x1", "ann@one.org"), annLee("x2", "ann@one.org"),
		annLee("y1", "ann@two.org"),
	)
	if !sameCluster(t, ix, "x1", "x2") || sameCluster(t, ix, "x1", "y1") {
		t.Fatalf("clusters %+v, want {x1 x2} {y1}", ix.Clusters())
	}
	if c := ix.ReviewCandidates(); len(c) != 2 {
		t.Fatalf("candidates %+v, want x1/y1 and x2/y1", c)
	}
	q := ix.Reviews()
	if len(q) != 1 {
		t.Fatalf("queue %+v, want one item for the two clusters", q)
	}
	r := q[0]
	if r.Pairs != 2 || r.SizeA+r.SizeB != 3 || r.SizeA*r.SizeB != 2 {
		t.Fatalf("item %+v, want 2 pairs between clusters of 2 and 1", r)
	}
	if r.ClusterProbability < ReviewMinProbability || r.ClusterProbability >= 1 {
		t.Fatalf("cluster probability %v, want in [%v, 1)", r.ClusterProbability, ReviewMinProbability)
	}
	if want := r.ClusterProbability * 4 / 3; !near(r.Benefit, want) {
		t.Fatalf("benefit %v, want %v (probability × 2·2·1/3)", r.Benefit, want)
	}

	// A third cluster like both: three cluster pairs, but only one item
	// per cluster, the one of highest benefit ({x1 x2} with y1 or z1).
	ix = resolveSmall(t,
		annLee("x1", "ann@one.org"), annLee("x2", "ann@one.org"),
		annLee("y1", "ann@two.org"), annLee("z1", "ann@three.org"),
	)
	q = ix.Reviews()
	if len(q) != 1 || q[0].A != "x1" || q[0].B != "y1" || q[0].SizeA != 2 {
		t.Fatalf("queue %+v, want the single item x1/y1", q)
	}
	if _, err := ix.Reject("x1", "y1"); err != nil {
		t.Fatal(err)
	}
	// {x1 x2} and y1 can no longer be joined (a steward said x1 is not
	// y1), though x2/y1 is still a candidate; the next item is x1/z1.
	q = ix.Reviews()
	if len(q) != 1 || q[0].A != "x1" || q[0].B != "z1" {
		t.Fatalf("queue after reject %+v, want x1/z1", q)
	}
	for _, r := range q {
		if r.A == "x2" && r.B == "y1" {
			t.Fatalf("x2/y1 offered though its clusters cannot be joined: %+v", q)
		}
	}
	if _, err := ix.Accept("x1", "z1"); err != nil {
		t.Fatal(err)
	}
	if q = ix.Reviews(); len(q) != 0 {
		t.Fatalf("queue after accept %+v, want empty (y1 was rejected against the cluster)", q)
	}
}

// TestReviewQueueRankedByBenefit: items come highest expected benefit
// first — not by record ID, and not by probability alone: joining a
// cluster of two outweighs a likelier pair of single records.
func TestReviewQueueRankedByBenefit(t *testing.T) {
	ix := resolveSmall(t,
		// a: single records, same name and state (p ≈ 0.62).
		rec("a1", "first_name", "Bob", "last_name", "Ray", "state", "OR", "email", "bob@one.org"),
		rec("a2", "first_name", "Bob", "last_name", "Ray", "state", "OR", "email", "bob@two.org"),
		// b: single records, same name, state and gender (likelier).
		rec("b1", "first_name", "Cy", "last_name", "Moe", "state", "WA", "gender", "male", "email", "cy@one.org"),
		rec("b2", "first_name", "Cy", "last_name", "Moe", "state", "WA", "gender", "male", "email", "cy@two.org"),
		// c: a cluster of two and a single record (p ≈ 0.62).
		annLee("c1", "ann@one.org"), annLee("c2", "ann@one.org"), annLee("c3", "ann@two.org"),
		// d: single records, same name only (p ≈ 0.25): a candidate, not
		// worth a ruling.
		rec("d1", "first_name", "Dee", "last_name", "Fox", "email", "dee@one.org"),
		rec("d2", "first_name", "Dee", "last_name", "Fox", "email", "dee@two.org"),
	)
	q := ix.Reviews()
	var got []string
	for _, r := range q {
		got = append(got, r.A+"/"+r.B)
	}
	want := []string{"c1/c3", "b1/b2", "a1/a2"}
	if len(got) != len(want) {
		t.Fatalf("queue %v (%+v), want %v", got, q, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("queue %v (%+v), want %v", got, q, want)
		}
	}
	for i := 1; i < len(q); i++ {
		if q[i].Benefit > q[i-1].Benefit {
			t.Fatalf("item %d benefit %v above item %d's %v", i, q[i].Benefit, i-1, q[i-1].Benefit)
		}
	}
	if !(q[1].ClusterProbability > q[0].ClusterProbability) {
		t.Fatalf("want the cluster item first despite a lower probability: %+v", q)
	}
	found := false
	for _, c := range ix.ReviewCandidates() {
		if c.A == "d1" && c.B == "d2" {
			found = c.Probability < ReviewMinProbability
		}
	}
	if !found {
		t.Fatalf("d1/d2 should be a candidate below ReviewMinProbability: %+v", ix.ReviewCandidates())
	}
}

func near(a, b float64) bool { return a-b < 1e-9 && b-a < 1e-9 }
