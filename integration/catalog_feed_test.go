package integration_test

import (
	"fmt"
	"path/filepath"
	"testing"

	"ucv/profile"
)

// Profile changes that follow a catalog change still reach every edge:
// the feed's cursor moves past a catalog only on a complete page, never
// past a cluster change not yet sent.
func TestFeedAfterCatalogChange(t *testing.T) {
	h, url := newHub(t, "h0")
	a := openEdge(t, filepath.Join(t.TempDir(), "a.db"))
	b := openEdge(t, filepath.Join(t.TempDir(), "b.db"))
	a.sync(url)
	b.sync(url)
	for round := range 20 {
		b.ingest(fmt.Sprintf(`{"type":"track","event":"Before","userId":"u%d","messageId":"before-%d"}`, round, round))
		adminDo(t, "PUT", url+"/v1/admin/computed-traits/t"+fmt.Sprint(round), `{"event":"E","aggregate":"count"}`)
		b.ingest(fmt.Sprintf(`{"type":"track","event":"After","userId":"u%d","messageId":"after-%d"}`, round, round))
		id := profile.Identifier{Type: profile.UserID, Value: fmt.Sprint("u", round)}
		waitFor(t, fmt.Sprintf("round %d: edge a to get the event after the catalog change", round), func() bool {
			v, err := a.st.LookupIdentifier(id)
			if err != nil {
				return false
			}
			p, err := a.st.Profile(v.ID)
			return err == nil && p.Count("event:After") == 1 && p.Count("event:Before") == 1
		})
	}
	waitFor(t, "both edges to settle", func() bool { return a.settled(h) && b.settled(h) })
}
