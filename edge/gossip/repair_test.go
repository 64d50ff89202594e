package gossip_test

import (
	"bytes"
	"errors"
	"sync"
	"testing"
	"time"

	"ucv/edge/edgetest"
	"ucv/edge/store"
)

// TestDamagedStateRepairedByAntiEntropy: a profile state damaged on disk
// at one edge is found when read, set aside (its lookups answer
// ErrDamaged, never the empty stand-in), and repaired by anti-entropy
// from the other edge's full state; the edges converge again.
func TestDamagedStateRepairedByAntiEntropy(t *testing.T) {
	var mu sync.Mutex
	paths := map[string]string{}
	c := edgetest.NewCluster(t, 2, edgetest.Options{Store: func(o *store.Options) {
		mu.Lock()
		paths[o.NodeName] = o.Path
		mu.Unlock()
	}})
	res := c.Ingest(t, 0, `{"type":"identify","userId":"u1","messageId":"m1","traits":{"email":"ann@example.com","plan":"zz-marker-plan"}}`)
	pid := res.ProfileIDs[0]
	c.Wait(t, 10*time.Second, "the profile on both edges", func() bool { _, ok := c.Resolves(email("ann@example.com")); return ok })
	c.Wait(t, 10*time.Second, "equal digests", c.Converged)
	want, err := c.Edges[0].Store.LookupID(pid)
	if err != nil {
		t.Fatal(err)
	}

	// Flip a bit inside edge 1's stored state of the profile: the
	// profiles bucket's entry is the ID, its record's 4-byte checksum,
	// then the state (codec version, profile tag, …).
	e1 := c.Edges[1]
	path := paths[e1.Name]
	flipped := edgetest.FlipState(t, path, pid)
	if flipped == 0 {
		t.Fatal("found no stored state of the profile in the file")
	}

	if _, err := e1.Store.Profile(pid); !errors.Is(err, store.ErrDamaged) {
		t.Fatalf("Profile(damaged state) = %v, want ErrDamaged", err)
	}
	// Until repaired, a lookup answers ErrDamaged or the whole profile.
	c.Wait(t, 20*time.Second, "the damaged profile repaired from the other edge", func() bool {
		v, err := e1.Store.LookupID(pid)
		if err != nil {
			if !errors.Is(err, store.ErrDamaged) {
				t.Fatalf("LookupID while repairing = %v", err)
			}
			return false
		}
		if !bytes.Equal(v.JSON, want.JSON) {
			t.Fatalf("LookupID while repairing served\n%s\nwant\n%s", v.JSON, want.JSON)
		}
		st, _ := e1.Store.Stats()
		return st.Repaired == 1
	})
	st, _ := e1.Store.Stats()
	if st.StateMismatches != 1 || st.Repairing != 0 {
		t.Errorf("Stats = %d state mismatches, %d repairing; want 1, 0", st.StateMismatches, st.Repairing)
	}
	c.Wait(t, 10*time.Second, "equal digests after the repair", c.Converged)
	if err := e1.Store.Check(); err != nil {
		t.Error(err)
	}
}
