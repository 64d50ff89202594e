package hub_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// A snapshot written while profiles encoded every survivorship
// candidate in full (the first form of 0045) restores to the same
// profiles, candidates included, as today's snapshot.golden, and
// re-snapshots to today's bytes (candidates that hold their trait's
// register encoded by origin) — today's for a snapshot that holds
// states only, snapshot_before_adopt.golden: a state-form snapshot
// cannot say which states are still a first delta's (decision 0070).
func TestSnapshotBeforeCandidateOriginsRestores(t *testing.T) {
	a, b, _, _ := restoreGoldens(t, "snapshot_before_origins.golden")
	candidates := 0
	for _, id := range []string{p1, p2, p3} {
		va, err1 := a.Profile(id)
		vb, err2 := b.Profile(id)
		if err1 != nil || err2 != nil {
			t.Fatalf("Profile(%s): %v, %v", id, err1, err2)
		}
		candidates += va.Profile.Candidates.Len()
		if !va.Profile.Equal(vb.Profile) {
			t.Errorf("%s: the old snapshot's profile differs from today's", id)
		}
	}
	if candidates == 0 {
		t.Error("no candidates restored")
	}
	var again bytes.Buffer
	if err := a.WriteSnapshot(&again); err != nil {
		t.Fatal(err)
	}
	states, err := os.ReadFile(filepath.Join("testdata", "snapshot_before_adopt.golden"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again.Bytes(), states) {
		t.Error("the old snapshot does not re-snapshot to today's bytes")
	}
}
