package hub

import (
	"bytes"
	"fmt"
	"slices"
	"time"

	"github.com/google/btree"

	"ucv/crdt"
	"ucv/crdt/codec"
	"ucv/profile"
	"ucv/replication"
)

// Privacy state (docs/decisions/0040-privacy.md): the salt, the
// requests with their receipts, the suppression list (salted keys), the
// decommissioned edges and the audit log. Everything here is replicated
// and snapshotted; byID and erased are derived (rebuilt by Restore).
//
// Requests are immutable values: a change replaces the request in the
// tree, so a snapshot keeps the old one without copying.

// MaxAuditEntries is how many audit entries the FSM keeps: beyond it the
// oldest are dropped, in order (a reader that falls that far behind
// sees a gap in the sequence).
const MaxAuditEntries = 1_000_000

// privReq is one privacy request. Slices are sorted and never changed
// in place.
type privReq struct {
	id    string
	typ   PrivacyType
	key   string
	index uint64
	at    int64
	actor string
	// profiles: the fragments the request covers (the whole clusters
	// of the profile IDs the leader resolved, at apply).
	profiles []string
	// keys: erase — the salted key of the request and of every
	// identifier the erased fragments held; suppress, unsuppress — the
	// key.
	keys []string
	// edges: the edges registered when the request applied.
	edges []string
	// acks: the edges that confirmed it (registered or not).
	acks []string
	// shreds: the hub nodes that shredded after its last edge receipt;
	// voters: the voters the last shred receipt named.
	shreds, voters []string
	// completed: when it became done (ms), 0 while pending.
	completed int64
}

type privacy struct {
	salt       []byte // nil until the first request; never changes after
	reqs       *btree.BTreeG[*privReq]
	suppressed *btree.BTreeG[string]
	decom      *btree.BTreeG[string]
	audit      *btree.BTreeG[*AuditEntry]
	lastAudit  uint64

	// Derived.
	byID   map[string]*privReq
	erased map[string]int64 // salted key → earliest erasure (ms)
	// open are the erase requests not done yet: what the shred loops
	// look at on every apply.
	open map[string]*privReq
}

func newPrivacy() *privacy {
	return &privacy{
		reqs:       btree.NewG(degree, func(a, b *privReq) bool { return a.index < b.index }),
		suppressed: btree.NewG(degree, func(a, b string) bool { return a < b }),
		decom:      btree.NewG(degree, func(a, b string) bool { return a < b }),
		audit:      btree.NewG(degree, func(a, b *AuditEntry) bool { return a.Seq < b.Seq }),
		byID:       map[string]*privReq{},
		erased:     map[string]int64{},
		open:       map[string]*privReq{},
	}
}

// active reports whether a snapshot must carry the privacy state.
func (pv *privacy) active() bool {
	return pv.salt != nil || pv.reqs.Len() > 0 || pv.decom.Len() > 0 || pv.lastAudit > 0
}

// clone returns a copy for a snapshot (trees copy-on-write).
func (pv *privacy) clone() *privacy {
	return &privacy{salt: pv.salt, reqs: pv.reqs.Clone(), suppressed: pv.suppressed.Clone(), decom: pv.decom.Clone(),
		audit: pv.audit.Clone(), lastAudit: pv.lastAudit}
}

// rebuild derives byID and erased from the requests.
func (pv *privacy) rebuild() {
	pv.byID, pv.erased, pv.open = map[string]*privReq{}, map[string]int64{}, map[string]*privReq{}
	pv.reqs.Ascend(func(r *privReq) bool {
		pv.note(r)
		return true
	})
}

// note indexes request r (new or replacing one of the same ID).
func (pv *privacy) note(r *privReq) {
	pv.byID[r.id] = r
	if r.typ != PrivacyErase {
		return
	}
	if r.completed == 0 {
		pv.open[r.id] = r
	} else {
		delete(pv.open, r.id)
	}
	for _, k := range r.keys {
		if at, ok := pv.erased[k]; !ok || r.at < at {
			pv.erased[k] = r.at
		}
	}
}

// put stores r (replacing the request of its index).
func (pv *privacy) put(r *privReq) {
	pv.reqs.ReplaceOrInsert(r)
	pv.note(r)
}

