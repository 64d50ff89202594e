package hub

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"time"

	"ucv/crdt"
	"ucv/profile"
	"ucv/replication"
)

// RequestPrivacy makes a privacy request about the person identifier id
// names (normalised: profile.NewIdentifier) on behalf of actor, and
// returns its status once committed. Only the identifier's salted key and
// the profile IDs it resolves to here enter the Raft log; the salt is
// generated (crypto/rand) with the first request. Errors never carry the
// identifier's value. Safe for concurrent use. On the leader the
// resolution follows a Barrier, so it sees every acknowledged change; on
// a follower it reads the follower's state, which may lag by the last
// few commands (the API relays requests to the leader for that reason),
// and the command is forwarded. The FSM adds every fragment of the
// profiles' clusters at apply. An erase or export by an identifier two
// or more people hold is refused (ErrAmbiguous): it would reach people
// who did not ask; suppress and unsuppress act on the identifier itself.
func (s *Server) RequestPrivacy(ctx context.Context, typ PrivacyType, id profile.Identifier, actor string) (PrivacyStatus, error) {
	if privacyNames[typ] == "" {
		return PrivacyStatus{}, fmt.Errorf("%w: privacy type %d", ErrInvalid, typ)
	}
	if s.IsLeader() {
		// Resolve against every acknowledged change.
		if err := s.Barrier(ctx); err != nil {
			return PrivacyStatus{}, err
		}
	}
	var ids []string
	if _, holders, err := s.fsm.ProfileByIdentifier(id.Key()); err == nil {
		ids = holders
	}
	if len(ids) > 1 && (typ == PrivacyErase || typ == PrivacyExport) {
		// Erasing or exporting everyone who shares a family's landline
		// would erase, or hand over, other people's data
		// (docs/decisions/0059-edge-keeps-hub-judgement.md).
		return PrivacyStatus{}, fmt.Errorf("%w: identifier: %d people hold this %s (a contact point they share); name the person by an identifier only they hold (user_id, email, record:{source}/{id}) — GET /v1/admin/profiles/{ref}/related lists who shares it",
			ErrAmbiguous, len(ids), id.Type)
	}
	return s.request(ctx, typ, id.Key(), ids, actor)
}

// request commits a privacy request of type typ about the profiles ids,
// keyed by the salted key of key (an identifier's "type:value", or a
// profile reference for system-initiated requests), and returns its
// status once this node has applied it.
func (s *Server) request(ctx context.Context, typ PrivacyType, key string, ids []string, actor string) (PrivacyStatus, error) {
	rid, err := randomID("pr_")
	if err != nil {
		return PrivacyStatus{}, err
	}
	for attempt := 0; ; attempt++ {
		req := &PrivacyRequest{ID: rid, Type: typ, ProfileIDs: ids, Actor: actor, At: s.now().UnixMilli()}
		salt := s.fsm.PrivacySalt()
		if salt == nil {
			salt = make([]byte, replication.SaltBytes)
			if _, err := rand.Read(salt); err != nil {
				return PrivacyStatus{}, fmt.Errorf("hub: privacy salt: %w", err)
			}
			req.Salt = salt
		}
		req.Key = crdt.TombstoneKey(salt, key)
		cmd, err := MarshalPrivacy(req)
		if err != nil {
			return PrivacyStatus{}, err
		}
		res, err := s.Apply(ctx, cmd)
		if errors.Is(err, ErrStaleSalt) && attempt < 20 {
			// Another first request won: wait until this node has its
			// salt, then compute the key again.
			if werr := s.waitIndex(ctx, res); werr != nil {
				return PrivacyStatus{}, werr
			}
			continue
		}
		if err != nil {
			return PrivacyStatus{}, err
		}
		if err := s.waitIndex(ctx, res); err != nil {
			return PrivacyStatus{}, err
		}
		return s.fsm.PrivacyRequest(rid)
	}
}

// applyHere commits cmd (Apply) and waits until this node's FSM has
// applied it, so what the caller reads next includes it.
func (s *Server) applyHere(ctx context.Context, cmd []byte) error {
	res, err := s.Apply(ctx, cmd)
	if err != nil {
		return err
	}
	return s.waitIndex(ctx, res)
}

// waitIndex waits until this node's FSM has applied res's index (a
// forwarded command commits on the leader first).
func (s *Server) waitIndex(ctx context.Context, res *Result) error {
	if res == nil {
		return nil
	}
	for {
		idx, advanced := s.fsm.Watch()
		if idx >= res.Index {
			return nil
		}
		select {
		case <-advanced:
		case <-ctx.Done():
			return fmt.Errorf("hub: wait for index %d: %w", res.Index, ctx.Err())
		case <-s.closed:
			return ErrClosed
		}
	}
}

