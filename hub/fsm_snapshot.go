package hub

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"runtime"
	"slices"

	"github.com/google/btree"
	"github.com/hashicorp/raft"

	"ucv/crdt/codec"
	"ucv/hub/arena"
	"ucv/hub/identity"
	"ucv/parallel"
	"ucv/profile"
	"ucv/profile/catalog"
)

// Snapshot format (docs/decisions/0018-hub-snapshots.md): the magic
// "ucvhub", a format version byte, the Raft index of the last applied
// command (uvarint), then records, each [type byte][uvarint body
// length][msgpack body], in this order and each kind sorted by key: the
// installed identity model (only when one is:
// docs/decisions/0026-hub-identity-model.md), the catalog of definitions
// with the state machine's clock and last transition number (only once a
// definition was made: docs/decisions/0033-hub-catalog-and-transitions.md),
// edges by ID, fragments by ID ([id, cluster, changed, state] — or
// [id, cluster, changed, first delta, true] for a fragment still in the
// state its first delta made, whose profile.Adopt is the state:
// docs/decisions/0070-snapshot-first-deltas.md), decisions by pair, events by (index, n),
// audience memberships by cluster, transitions by number; an end record
// carrying the counts closes the stream, so truncation is detected. The
// end record holds four counts (edges, fragments, decisions, events),
// five when a model record was written (the model's), eight when a
// catalog record was (models, catalogs, memberships, transitions),
// twelve when the delivery state was written (its header, destinations,
// queued and dead deliveries: docs/decisions/0036-webhooks.md — only
// once a destination was defined), seventeen when the privacy state was
// (its header — salt and last audit number —, requests by Raft index,
// suppressed keys, decommissioned edges, audit entries by number:
// docs/decisions/0040-privacy.md — only once a privacy request, a
// decommission or an audit entry was made), eighteen when identity
// model fits were recorded (one record each, after every other kind:
// docs/decisions/0047-hub-self-training.md). A
// state without an installed model or a catalog gives exactly the bytes
// of the format before either existed, so old snapshots restore
// unchanged. The same state always gives the same bytes (golden-tested
// in testdata/).
const (
	snapMagic   = "ucvhub"
	snapVersion = 1

	recEdge     byte = 1
	recFragment byte = 2
	recDecision byte = 3
	recEvent    byte = 4
	recModel    byte = 5
	recCatalog  byte = 6
	recMember   byte = 7
	recTransit  byte = 8
	recDlvState byte = 9
	recDest     byte = 10
	recDelivery byte = 11
	recDead     byte = 12
	recPrivacy  byte = 13
	recRequest  byte = 14
	recSuppress byte = 15
	recDecom    byte = 16
	recAudit    byte = 17
	recEnd      byte = 0xff

	// maxRecordBytes bounds one record (a fragment's encoded profile).
	maxRecordBytes = 64 << 20
)

type snapshot struct {
	unpin     func() // the fragment arena's pin (Release)
	frags     *btree.BTreeG[*fragment]
	edges     *btree.BTreeG[edgeSeq]
	decisions *btree.BTreeG[*decision]
	history   *btree.BTreeG[*Event]
	applied   uint64
	model     *installedModel // nil: none installed
	defs      *defs
	clock     int64
	lastTrans uint64
	members   *btree.BTreeG[*membership]
	transits  *btree.BTreeG[*Transition]
	dlv       *deliveries
	priv      *privacy
	fits      []ModelFit
}

var _ raft.FSMSnapshot = (*snapshot)(nil)

// Persist streams the captured state to sink and closes it (or cancels
// it on error).
func (s *snapshot) Persist(sink raft.SnapshotSink) error {
	if err := s.write(sink); err != nil {
		_ = sink.Cancel()
		return err
	}
	return sink.Close()
}

// Release lets the fragment arena unmap what only the snapshot still
// read; the captured trees are garbage collected.
func (s *snapshot) Release() {
	if s.unpin != nil {
		s.unpin()
	}
}