func addSorted(s []string, x string) []string {
	i, found := slices.BinarySearch(s, x)
	if found {
		return s
	}
	return slices.Insert(slices.Clip(s), i, x)
}

func sortedSet(ss []string) []string {
	out := slices.Clone(ss)
	slices.Sort(out)
	return slices.Compact(out)
}

func has(sorted []string, x string) bool {
	_, ok := slices.BinarySearch(sorted, x)
	return ok
}

// edgesDone reports whether every edge r waits for has confirmed it.
func (pv *privacy) edgesDone(r *privReq) bool {
	for _, e := range r.edges {
		if _, gone := pv.decom.Get(e); !gone && !has(r.acks, e) {
			return false
		}
	}
	return true
}

// settle completes r at now when it is complete, returning the request
// to store (r itself when nothing changed).
func (pv *privacy) settle(r *privReq, now int64) *privReq {
	if r.completed != 0 {
		return r
	}
	done := false
	switch r.typ {
	case PrivacyExport:
		done = true
	case PrivacySuppress, PrivacyUnsuppress:
		done = pv.edgesDone(r)
	case PrivacyErase:
		done = pv.edgesDone(r) && len(r.voters) > 0
		for _, v := range r.voters {
			done = done && has(r.shreds, v)
		}
	}
	if !done {
		return r
	}
	cp := *r
	cp.completed = max(now, 1)
	return &cp
}

// privacyRequest applies CmdPrivacy.
func (a *applier) privacyRequest(p *PrivacyRequest) error {
	pv := a.st.priv
	switch {
	case p.Salt != nil && pv.salt != nil && !bytes.Equal(p.Salt, pv.salt):
		return ErrStaleSalt
	case p.Salt == nil && pv.salt == nil:
		return fmt.Errorf("%w: the first privacy request must carry the salt", ErrInvalid)
	}
	if _, dup := pv.byID[p.ID]; dup {
		return fmt.Errorf("%w: privacy request %s exists", ErrInvalid, p.ID)
	}
	if pv.salt == nil {
		pv.salt = bytes.Clone(p.Salt)
	}
	now := a.now
	if now == 0 {
		now = p.At
	}
	r := &privReq{id: p.ID, typ: p.Type, key: p.Key, index: a.index, at: p.At, actor: p.Actor,
		profiles: a.expand(p.ProfileIDs)}
	if p.Type != PrivacyExport {
		a.st.edges.Ascend(func(e edgeSeq) bool {
			if _, gone := pv.decom.Get(e.edge); !gone {
				r.edges = append(r.edges, e.edge)
			}
			return true
		})
	}
	switch p.Type {
	case PrivacyErase:
		r.keys = a.erase(r)
	case PrivacySuppress:
		pv.suppressed.ReplaceOrInsert(p.Key)
		r.keys = []string{p.Key}
	case PrivacyUnsuppress:
		pv.suppressed.Delete(p.Key)
		r.keys = []string{p.Key}
	}
	pv.put(pv.settle(r, now))
	return nil
}

// expand returns the fragments of the clusters of ids that the state
// knows, sorted.
func (a *applier) expand(ids []string) []string {
	var out []string
	for _, id := range ids {
		fr, ok := a.frag(id)
		if !ok {
			continue
		}
		if ms, ok := a.st.clusters[fr.cluster]; ok {
			out = append(out, ms...)
		} else {
			out = append(out, id)
		}
	}
	return sortedSet(out)
}

// hubReplica is the HLC node ID of the hub's erasures.
const hubReplica crdt.ReplicaID = 0

