package gossip_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"ucv/edge/edgetest"
	"ucv/edge/gossip"
)

// The gossip cursor lives in memory while entries flow and is saved at
// most every CursorInterval — each save is a write transaction, which
// ends the store applier's open transaction (decision 0097) — and when
// the node closes. With an interval of an hour, an edge publishes twenty
// changes, its peer gets them, and the persisted cursor has not moved;
// Close saves it at the last entry published.
func TestCursorSavedLazily(t *testing.T) {
	c := edgetest.NewCluster(t, 2, edgetest.Options{Gossip: func(g *gossip.Config) { g.CursorInterval = time.Hour }})
	for i := range 20 {
		c.Ingest(t, 0, fmt.Sprintf(`{"type":"identify","userId":"u%d","messageId":"m%d","traits":{"email":"p%d@example.com"}}`, i, i, i))
	}
	c.Wait(t, 10*time.Second, "the peer has every profile", func() bool {
		_, ok := c.Resolves(email("p19@example.com"))
		return ok
	})
	st := c.Edges[0].Store
	last, err := st.LastSeq()
	if err != nil || last == 0 {
		t.Fatalf("LastSeq = %d, %v", last, err)
	}
	if cur, err := st.Cursor(gossip.Cursor); err != nil || cur != 0 {
		t.Fatalf("persisted gossip cursor while running = %d, %v; want 0 (not saved within the hour)", cur, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Edges[0].Gossip.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if cur, err := st.Cursor(gossip.Cursor); err != nil || cur != last {
		t.Fatalf("persisted gossip cursor after Close = %d, %v; want %d (the last entry published)", cur, err, last)
	}
}
