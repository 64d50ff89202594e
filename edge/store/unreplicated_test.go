package store

import (
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
	bolt "go.etcd.io/bbolt"

	"ucv/profile"
	"ucv/replication"
)

// outboxSequence is the outbox bucket's sequence: the last number an
// entry was given, written or not.
func outboxSequence(tb testing.TB, s *Store) uint64 {
	tb.Helper()
	var seq uint64
	if err := s.view(func(tx *bolt.Tx) error {
		seq = tx.Bucket(bucketOutbox).Sequence()
		return nil
	}); err != nil {
		tb.Fatal(err)
	}
	return seq
}

// An unreplicated store (decision 0123) numbers every outbox entry a
// replicated one writes — new profiles, events applied at once and
// deferred ones, merges — and writes none, so its profiles are the
// same and a hub attached later sees exactly the sequences a trimmed
// outbox would show. Reopened replicated, it writes its entries again
// from the next number.
func TestUnreplicatedOutboxIsNumberedNotWritten(t *testing.T) {
	rep := open(t)
	unrep := open(t, func(o *Options) { o.Unreplicated = true })
	both := func(bodies ...string) {
		t.Helper()
		for _, s := range []*Store{rep, unrep} {
			ingest(t, s, bodies...)
		}
	}
	var seed []string
	for i := range 6 {
		seed = append(seed, fmt.Sprintf(`{"type":"identify","userId":"u%d","messageId":"seed-%d","traits":{"email":"u%d@example.com"}}`, i, i, i))
	}
	seed = append(seed, `{"type":"track","anonymousId":"a1","messageId":"seed-a1","event":"Product Viewed"}`)
	both(seed...)
	// Events on stored profiles (deferred), a second one in the same
	// batch, a new person, and a merge: the visitor a1 signs in as u4.
	both(`{"type":"track","userId":"u1","messageId":"t1","event":"Order Completed","properties":{"total":10}}`,
		`{"type":"track","userId":"u1","messageId":"t2","event":"Order Completed","properties":{"total":5}}`,
		`{"type":"page","userId":"u2","messageId":"p1","name":"home"}`,
		`{"type":"track","userId":"u9","messageId":"t3","event":"Signed Up"}`,
		`{"type":"identify","userId":"u4","anonymousId":"a1","messageId":"i1"}`,
		`{"type":"track","userId":"u4","messageId":"t4","event":"Order Completed","properties":{"total":7}}`)

	written, err := rep.Outbox(0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	merges := 0
	for _, e := range written {
		if e.Kind == replication.KindMerge {
			merges++
		}
	}
	if len(written) < 10 || merges == 0 {
		t.Fatalf("the replicated store wrote %d entries, %d merges: the stream should give more than 10 and a merge", len(written), merges)
	}
	if es, err := unrep.Outbox(0, 1000); err != nil || len(es) != 0 {
		t.Fatalf("unreplicated outbox holds %d entries, %v; want none", len(es), err)
	}
	if st, err := unrep.Stats(); err != nil || st.OutboxLen != 0 {
		t.Fatalf("unreplicated outbox gauge %d, %v; want 0", st.OutboxLen, err)
	}
	last := written[len(written)-1].Seq
	if got, want := outboxSequence(t, unrep), outboxSequence(t, rep); got != want || want != last {
		t.Fatalf("outbox sequence %d unreplicated, %d replicated (last entry %d): want all equal", got, want, last)
	}
	for i := range 10 {
		for _, id := range []profile.Identifier{
			{Type: profile.UserID, Value: fmt.Sprintf("u%d", i)},
			{Type: profile.Email, Value: fmt.Sprintf("u%d@example.com", i)},
		} {
			a, errA := rep.LookupIdentifier(id)
			b, errB := unrep.LookupIdentifier(id)
			if (errA == nil) != (errB == nil) {
				t.Fatalf("%s: replicated %v, unreplicated %v", id.Key(), errA, errB)
			}
			if errA != nil {
				continue
			}
			if diff := cmp.Diff(comparableView(t, a), comparableView(t, b)); diff != "" {
				t.Fatalf("%s differs (-replicated +unreplicated):\n%s", id.Key(), diff)
			}
		}
	}

	unrep.opts.Unreplicated = false
	unrep = reopen(t, unrep)
	both(`{"type":"track","userId":"u3","messageId":"t5","event":"Order Completed","properties":{"total":3}}`)
	after, err := rep.Outbox(last, 100)
	if err != nil || len(after) == 0 {
		t.Fatalf("replicated entries after %d: %d, %v", last, len(after), err)
	}
	got, err := unrep.Outbox(0, 100)
	if err != nil {
		t.Fatal(err)
	}
	seqs := func(es []replication.Entry) (out []uint64) {
		for _, e := range es {
			out = append(out, e.Seq)
		}
		return out
	}
	if diff := cmp.Diff(seqs(after), seqs(got)); diff != "" {
		t.Fatalf("reopened replicated, its entries' sequences differ (-replicated +reopened):\n%s", diff)
	}
	if got[0].Kind != replication.KindDelta || len(got[0].Delta) == 0 {
		t.Fatalf("reopened replicated, its first entry is %+v: want an encoded delta", got[0])
	}
}