// write writes the snapshot to w.
func (s *snapshot) write(w io.Writer) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	if _, err := bw.WriteString(snapMagic); err != nil {
		return fmt.Errorf("hub: write snapshot: %w", err)
	}
	if err := bw.WriteByte(snapVersion); err != nil {
		return fmt.Errorf("hub: write snapshot: %w", err)
	}
	if _, err := bw.Write(binary.AppendUvarint(nil, s.applied)); err != nil {
		return fmt.Errorf("hub: write snapshot: %w", err)
	}
	enc := codec.NewEncoder()
	var werr error
	put := func(t byte, body func() error) bool {
		enc.Reset()
		if werr = body(); werr != nil {
			return false
		}
		var hdr [1 + binary.MaxVarintLen64]byte
		hdr[0] = t
		n := binary.PutUvarint(hdr[1:], uint64(len(enc.Bytes())))
		if _, werr = bw.Write(hdr[:1+n]); werr != nil {
			return false
		}
		_, werr = bw.Write(enc.Bytes())
		return werr == nil
	}
	var counts [4]int
	if s.model != nil {
		put(recModel, func() error {
			return first(enc.EncodeArrayLen(3), enc.EncodeUint(s.model.index), enc.EncodeString(s.model.actor),
				enc.EncodeBytes(s.model.encoded))
		})
	}
	catalogs := 0
	if werr == nil && s.defs.encoded != nil {
		catalogs = 1
		put(recCatalog, func() error {
			return first(enc.EncodeArrayLen(3), enc.EncodeBytes(s.defs.encoded), enc.EncodeInt(s.clock),
				enc.EncodeUint(s.lastTrans))
		})
	}
	if werr == nil {
		s.edges.Ascend(func(e edgeSeq) bool {
			counts[0]++
			return put(recEdge, func() error {
				return first(enc.EncodeArrayLen(2), enc.EncodeString(e.edge), enc.EncodeUint(e.seq))
			})
		})
	}
	if werr == nil {
		// plain is reused for every cold fragment: a fresh copy each
		// would be the snapshot's largest garbage (one per person).
		var plain []byte
		s.frags.Ascend(func(fr *fragment) bool {
			counts[1]++
			return put(recFragment, func() error {
				// A fragment still in the state its first delta made is
				// written as that delta, flagged (a fifth element): the
				// same bytes hot or cool, and no decode, Adopt and
				// encode per person (at 10M people the snapshot's
				// largest cost, decision 0070).
				var b []byte
				adopt := false
				switch {
				case fr.state != nil && fr.state == fr.first && fr.firstDelta != nil:
					b, adopt = fr.firstDelta, true
				case fr.state != nil:
					var err error
					if b, err = fr.state.Marshal(); err != nil {
						return err
					}
				default:
					plain = arena.AppendPlain(plain[:0], fr.enc)
					b, adopt = plain, fr.adopt
				}
				n := 4
				if adopt {
					n = 5
				}
				err := first(enc.EncodeArrayLen(n), enc.EncodeString(fr.id), enc.EncodeString(fr.cluster),
					enc.EncodeUint(fr.changed), enc.EncodeBytes(b))
				if err == nil && adopt {
					err = enc.EncodeBool(true)
				}
				return err
			})
		})
	}
	if werr == nil {
		s.decisions.Ascend(func(d *decision) bool {
			counts[2]++
			return put(recDecision, func() error {
				return first(enc.EncodeArrayLen(6), enc.EncodeString(d.a), enc.EncodeString(d.b), enc.EncodeBool(d.same),
					enc.EncodeUint(d.index), enc.EncodeString(d.actor), enc.EncodeString(d.reason))
			})
		})
	}
	if werr == nil {
		s.history.Ascend(func(ev *Event) bool {
			counts[3]++
			return put(recEvent, func() error { return encodeEvent(enc, ev) })
		})
	}
	members, transits := 0, 0
	if werr == nil {
		members, transits = s.writeAudiences(enc, put)
	}
	var dlvCounts [4]int
	if werr == nil {
		dlvCounts = s.writeDeliveries(enc, put)
	}
	var privCounts [5]int
	if werr == nil {
		privCounts = s.writePrivacy(enc, put)
	}
	fits := 0
	if werr == nil {
		fits = s.writeFits(enc, put) // fsm_modelfit.go
	}
	if werr == nil {
		put(recEnd, func() error {
			n := 4
			switch {
			case fits > 0:
				n = 18
			case privCounts[0] > 0:
				n = 17
			case dlvCounts[0] > 0:
				n = 12
			case catalogs > 0:
				n = 8
			case s.model != nil:
				n = 5
			}
			models := uint64(0)
			if s.model != nil {
				models = 1
			}
			all := []uint64{uint64(counts[0]), uint64(counts[1]), uint64(counts[2]), uint64(counts[3]), models,
				uint64(catalogs), uint64(members), uint64(transits),
				uint64(dlvCounts[0]), uint64(dlvCounts[1]), uint64(dlvCounts[2]), uint64(dlvCounts[3]),
				uint64(privCounts[0]), uint64(privCounts[1]), uint64(privCounts[2]), uint64(privCounts[3]), uint64(privCounts[4]),
				uint64(fits)}
			if err := enc.EncodeArrayLen(n); err != nil {
				return err
			}
			for _, v := range all[:n] {
				if err := enc.EncodeUint(v); err != nil {
					return err
				}
			}
			return nil
		})
	}
	if werr == nil {
		werr = bw.Flush()
	}
	if werr != nil {
		return fmt.Errorf("hub: write snapshot: %w", werr)
	}
	return nil
}