// erase erases the fragments of r (whole clusters) and every trace the
// hub keeps of them, and returns the salted keys of their identifiers
// and of r's key, sorted.
func (a *applier) erase(r *privReq) []string {
	pv := a.st.priv
	keys := []string{r.key}
	E := r.profiles
	if len(E) == 0 {
		return keys
	}
	// The clusters before: each gets one profile.erased delivery.
	olds := map[string][]string{}
	for _, id := range E {
		c := a.clusterOf(id)
		olds[c] = append(olds[c], id)
	}
	ts := crdt.Timestamp{Wall: r.at, Node: hubReplica}
	for _, id := range E {
		fr := a.own(id)
		p := fr.state.Clone()
		for _, k := range p.Identities.Elems() {
			if !a.sharedOutside(k, olds) {
				keys = append(keys, crdt.TombstoneKey(pv.salt, k))
			}
		}
		p.Erase(pv.salt, ts)
		fr.state = p
	}
	a.detach(E)
	a.scrub(E)
	for _, c := range crdt.SortedKeys(olds) {
		ids := append([]string{c}, olds[c]...)
		a.enqueueErased(c, sortedSet(ids), r.id)
	}
	return sortedSet(keys)
}

// sharedOutside reports whether identifier key k is held by a cluster
// outside erased (clusters → their erased fragments): a contact point the
// erased person shares with someone the erasure does not cover (the
// family landline, a household's e-mail). Its salted key then stays out
// of the request's keys: those keys erase, on every edge and on arrival
// here, whatever else holds them (erasedAt, the edges' directive and
// cascade), and the other holders are other people
// (docs/decisions/0059-edge-keeps-hub-judgement.md). The erased person's
// own fragments go by ID whatever they hold.
func (a *applier) sharedOutside(k string, erased map[string][]string) bool {
	id, ok := profile.ParseKey(k)
	if !ok {
		return false
	}
	for _, c := range a.st.holders(id) {
		if _, in := erased[c]; !in {
			return true
		}
	}
	return false
}

// detach takes the erased fragments E (sorted) out of the identity
// graph: every decision naming one is forgotten (from the engine too),
// their records become empty, so each ends a cluster of its own with no
// identifiers, and the clusters are regrouped.
func (a *applier) detach(E []string) {
	st := a.st
	inE := func(id string) bool { return has(E, id) }
	// Steward decisions naming them go, from the engine too.
	var moved []string
	var drop []*decision
	st.decisions.Ascend(func(d *decision) bool {
		if inE(d.a) || inE(d.b) {
			drop = append(drop, d)
		}
		return true
	})
	for _, d := range drop {
		st.decisions.Delete(d)
		st.apart.Delete(apartPair{d.a, d.b})
		st.apart.Delete(apartPair{d.b, d.a})
		moves, err := st.ix.Forget(d.a, d.b)
		if err != nil {
			panic(fmt.Sprintf("hub: identity engine lost fragment %s or %s: %v", d.a, d.b, err))
		}
		for _, m := range moves {
			moved = append(moved, m.RecordID)
		}
		for _, x := range []string{d.a, d.b} {
			if !inE(x) { // its feed item must lose the cannot-link
				if c := a.clusterOf(x); c != "" {
					for _, m := range st.clusters[c] {
						a.touch(m, c)
					}
				}
			}
		}
	}
	// Their identity records become empty: they leave the identifier
	// index and every link.
	for _, id := range E {
		fr := a.owned[id]
		rec, packed := recordOf(fr.id, fr.state)
		old := unpackFields(st.recs[id])
		d, err := st.ix.Add(rec)
		if err != nil {
			panic(fmt.Sprintf("hub: identity engine refused fragment %s: %v", id, err))
		}
		st.noteIdents(id, old, rec.Fields)
		st.recs[id] = packed
		for _, m := range d.Moved {
			moved = append(moved, m.RecordID)
		}
	}
	a.regroup(append(moved, E...), nil, "", "")
}

