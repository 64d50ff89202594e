package integration_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"

	"ucv/edge/edgetest"
	"ucv/edge/hubsync"
	"ucv/edge/store"
	"ucv/profile"
)

// TestDamagedStateRefetchedFromHub: an edge without peers whose stored
// state of a profile is damaged on disk sets it aside (lookups answer
// ErrDamaged), resets its feed position, and the hub's copy of the
// cluster — pulled again from the start of the feed — repairs it.
func TestDamagedStateRefetchedFromHub(t *testing.T) {
	h, url := newHub(t, "h1")
	path := filepath.Join(t.TempDir(), "edge.db")
	o := store.DefaultOptions(path)
	o.NodeName, o.NoSync, o.Populate = "till-1", true, false
	o.RefetchPositions = []string{hubsync.FeedCursor}
	st, err := store.Open(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close(context.Background()) })
	e := &edge{t: t, path: path, st: st, id: fmt.Sprintf("%016x", uint64(st.Node())), logs: &logBuffer{}}
	e.orders(0, 20)
	e.sync(url)
	waitFor(t, "the edge and the hub settled", func() bool { return e.settled(h) })
	u3 := profile.Identifier{Type: profile.UserID, Value: "u3"}
	want, err := st.LookupIdentifier(u3)
	if err != nil {
		t.Fatal(err)
	}
	pid := want.ID

	// Flip a bit inside the stored state: the profiles bucket's entry is
	// the ID, the record's 4-byte checksum, then the state (codec
	// version, profile tag, …).
	if edgetest.FlipState(t, path, pid) == 0 {
		t.Fatal("found no stored state of the profile in the file")
	}

	if _, err := st.Profile(pid); !errors.Is(err, store.ErrDamaged) {
		t.Fatalf("Profile(damaged state) = %v, want ErrDamaged", err)
	}
	// The read asked the committer to set it aside…
	waitFor(t, "the damaged state set aside", func() bool {
		s, _ := st.Stats()
		return s.StateMismatches == 1
	})
	// …and until the hub's copy repairs it, a lookup answers ErrDamaged
	// or the whole profile, never the stand-in.
	waitFor(t, "the profile repaired from the hub's copy", func() bool {
		v, err := st.LookupIdentifier(u3)
		if err != nil {
			if !errors.Is(err, store.ErrDamaged) {
				t.Fatalf("LookupIdentifier while repairing = %v", err)
			}
			return false
		}
		if !bytes.Equal(v.JSON, want.JSON) {
			t.Fatalf("LookupIdentifier while repairing served\n%s\nwant\n%s", v.JSON, want.JSON)
		}
		s, _ := st.Stats()
		return s.Repaired == 1
	})
	if s, _ := st.Stats(); s.StateMismatches != 1 || s.Repaired != 1 || s.Repairing != 0 {
		t.Errorf("Stats = %d mismatches, %d repaired, %d repairing; want 1, 1, 0", s.StateMismatches, s.Repaired, s.Repairing)
	}
	if err := e.holds(h, 0, 20); err != nil {
		t.Error(err)
	}
	if err := st.Check(); err != nil {
		t.Error(err)
	}
}