func encodeStrings(enc *codec.Encoder, ss []string) error {
	if err := enc.EncodeArrayLen(len(ss)); err != nil {
		return err
	}
	for _, s := range ss {
		if err := enc.EncodeString(s); err != nil {
			return err
		}
	}
	return nil
}

func decodeStrings(d *codec.Decoder) ([]string, error) {
	n, err := d.ArrayLen(1)
	if err != nil || n == 0 {
		return nil, err
	}
	out := make([]string, n)
	for i := range out {
		if out[i], err = d.String(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func encodeEvent(enc *codec.Encoder, ev *Event) error {
	return first(enc.EncodeArrayLen(12), enc.EncodeUint(ev.Index), enc.EncodeUint(uint64(ev.N)),
		enc.EncodeString(ev.Kind), enc.EncodeString(ev.Cluster), enc.EncodeString(ev.A), enc.EncodeString(ev.B),
		encodeStrings(enc, ev.Clusters), enc.EncodeString(ev.Rule), encodeStrings(enc, ev.Identifiers),
		enc.EncodeFloat64(ev.Weight), enc.EncodeString(ev.Actor), enc.EncodeString(ev.Reason))
}

func decodeEvent(d *codec.Decoder) (*Event, error) {
	if err := d.ExpectArray(12); err != nil {
		return nil, err
	}
	ev := &Event{}
	var n uint64
	var errs [12]error
	ev.Index, errs[0] = d.Uint()
	n, errs[1] = d.Uint()
	ev.Kind, errs[2] = d.String()
	ev.Cluster, errs[3] = d.String()
	ev.A, errs[4] = d.String()
	ev.B, errs[5] = d.String()
	ev.Clusters, errs[6] = decodeStrings(d)
	ev.Rule, errs[7] = d.String()
	ev.Identifiers, errs[8] = decodeStrings(d)
	ev.Weight, errs[9] = d.DecodeFloat64()
	ev.Actor, errs[10] = d.String()
	ev.Reason, errs[11] = d.String()
	ev.N = int(n)
	return ev, first(errs[:]...)
}

// readSnapshot decodes what WriteTo wrote into a new state, rebuilding
// the identity engine from the fragments and decisions and checking that
// it reproduces the recorded clusters. Errors wrap ErrMalformed.
func readSnapshot(r io.Reader, ar *arena.Arena, progress func(done, total int)) (_ *state, err error) {
	st, err := newState()
	if err != nil {
		return nil, err
	}
	st.arena = ar
	defer func() {
		if err != nil {
			st.releaseAll()
		}
	}()
	br := bufio.NewReaderSize(r, 64<<10)
	hdr := make([]byte, len(snapMagic)+1)
	if _, err := io.ReadFull(br, hdr); err != nil {
		return nil, fmt.Errorf("%w: snapshot header: %w", ErrMalformed, err)
	}
	if string(hdr[:len(snapMagic)]) != snapMagic || hdr[len(snapMagic)] != snapVersion {
		return nil, fmt.Errorf("%w: not a version %d hub snapshot", ErrMalformed, snapVersion)
	}
	if st.applied, err = binary.ReadUvarint(br); err != nil {
		return nil, fmt.Errorf("%w: snapshot index: %w", ErrMalformed, err)
	}
	var counts [4]uint64
	var audCounts [2]uint64 // memberships, transitions
	models, catalogs := uint64(0), uint64(0)
	var dlvCounts [4]uint64  // header, destinations, queued, dead
	var privCounts [5]uint64 // header, requests, suppressed, decommissioned, audit
	fits := uint64(0)
	var body []byte
	ended := false
	for !ended {
		t, err := br.ReadByte()
		if err != nil {
			return nil, fmt.Errorf("%w: snapshot truncated: %w", ErrMalformed, err)
		}
		n, err := binary.ReadUvarint(br)
		if err != nil || n > maxRecordBytes {
			return nil, fmt.Errorf("%w: snapshot record length", ErrMalformed)
		}
		body = slices.Grow(body[:0], int(n))[:n]
		if _, err := io.ReadFull(br, body); err != nil {
			return nil, fmt.Errorf("%w: snapshot truncated: %w", ErrMalformed, err)
		}
		d := codec.NewDecoder(body)
		err = func() error {
			switch t {
			case recCatalog:
				if catalogs > 0 || counts != [4]uint64{} {
					return fmt.Errorf("catalog record not before the edges")
				}
				catalogs++
				if err := d.ExpectArray(3); err != nil {
					return err
				}
				b, err1 := d.Bytes()
				clock, err2 := d.Int()
				last, err3 := d.Uint()
				if err := first(err1, err2, err3); err != nil {
					return err
				}
				c, err := catalog.Unmarshal(b)
				if err != nil {
					return err
				}
				comp, err := catalog.Compile(c)
				if err != nil {
					// Every node must evaluate the same definitions: a
					// binary that cannot compile them must not run.
					return fmt.Errorf("the snapshot's definitions do not compile with this binary: %w", err)
				}
				defs, err := newDefs(c, comp)
				if err != nil {
					return err
				}
				st.defs, st.clock, st.lastTransition = defs, clock, last
			case recModel:
				if models > 0 || catalogs > 0 || counts != [4]uint64{} {
					return fmt.Errorf("model record not first")
				}
				models++
				if err := d.ExpectArray(3); err != nil {
					return err
				}
				idx, err1 := d.Uint()
				actor, err2 := d.String()
				b, err3 := d.Bytes()
				if err := first(err1, err2, err3); err != nil {
					return err
				}
				m, err := identity.Unmarshal(b)
				if err != nil {
					return err
				}
				st.model = &installedModel{m: m, encoded: b, index: idx, actor: actor}
				st.ix = identity.NewIndex(m) // still empty: rebuild loads it
			case recEdge:
				counts[0]++
				if err := d.ExpectArray(2); err != nil {
					return err
				}
				e, err1 := d.String()
				seq, err2 := d.Uint()
				if err := first(err1, err2); err != nil {
					return err
				}
				st.edges.ReplaceOrInsert(edgeSeq{e, seq})
			case recFragment:
				counts[1]++
				n, err := d.ArrayLen(1)
				if err != nil {
					return err
				}
				if n != 4 && n != 5 {
					return fmt.Errorf("fragment record of %d elements, want 4 or 5", n)
				}
				id, err1 := d.String()
				cl, err2 := d.String()
				ch, err3 := d.Uint()
				b, err4 := d.Bytes()
				adopt := false
				var err5 error
				if n == 5 {
					if adopt, err5 = d.Bool(); err5 == nil && !adopt {
						err5 = fmt.Errorf("fragment %s: a fifth element that is not true", id)
					}
				}
				if err := first(err1, err2, err3, err4, err5); err != nil {
					return err
				}
				p, err := profile.Unmarshal(b)
				if err != nil {
					return err
				}
				if p.ID != id {
					return fmt.Errorf("fragment %s holds profile %s", id, p.ID)
				}
				var enc []byte
				if adopt {
					// The fragment's first delta, kept as written (as
					// Apply keeps it): its Adopt is the state, erased
					// exactly when the delta is.
					enc = b
				} else if enc, err = p.Marshal(); err != nil {
					// Encoded again in today's form: a snapshot of an
					// older encoding restores to what today's would
					// have written.
					return err
				}
				st.replace(&fragment{id: id, enc: ar.Copy(enc), adopt: adopt, erased: p.Erased.Set, cluster: cl, changed: ch}) // twice: the later stands
				st.feed.ReplaceOrInsert(feedKey{ch, id})
			case recDecision:
				counts[2]++
				if err := d.ExpectArray(6); err != nil {
					return err
				}
				x := &decision{}
				var errs [6]error
				x.a, errs[0] = d.String()
				x.b, errs[1] = d.String()
				x.same, errs[2] = d.Bool()
				x.index, errs[3] = d.Uint()
				x.actor, errs[4] = d.String()
				x.reason, errs[5] = d.String()
				if err := first(errs[:]...); err != nil {
					return err
				}
				st.decisions.ReplaceOrInsert(x)
			case recEvent:
				counts[3]++
				ev, err := decodeEvent(d)
				if err != nil {
					return err
				}
				st.history.ReplaceOrInsert(ev)
			case recMember:
				if catalogs == 0 || audCounts[1] > 0 {
					return fmt.Errorf("membership record out of place")
				}
				audCounts[0]++
				m, err := readMembership(d)
				if err != nil {
					return err
				}
				if _, dup := st.members.ReplaceOrInsert(m); dup {
					return fmt.Errorf("membership of %s twice", m.cluster)
				}
			case recTransit:
				if catalogs == 0 {
					return fmt.Errorf("transition record without a catalog")
				}
				audCounts[1]++
				tr, err := readTransition(d)
				if err != nil {
					return err
				}
				if tr.Seq == 0 || tr.Seq > st.lastTransition {
					return fmt.Errorf("transition %d beyond the last, %d", tr.Seq, st.lastTransition)
				}
				if _, dup := st.transits.ReplaceOrInsert(tr); dup {
					return fmt.Errorf("transition %d twice", tr.Seq)
				}
			case recDlvState:
				if dlvCounts != [4]uint64{} {
					return fmt.Errorf("delivery state record twice")
				}
				dlvCounts[0]++
				if err := d.ExpectArray(2); err != nil {
					return err
				}
				var err1, err2 error
				st.dlv.lastID, err1 = d.Uint()
				st.dlv.lastQ, err2 = d.Uint()
				return first(err1, err2)
			case recDest:
				if dlvCounts[0] == 0 || dlvCounts[2]+dlvCounts[3] > 0 {
					return fmt.Errorf("destination record out of place")
				}
				dlvCounts[1]++
				e, err := decodeDest(d)
				if err != nil {
					return err
				}
				if _, dup := st.dlv.dests[e.name]; dup {
					return fmt.Errorf("destination %s twice", e.name)
				}
				st.dlv.dests[e.name] = e
			case recDelivery, recDead:
				if dlvCounts[0] == 0 || t == recDelivery && dlvCounts[3] > 0 {
					return fmt.Errorf("delivery record out of place")
				}
				x, err := decodeDelivery(d)
				if err != nil {
					return err
				}
				if _, ok := st.dlv.dests[x.dest]; !ok || x.q == 0 || x.q > st.dlv.lastQ || x.id == 0 || x.id > st.dlv.lastID {
					return fmt.Errorf("delivery %d of destination %s out of range", x.q, x.dest)
				}
				tree := st.dlv.queue
				if t == recDead {
					tree = st.dlv.dead
					dlvCounts[3]++
				} else {
					dlvCounts[2]++
				}
				if _, dup := tree.ReplaceOrInsert(x); dup {
					return fmt.Errorf("delivery %d twice", x.q)
				}
			case recPrivacy, recRequest, recSuppress, recDecom, recAudit:
				if fits > 0 {
					return fmt.Errorf("privacy record after a fit record")
				}
				return readPrivacy(st.priv, t, d, &privCounts)
			case recModelFit:
				fits++
				return readFit(st, d) // fsm_modelfit.go
			case recEnd:
				n, err := d.DecodeArrayLen()
				if err != nil {
					return err
				}
				want := 4 + int(models)
				if catalogs > 0 {
					want = 8
				}
				if dlvCounts[0] > 0 {
					want = 12
				}
				if privCounts[0] > 0 {
					want = 17
				}
				if fits > 0 {
					want = 18
				}
				if n != want {
					return fmt.Errorf("end record of %d counts, want %d", n, want)
				}
				all := append(counts[:], models, catalogs, audCounts[0], audCounts[1], dlvCounts[0], dlvCounts[1], dlvCounts[2], dlvCounts[3],
					privCounts[0], privCounts[1], privCounts[2], privCounts[3], privCounts[4], fits)
				for i := range n {
					v, err := d.Uint()
					if err != nil {
						return err
					}
					if v != all[i] {
						return fmt.Errorf("record kind %d: %d records, end record says %d", i, all[i], v)
					}
				}
				ended = true
			default:
				return fmt.Errorf("record type %d", t)
			}
			return nil
		}()
		if err := finish(d, err); err != nil {
			return nil, fmt.Errorf("snapshot: %w", err)
		}
	}
	if _, err := br.ReadByte(); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%w: snapshot: data after the end record", ErrMalformed)
	}
	if err := st.rebuild(progress); err != nil {
		return nil, err
	}
	var missing string
	st.members.Ascend(func(m *membership) bool {
		if _, ok := st.clusters[m.cluster]; !ok {
			missing = m.cluster
			return false
		}
		return true
	})
	if missing != "" {
		return nil, fmt.Errorf("%w: snapshot: membership of %s, which is no cluster", ErrMalformed, missing)
	}
	st.rebuildAudiences()
	st.dlv.rebuild()
	st.priv.rebuild()
	return st, nil
}

// rebuildBatch is how many records rebuild gives the identity engine at
// a time: a batch's plan (prepared records, scored pairs) lives until
// the batch is added.
var rebuildBatch = 5000 // a variable for a test (SetRebuildBatch)

// rebuild derives the identity engine, the cluster index and the
// identifier index (fsm_ident.go) from the fragments and decisions. Clusters are a function of the records and the
// decisions (hub/identity's contract), so the result must equal the
// clusters recorded in the snapshot; a difference means the snapshot and
// this binary disagree, and Restore refuses it. progress, when not nil,
// is called after each batch with the fragments resolved so far and
// their total.
func (st *state) rebuild(progress func(done, total int)) error {
	st.history.Ascend(func(ev *Event) bool {
		st.noteLinked(ev)
		return true
	})
	// The records go to the engine in fragment-ID order, in batches:
	// AddBatch has Add's outcome (TestAddBatchEqualsSerialAdd) and Add
	// in any order has Load's (TestBatchEqualsIncremental), but AddBatch
	// scores each candidate pair once, skips the pairs its weight bound
	// rules out and scores on every core, where Load's connect scores
	// every pair that makes no edge from both sides, on one core
	// (restore 2.2× faster at 20,000 people, 2.5–3.1× at 100,000:
	// bench/README.md, "Hub scale"). A batch is decoded from the
	// fragments just before it is added, so only one batch of decoded
	// records is live at a time: all of them at once were ~390 bytes a
	// person more at the restore's peak, which at 10M people held the
	// heap at the memory limit (bench/README.md, "Restore at 10M").
	batch := make([]*fragment, 0, rebuildBatch)
	recs := make([]identity.Record, rebuildBatch)
	packed := make([]string, rebuildBatch)
	workers := runtime.GOMAXPROCS(0)
	done, total := 0, st.frags.Len()
	var err error
	flush := func() bool {
		n := len(batch)
		// Decoding is most of a record's cost outside the engine and
		// touches nothing shared: it runs on every core.
		parallel.For(n, workers, func(i int) { recs[i], packed[i] = recordOf(batch[i].id, batch[i].identityProfile()) })
		notes := make([]identNote, n)
		for i, fr := range batch {
			st.recs[fr.id] = packed[i]
			notes[i] = identNote{id: fr.id, cur: recs[i].Fields}
		}
		// The identifier and address indexes, beside the engine (which
		// reads neither).
		wait := parallel.Start(1, 1, func(int) { st.noteIdentsBatch(notes) })
		_, err = st.ix.AddBatch(recs[:n], nil)
		wait()
		if err != nil {
			err = fmt.Errorf("%w: snapshot: identity records: %w", ErrMalformed, err)
			return false
		}
		done += n
		if progress != nil {
			progress(done, total)
		}
		clear(recs)
		clear(packed)
		batch = batch[:0]
		return true
	}
	st.frags.Ascend(func(fr *fragment) bool {
		batch = append(batch, fr)
		return len(batch) < rebuildBatch || flush()
	})
	if err == nil && len(batch) > 0 {
		flush()
	}
	if err != nil {
		return err
	}
	st.decisions.Ascend(func(d *decision) bool {
		st.noteApart(d)
		if d.same {
			_, err = st.ix.Accept(d.a, d.b)
		} else {
			_, err = st.ix.Reject(d.a, d.b)
		}
		return err == nil
	})
	if err != nil {
		return fmt.Errorf("%w: snapshot: decision: %w", ErrMalformed, err)
	}
	st.frags.Ascend(func(fr *fragment) bool {
		var c identity.Cluster
		if c, err = st.ix.ClusterOf(fr.id); err != nil {
			return false
		}
		if c.ID != fr.cluster {
			err = fmt.Errorf("fragment %s: snapshot says cluster %s, identity engine says %s", fr.id, fr.cluster, c.ID)
			return false
		}
		if c.ID == fr.id {
			st.clusters[c.ID] = c.Records
		}
		return true
	})
	if err != nil {
		return fmt.Errorf("%w: snapshot: %w", ErrMalformed, err)
	}
	return nil
}