// scrub removes what the hub keeps about fragments E beyond their
// states: merge history, audience memberships and transitions, queued
// and dead webhook deliveries, and this command's notes about them.
func (a *applier) scrub(E []string) {
	st := a.st
	inE := func(id string) bool { return has(E, id) }
	var evs []*Event
	st.history.Ascend(func(ev *Event) bool {
		if inE(ev.Cluster) || inE(ev.A) || inE(ev.B) || slices.ContainsFunc(ev.Clusters, inE) {
			evs = append(evs, ev)
		}
		return true
	})
	for _, ev := range evs {
		st.history.Delete(ev)
		for _, f := range []string{ev.A, ev.B} {
			le, ok := st.linked.Get(linkedEntry{frag: f})
			if !ok {
				continue
			}
			rest := slices.DeleteFunc(slices.Clone(le.evs), func(x *Event) bool { return x == ev })
			if len(rest) == 0 || inE(f) {
				st.linked.Delete(le)
			} else {
				st.linked.ReplaceOrInsert(linkedEntry{frag: f, evs: rest})
			}
		}
	}
	a.graph = slices.DeleteFunc(a.graph, func(g graphNote) bool {
		return inE(g.cluster) || slices.ContainsFunc(g.others, inE)
	})
	for _, id := range E {
		delete(a.touched, id)
		delete(a.causes, id)
		if m, ok := st.members.Get(&membership{cluster: id}); ok {
			st.audIx.remove(m)
			st.members.Delete(m)
		}
	}
	var trs []*Transition
	st.transits.Ascend(func(t *Transition) bool {
		if inE(t.Profile) {
			trs = append(trs, t)
		}
		return true
	})
	for _, t := range trs {
		st.transits.Delete(t)
	}
	dv := st.dlv
	var queued, dead []*delivery
	dv.queue.Ascend(func(d *delivery) bool {
		if inE(d.profile) {
			queued = append(queued, d)
		}
		return true
	})
	dv.dead.Ascend(func(d *delivery) bool {
		if inE(d.profile) {
			dead = append(dead, d)
		}
		return true
	})
	for _, d := range queued {
		dv.remove(d)
	}
	for _, d := range dead {
		dv.dead.Delete(d)
		if dv.deadN[d.dest]--; dv.deadN[d.dest] <= 0 {
			delete(dv.deadN, d.dest)
		}
	}
}

// enqueueErased queues a profile.erased delivery about cluster c (its
// fragments ids) for every destination subscribed to it. The body names
// profile IDs and the request only; consent filters do not apply (the
// person is gone, and the receiver must erase its copy).
func (a *applier) enqueueErased(c string, ids []string, request string) {
	dv := a.st.dlv
	at := max(a.st.clock, a.now)
	for _, name := range crdt.SortedKeys(dv.dests) {
		e := dv.dests[name]
		if !e.def.wants(EventErased, "") {
			continue
		}
		ev := WebhookEvent{Type: EventErased, At: time.UnixMilli(at).UTC(),
			Profile: WebhookProfile{ID: c, Identities: []profile.Identifier{}}, ProfileIDs: ids, Request: request}
		a.queue(name, &ev, at)
	}
}

// privacyDone applies CmdPrivacyDone: receipts of unknown requests, and
// repeated ones, change nothing.
func (a *applier) privacyDone(r *EdgeReceipts) {
	pv := a.st.priv
	for _, id := range r.IDs {
		q, ok := pv.byID[id]
		if !ok || q.typ == PrivacyExport || has(q.acks, r.Edge) {
			continue
		}
		cp := *q
		cp.acks = addSorted(q.acks, r.Edge)
		pv.put(pv.settle(&cp, a.now))
	}
}

// shredDone applies CmdShredDone. A receipt for a request whose edges
// have not all confirmed is ignored: the node shredded too early.
func (a *applier) shredDone(r *ShredReceipt) {
	pv := a.st.priv
	for _, id := range r.IDs {
		q, ok := pv.byID[id]
		if !ok || q.typ != PrivacyErase || q.completed != 0 || !pv.edgesDone(q) {
			continue
		}
		cp := *q
		cp.shreds = addSorted(q.shreds, r.Node)
		cp.voters = sortedSet(r.Voters)
		pv.put(pv.settle(&cp, a.now))
	}
}

// decommission applies CmdDecommission: the edge stops blocking every
// pending request.
func (a *applier) decommission(x *Decommission) {
	pv := a.st.priv
	if _, gone := pv.decom.Get(x.Edge); gone {
		return
	}
	pv.decom.ReplaceOrInsert(x.Edge)
	now := a.now
	if now == 0 {
		now = x.At
	}
	var pending []*privReq
	pv.reqs.Ascend(func(q *privReq) bool {
		if q.completed == 0 && has(q.edges, x.Edge) {
			pending = append(pending, q)
		}
		return true
	})
	for _, q := range pending {
		pv.put(pv.settle(q, now))
	}
}