func randomID(prefix string) (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("hub: request ID: %w", err)
	}
	return prefix + hex.EncodeToString(b[:]), nil
}

// PrivacySync is an edge's privacy call (POST /v1/sync/privacy): it
// commits the edge's receipts in done through Raft (those already
// recorded, and unknown IDs, are skipped: a retry is harmless) and then
// returns the salt and the directives the edge has not confirmed, in
// Raft index order. A decommissioned edge is ErrInvalid. Safe for
// concurrent use.
func (s *Server) PrivacySync(ctx context.Context, edge string, done []string) (*replication.PrivacyDirectives, error) {
	if edge == "" {
		return nil, fmt.Errorf("%w: privacy sync without an edge ID", ErrInvalid)
	}
	if s.fsm.decommissioned(edge) {
		return nil, fmt.Errorf("%w: edge %s is decommissioned", ErrInvalid, edge)
	}
	if !s.fsm.edgeKnown(edge) {
		// An edge's privacy step runs before its first pull: registering
		// it here makes every later erasure wait for it, also when it
		// only reads (a kiosk) and never pushes.
		cmd, err := MarshalEdgeRegister(&EdgeRegister{Edge: edge})
		if err == nil {
			err = s.applyHere(ctx, cmd)
		}
		if err != nil {
			return nil, err
		}
	}
	if ids := s.fsm.PendingReceipts(edge, done); len(ids) > 0 {
		cmd, err := MarshalEdgeReceipts(&EdgeReceipts{Edge: edge, IDs: ids})
		if err == nil {
			err = s.applyHere(ctx, cmd)
		}
		if err != nil {
			return nil, err
		}
	}
	d := s.fsm.PrivacyDirectives(edge, replication.MaxDirectives)
	return &d, nil
}

// edgeKnown reports whether edge pushed or registered.
func (f *FSM) edgeKnown(edge string) bool {
	f.mu.RLock()
	defer f.mu.RUnlock()
	_, known := f.st.edges.Get(edgeSeq{edge: edge})
	return known
}

func (f *FSM) decommissioned(edge string) bool {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.st.decommissioned(edge)
}

// Decommission retires edge on behalf of actor: it no longer blocks any
// privacy request, gets no directives, and its sync batches are refused.
// Idempotent.
func (s *Server) Decommission(ctx context.Context, edge, actor string) error {
	cmd, err := MarshalDecommission(&Decommission{Edge: edge, Actor: actor, At: s.now().UnixMilli()})
	if err != nil {
		return err
	}
	return s.applyHere(ctx, cmd)
}

// AppendAudit commits one audit entry (its At is set to now when zero).
func (s *Server) AppendAudit(ctx context.Context, e *AuditEntry) error {
	cp := *e
	if cp.At == 0 {
		cp.At = s.now().UnixMilli()
	}
	cmd, err := MarshalAudit(&cp)
	if err != nil {
		return err
	}
	_, err = s.Apply(ctx, cmd)
	return err
}

// shredLoop runs on every node: whenever erase requests have all their
// edge receipts and lack this node's shred receipt, it calls
// Config.Shred once for all of them and commits the receipt (through the
// leader). A failed Shred or commit is retried after a pause.
func (s *Server) shredLoop() {
	defer s.ticker.Done()
	ctx, cancel := s.untilClosed()
	defer cancel()
	retry := time.Second
	for {
		_, advanced := s.fsm.Watch()
		ids := s.fsm.PendingShred(s.cfg.NodeID)
		wait := advanced
		if len(ids) > 0 {
			if err := s.shred(ctx, ids); err != nil {
				if ctx.Err() != nil {
					return
				}
				s.log.Warn("privacy shred", "requests", len(ids), "err", err)
				t := time.NewTimer(retry)
				select {
				case <-s.closed:
					t.Stop()
					return
				case <-t.C:
				}
				continue
			}
		}
		select {
		case <-s.closed:
			return
		case <-wait:
		case <-time.After(retry): // a missed voter change, a lost leader
		}
	}
}

func (s *Server) shred(ctx context.Context, ids []string) error {
	if s.cfg.Shred != nil {
		if err := s.cfg.Shred(ctx); err != nil {
			return fmt.Errorf("hub: shred: %w", err)
		}
	}
	ms, err := s.Members()
	if err != nil {
		return err
	}
	var voters []string
	for _, m := range ms {
		if m.Voter {
			voters = append(voters, m.ID)
		}
	}
	slices.Sort(voters)
	cmd, err := MarshalShredReceipt(&ShredReceipt{Node: s.cfg.NodeID, IDs: ids, Voters: voters})
	if err != nil {
		return err
	}
	return s.applyHere(ctx, cmd)
}
