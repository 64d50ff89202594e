package hub

import (
	"time"
)

// Retention at the hub (docs/decisions/0041-consent-and-retention.md):
// a fragment a sync batch rewrites is pruned to the catalog's retention
// cutoff as of the state machine's clock (deterministic: replicated in
// the entries), so events past it leave the hub's state, its snapshots
// and — through the feed, which ships the watermark — the edges.
// Fragments no batch touches keep them until one does (evaluation
// leaves them out of windows either way).

// retain prunes fr's state (a fragment this Apply owns) to the cutoff.
func (a *applier) retain(fr *fragment) {
	cut, ok := a.st.defs.comp.RetentionCutoff(time.UnixMilli(max(a.st.clock, a.now)))
	if !ok {
		return
	}
	fr.state = fr.state.Pruned(cut)
}
