package api

import (
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"ucv/profile"
	"ucv/profile/catalog"
	"ucv/profile/recommend"
)

// Recommendations (issue 11, item 3; docs/decisions/0038-recommendations.md):
// GET /v1/profiles/{ref}/recommendations?k=10 answers the items related
// to what the profile bought or viewed, never one it bought, from the
// model the hub fitted and the catalog shipped — so an offline edge
// keeps recommending with the last catalog it has.

// Recommendations page sizes.
const (
	defaultRecommendations = 10
	maxRecommendations     = 100
)

// parseK reads ?k= (1..maxRecommendations, default 10).
func parseK(v []byte) (int, error) {
	if len(v) == 0 {
		return defaultRecommendations, nil
	}
	k, err := strconv.Atoi(string(v))
	if err != nil || k < 1 || k > maxRecommendations {
		return 0, errorf(ErrBadRequest, fmt.Sprintf("k: must be an integer from 1 to %d", maxRecommendations))
	}
	return k, nil
}

// recModel is the recommendations model decoded from one compiled
// catalog; nil model when the catalog has none (or an unreadable one).
type recModel struct {
	cat *catalog.Compiled
	m   *recommend.Model
}

// recCache holds the last decoded model: a catalog changes rarely, a
// model is megabytes of JSON, so it is decoded once per catalog.
type recCache struct{ p atomic.Pointer[recModel] }

func (c *recCache) model(cat *catalog.Compiled) *recommend.Model {
	if r := c.p.Load(); r != nil && r.cat == cat {
		return r.m
	}
	r := &recModel{cat: cat}
	if b, ok := cat.Catalog().Models[catalog.ModelRecommendations]; ok {
		if m, err := recommend.Unmarshal(b); err == nil {
			r.m = m
		}
	}
	c.p.Store(r)
	return r.m
}

// recommendations returns p's top k items as of now: empty (never
// null) when no model was fitted yet.
func (s *Server) recommendations(p *profile.Profile, k int, now time.Time) []recommend.Scored {
	m := s.recs.model(s.st.Catalog())
	if m == nil {
		return []recommend.Scored{}
	}
	out := m.Recommend(recommend.History(p), now.UnixMilli(), k)
	if out == nil {
		out = []recommend.Scored{}
	}
	return out
}
