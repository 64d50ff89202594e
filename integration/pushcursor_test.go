package integration_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"ucv/edge/hubsync"
	"ucv/edge/store"
)

// The push cursor is saved at most every CursorInterval (decision 0097):
// with an hour, the hub acknowledges every entry while the persisted
// cursor stays at 0 and the outbox keeps every entry. The edge then
// "crashes" — its store closes under the client, so the client's last
// save fails — and restarts with the cursor at 0: it pushes everything
// again, the hub answers duplicates, and the edge settles without a
// resync, the hub holding every order once.
func TestPushCursorSavedLazilyAndRepushedAfterACrash(t *testing.T) {
	h, url := newHub(t, "hub-a")
	path := filepath.Join(t.TempDir(), "edge.db")
	e := openEdge(t, path)
	e.orders(0, 200)
	last, err := e.st.LastSeq()
	if err != nil {
		t.Fatal(err)
	}
	stop := e.sync(url, func(c *hubsync.Config) { c.CursorInterval = time.Hour })
	waitFor(t, "the hub to acknowledge every entry", func() bool { return h.FSM().EdgeSeq(e.id) == last })
	if cur, err := e.st.Cursor(hubsync.PushCursor); err != nil || cur != 0 {
		t.Fatalf("persisted push cursor while pushing = %d, %v; want 0 (not saved within the hour)", cur, err)
	}
	if st, err := e.st.Stats(); err != nil || uint64(st.OutboxLen) != last {
		t.Fatalf("outbox holds %d entries, %v; want all %d (trimmed only up to a saved cursor)", st.OutboxLen, err, last)
	}
	if err := e.st.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	stop() // its final save fails: the store is closed

	e = openEdge(t, path)
	if cur, err := e.st.Cursor(hubsync.PushCursor); err != nil || cur != 0 {
		t.Fatalf("persisted push cursor after the crash = %d, %v; want 0", cur, err)
	}
	e.sync(url)
	waitFor(t, "sync after the restart", func() bool { return e.settled(h) })
	if rr, _ := e.st.LastResync(); rr != (store.ResyncRange{}) {
		t.Fatalf("resynced (%+v) although the outbox held every entry", rr)
	}
	if err := e.holds(h, 0, 200); err != nil {
		t.Fatal(err)
	}
	if st, err := e.st.Stats(); err != nil || st.OutboxLen != 0 {
		t.Errorf("outbox holds %d entries after settling, %v; want it trimmed", st.OutboxLen, err)
	}
	e.noBehind()
}