// registerEdge applies CmdEdgeRegister: an edge the hub does not know,
// and that is not decommissioned, is known from now on (at sequence 0:
// its first push is applied whole). Repeats change nothing.
func (a *applier) registerEdge(edge string) {
	if a.st.decommissioned(edge) {
		return
	}
	if _, known := a.st.edges.Get(edgeSeq{edge: edge}); !known {
		a.st.edges.ReplaceOrInsert(edgeSeq{edge: edge})
	}
}

// appendAudit applies CmdAudit.
func (a *applier) appendAudit(e *AuditEntry) {
	pv := a.st.priv
	pv.lastAudit++
	cp := *e
	cp.Seq = pv.lastAudit
	pv.audit.ReplaceOrInsert(&cp)
	for pv.audit.Len() > MaxAuditEntries {
		pv.audit.DeleteMin()
	}
}

// decommissioned reports whether edge was decommissioned.
func (st *state) decommissioned(edge string) bool {
	_, gone := st.priv.decom.Get(edge)
	return gone
}

// suppressedDelta reports whether delta d names an identifier on the
// suppression list.
func (st *state) suppressedDelta(d *profile.Profile) bool {
	pv := st.priv
	if pv.suppressed.Len() == 0 || pv.salt == nil {
		return false
	}
	for _, k := range d.Identities.Elems() {
		if _, ok := pv.suppressed.Get(crdt.TombstoneKey(pv.salt, k)); ok {
			return true
		}
	}
	return false
}

// erasedAt returns the time an identifier that delta d brings was
// erased at, when one was and the fragment's data (its joined state
// now) predates the erasure: its first event came before it, or it has
// no event time. Every fragment that held the identifier when it was
// erased was erased with it, so such a delta comes from a replica that
// had not heard of the erasure — an old fragment of the person — and the
// fragment is erased on arrival. A person who signs up again with the
// identifier after the erasure starts a fragment whose events are all
// newer, and keeps it.
func (st *state) erasedAt(d, joined *profile.Profile) (int64, bool) {
	pv := st.priv
	if len(pv.erased) == 0 {
		return 0, false
	}
	for _, k := range d.Identities.Elems() {
		at, ok := pv.erased[crdt.TombstoneKey(pv.salt, k)]
		if ok && (!joined.FirstSeen.Set || joined.FirstSeen.V < at) {
			return at, true
		}
	}
	return 0, false
}

// writePrivacy writes the privacy records and returns their counts
// (header, requests, suppressed keys, decommissioned edges, audit
// entries).
func (s *snapshot) writePrivacy(enc *codec.Encoder, put func(byte, func() error) bool) (counts [5]int) {
	pv := s.priv
	if !pv.active() {
		return counts
	}
	counts[0] = 1
	if !put(recPrivacy, func() error {
		return first(enc.EncodeArrayLen(2), enc.EncodeBytes(pv.salt), enc.EncodeUint(pv.lastAudit))
	}) {
		return counts
	}
	ok := true
	pv.reqs.Ascend(func(r *privReq) bool {
		counts[1]++
		ok = put(recRequest, func() error {
			return first(enc.EncodeArrayLen(13), enc.EncodeString(r.id), enc.EncodeUint(uint64(r.typ)), enc.EncodeString(r.key),
				enc.EncodeUint(r.index), enc.EncodeInt(r.at), enc.EncodeString(r.actor), encodeStrings(enc, r.profiles),
				encodeStrings(enc, r.keys), encodeStrings(enc, r.edges), encodeStrings(enc, r.acks),
				encodeStrings(enc, r.shreds), encodeStrings(enc, r.voters), enc.EncodeInt(r.completed))
		})
		return ok
	})
	for _, x := range []struct {
		t    byte
		tree *btree.BTreeG[string]
		n    *int
	}{{recSuppress, pv.suppressed, &counts[2]}, {recDecom, pv.decom, &counts[3]}} {
		x.tree.Ascend(func(k string) bool {
			if !ok {
				return false
			}
			*x.n++
			ok = put(x.t, func() error { return first(enc.EncodeArrayLen(1), enc.EncodeString(k)) })
			return ok
		})
	}
	pv.audit.Ascend(func(e *AuditEntry) bool {
		if !ok {
			return false
		}
		counts[4]++
		ok = put(recAudit, func() error {
			return first(enc.EncodeArrayLen(7), enc.EncodeInt(e.At), enc.EncodeString(e.Actor), enc.EncodeString(e.Role),
				enc.EncodeString(e.Action), encodeStrings(enc, e.Targets), enc.EncodeInt(int64(e.Outcome)), enc.EncodeUint(e.Seq))
		})
		return ok
	})
	return counts
}

