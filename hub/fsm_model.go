package hub

import (
	"fmt"

	"ucv/hub/identity"
)

// The identity model is replicated state
// (docs/decisions/0026-hub-identity-model.md): CmdModel installs a
// trained model at one log index on every node, the snapshot carries it,
// and Restore scores with it. Without one, the engine scores with
// identity.Untrained(DefaultConfig()), a function of the binary.

// installedModel is a model installed by CmdModel. It is immutable: a
// later CmdModel replaces it, so snapshots share it without copying.
type installedModel struct {
	m       *identity.Model
	encoded []byte // as in the log entry: the snapshot writes these bytes
	index   uint64 // Raft index of the CmdModel entry
	actor   string
}

// setModel switches the engine to model m. The identity index is bound
// to its model, so it is rebuilt from every fragment's record (in ID
// order) and every steward decision (in pair order), exactly as Restore
// does; clusters are a function of records, decisions and model, so
// every node gets the same ones. Fragments whose cluster changed are
// regrouped as any re-clustering is: merge and split events at this
// index, the changed clusters in the feed.
func (a *applier) setModel(sm *SetModel, m *identity.Model) {
	st := a.st
	ix, err := buildIndex(st, m)
	if err != nil {
		// The records and decisions were accepted by the engine before;
		// only a broken engine refuses them now.
		panic(fmt.Sprintf("hub: rebuild identity index at index %d: %v", a.index, err))
	}
	st.ix = ix
	st.model = &installedModel{m: m, encoded: sm.Model, index: a.index, actor: sm.Actor}
	var moved []string
	st.frags.Ascend(func(fr *fragment) bool {
		c, err := ix.ClusterOf(fr.id)
		if err != nil {
			panic(fmt.Sprintf("hub: identity engine lost fragment %s: %v", fr.id, err))
		}
		if c.ID != fr.cluster {
			moved = append(moved, fr.id)
		}
		return true
	})
	if len(moved) > 0 {
		a.regroup(moved, nil, "", "")
	}
}

// buildIndex returns a new identity index scoring with m that holds
// every fragment's record (state.recs, in fragment ID order) and every
// steward decision (in pair order).
func buildIndex(st *state, m *identity.Model) (*identity.Index, error) {
	ix := identity.NewIndex(m)
	recs := make([]identity.Record, 0, st.frags.Len())
	st.frags.Ascend(func(fr *fragment) bool {
		recs = append(recs, identity.Record{ID: fr.id, Fields: unpackFields(st.recs[fr.id])})
		return true
	})
	if err := ix.Load(recs, nil); err != nil {
		return nil, fmt.Errorf("identity records: %w", err)
	}
	var err error
	st.decisions.Ascend(func(d *decision) bool {
		if d.same {
			_, err = ix.Accept(d.a, d.b)
		} else {
			_, err = ix.Reject(d.a, d.b)
		}
		return err == nil
	})
	if err != nil {
		return nil, fmt.Errorf("decision: %w", err)
	}
	return ix, nil
}

// ModelInfo summarises the identity model the FSM scores with, for
// GET /v1/admin/model. It holds no personal data: term-frequency tables
// appear as entry counts only.
type ModelInfo struct {
	// Installed is false while the engine scores with the untrained
	// default model.
	Installed bool `json:"installed"`
	// Index is the Raft index of the CmdModel entry that installed it.
	Index uint64 `json:"index,omitempty"`
	Actor string `json:"actor,omitempty"`
	// Hash is the hex SHA-256 of the model's encoding.
	Hash  string `json:"hash"`
	Bytes int    `json:"bytes"`
	// TrainedRecords is the number of records training saw (1 for the
	// untrained default, an empty placeholder record).
	TrainedRecords int     `json:"trained_records"`
	Prior          float64 `json:"prior"`
	PriorWeight    float64 `json:"prior_weight"`
	MatchWeight    float64 `json:"match_weight"`
	ReviewWeight   float64 `json:"review_weight"`
	// Levels are the m, u and weight of every comparison level.
	Levels []ModelLevel `json:"levels"`
	// TermFrequencies counts the values with their own weight per
	// comparison.
	TermFrequencies map[string]int `json:"term_frequencies,omitempty"`
}

// ModelLevel is one comparison level of ModelInfo.
type ModelLevel struct {
	Comparison string  `json:"comparison"`
	Level      string  `json:"level"`
	M          float64 `json:"m"`
	U          float64 `json:"u"`
	Weight     float64 `json:"weight"`
}

// Model returns a summary of the identity model the FSM scores with.
// Safe for concurrent use.
func (f *FSM) Model() (ModelInfo, error) {
	f.mu.RLock()
	im := f.st.model
	f.mu.RUnlock()
	var info ModelInfo
	var m *identity.Model
	var enc []byte
	if im != nil {
		info.Installed, info.Index, info.Actor = true, im.index, im.actor
		m, enc = im.m, im.encoded
	} else {
		var err error
		if m, err = model(); err != nil {
			return info, err
		}
		if enc, err = m.Marshal(); err != nil {
			return info, err
		}
	}
	info.Hash, info.Bytes = identity.HashOf(enc), len(enc)
	rep, cfg := m.Report(), m.Config()
	info.TrainedRecords, info.Prior, info.PriorWeight = rep.Records, rep.Prior, m.PriorWeight()
	info.MatchWeight, info.ReviewWeight = cfg.MatchWeight, cfg.ReviewWeight
	for _, l := range m.Levels() {
		info.Levels = append(info.Levels, ModelLevel{Comparison: l.Comparison, Level: l.Level, M: l.M, U: l.U, Weight: l.Weight})
	}
	info.TermFrequencies = m.TermFrequencies()
	return info, nil
}
