package hubsync

import (
	"cmp"
	"context"
	"fmt"
	"net/http"
	"slices"

	"ucv/replication"
)

// maxPrivacyRounds bounds the privacy calls of one step: a call that
// brought directives is followed at once by one confirming them.
const maxPrivacyRounds = 4

// SyncPrivacy is the privacy step (docs/decisions/0040-privacy.md,
// "Erasure on the edges"). The pull loop runs it before every feed pull
// and before a snapshot bootstrap, so a returning edge erases before it
// applies anything else; a failure holds the pull back (retried with
// backoff). One round:
//
//  1. if an erasure is not compacted yet (the store's CompactPending,
//     a crash in between included), compact the data file;
//  2. POST /v1/sync/privacy with replication.PrivacySync{Edge: the ID
//     pushes use, Done: the store's PrivacyDone — directives carried out
//     durably and compacted, not yet confirmed};
//  3. on 200 the hub has committed those receipts: forget them
//     (ConfirmPrivacy); store the hub's salt (SetPrivacySalt); carry out
//     the answer's directives in Index order, each in one durable write
//     that records it done (ApplyDirective).
//
// A round that carried something out is followed by another (compact,
// confirm), up to maxPrivacyRounds. A hub answering 404 has no privacy
// endpoint (an older build): logged once at debug, and the step is
// skipped. It returns how many directives it carried out.
func (c *Client) SyncPrivacy(ctx context.Context) (int, error) {
	total := 0
	for range maxPrivacyRounds {
		n, err := c.privacyRound(ctx)
		total += n
		if err != nil || n == 0 {
			return total, err
		}
	}
	return total, nil
}

func (c *Client) privacyRound(ctx context.Context) (int, error) {
	if c.st.CompactPending() {
		if err := c.st.Compact(); err != nil {
			return 0, fmt.Errorf("hubsync: privacy: compact before confirming: %w", err)
		}
	}
	done, err := c.st.PrivacyDone()
	if err != nil {
		return 0, err
	}
	if len(done) > replication.MaxDirectives {
		done = done[:replication.MaxDirectives] // the rest next round
	}
	body, err := replication.MarshalPrivacySync(&replication.PrivacySync{Edge: c.cfg.Edge, Done: done})
	if err != nil {
		return 0, err
	}
	code, _, b, err := c.do(ctx, http.MethodPost, "/v1/sync/privacy", body)
	if err != nil {
		return 0, err
	}
	switch code {
	case http.StatusOK:
	case http.StatusNotFound:
		if !c.noPrivacy.Swap(true) {
			c.log.Debug("the hub has no privacy sync endpoint; syncing without it", "hub", c.url())
		}
		return 0, nil
	default:
		return 0, fmt.Errorf("%w: privacy: status %d: %s", ErrHub, code, truncate(b))
	}
	ans, err := replication.UnmarshalPrivacyDirectives(b)
	if err != nil {
		return 0, fmt.Errorf("%w: privacy: %w", ErrHub, err)
	}
	if err := c.st.ConfirmPrivacy(done); err != nil {
		return 0, err
	}
	if err := c.st.SetPrivacySalt(ans.Salt); err != nil {
		return 0, err
	}
	ds := ans.Directives
	slices.SortStableFunc(ds, func(a, b replication.Directive) int { return cmp.Compare(a.Index, b.Index) })
	for i, d := range ds {
		if err := c.st.ApplyDirective(ctx, d); err != nil {
			return i, fmt.Errorf("hubsync: privacy request %s: %w", d.ID, err)
		}
		c.privacy.Add(1)
	}
	if len(ds) > 0 {
		c.log.Info("privacy requests carried out", "requests", len(ds), "confirmed", len(done))
	}
	return len(ds), nil
}