// readPrivacy reads one privacy record of type t into pv, counting it.
func readPrivacy(pv *privacy, t byte, d *codec.Decoder, counts *[5]uint64) error {
	if t != recPrivacy && counts[0] == 0 {
		return fmt.Errorf("privacy record %d before the privacy header", t)
	}
	switch t {
	case recPrivacy:
		if counts[0] > 0 {
			return fmt.Errorf("privacy header twice")
		}
		counts[0]++
		if err := d.ExpectArray(2); err != nil {
			return err
		}
		salt, err1 := d.Bytes()
		last, err2 := d.Uint()
		if err := first(err1, err2); err != nil {
			return err
		}
		if len(salt) != 0 && len(salt) != replication.SaltBytes {
			return fmt.Errorf("salt of %d bytes", len(salt))
		}
		if len(salt) > 0 {
			pv.salt = salt
		}
		pv.lastAudit = last
	case recRequest:
		if counts[2]+counts[3]+counts[4] > 0 {
			return fmt.Errorf("request record out of place")
		}
		counts[1]++
		if err := d.ExpectArray(13); err != nil {
			return err
		}
		r := &privReq{}
		var errs [13]error
		var typ uint64
		r.id, errs[0] = d.String()
		typ, errs[1] = d.Uint()
		r.key, errs[2] = d.String()
		r.index, errs[3] = d.Uint()
		r.at, errs[4] = d.Int()
		r.actor, errs[5] = d.String()
		r.profiles, errs[6] = decodeStrings(d)
		r.keys, errs[7] = decodeStrings(d)
		r.edges, errs[8] = decodeStrings(d)
		r.acks, errs[9] = decodeStrings(d)
		r.shreds, errs[10] = decodeStrings(d)
		r.voters, errs[11] = decodeStrings(d)
		r.completed, errs[12] = d.Int()
		if err := first(errs[:]...); err != nil {
			return err
		}
		if typ > 255 || privacyNames[PrivacyType(typ)] == "" || r.id == "" {
			return fmt.Errorf("privacy request of type %d", typ)
		}
		r.typ = PrivacyType(typ)
		if _, dup := pv.reqs.ReplaceOrInsert(r); dup {
			return fmt.Errorf("privacy request at index %d twice", r.index)
		}
	case recSuppress, recDecom:
		i, tree := 2, pv.suppressed
		if t == recDecom {
			i, tree = 3, pv.decom
			if counts[4] > 0 {
				return fmt.Errorf("decommission record out of place")
			}
		} else if counts[3]+counts[4] > 0 {
			return fmt.Errorf("suppression record out of place")
		}
		counts[i]++
		if err := d.ExpectArray(1); err != nil {
			return err
		}
		k, err := d.String()
		if err != nil {
			return err
		}
		if _, dup := tree.ReplaceOrInsert(k); dup {
			return fmt.Errorf("record %d twice", t)
		}
	case recAudit:
		counts[4]++
		e, err := decodeAudit(d, true)
		if err != nil {
			return err
		}
		if e.Seq == 0 || e.Seq > pv.lastAudit {
			return fmt.Errorf("audit entry %d beyond the last, %d", e.Seq, pv.lastAudit)
		}
		if _, dup := pv.audit.ReplaceOrInsert(e); dup {
			return fmt.Errorf("audit entry %d twice", e.Seq)
		}
	}
	return nil
}

// erasedFrag reports whether fragment id is erased, as this Apply sees
// it.
func (a *applier) erasedFrag(id string) bool {
	if fr, ok := a.owned[id]; ok {
		return fr.isErased()
	}
	fr, ok := a.frag(id)
	return ok && fr.isErased()
}
