package api

import (
	"fmt"
	"slices"

	"github.com/valyala/fasthttp"

	"ucv/profile"
	"ucv/profile/catalog"
)

// Lookups for a purpose (issue 12 §5; docs/decisions/0041-consent-and-retention.md):
// ?purpose=<category> on the profile routes and /v1/decide/{ref} leaves
// out what the catalog's consent purpose of that name marks — traits
// and identifiers of those types, computed values and scores,
// audiences, recommendations — when the person has not granted it
// (catalog.Compiled.Withhold, with the edge's consent default).
// Decisions honour consent without being asked. Without ?purpose the
// answer is as before: the stored view bytes, nothing more done.

// parsePurpose reads ?purpose=: "" when absent; a 400 naming the field
// when it is not a consent purpose the catalog defines or a built-in one.
func (s *Server) parsePurpose(args *fasthttp.Args) (string, error) {
	v := args.Peek("purpose")
	if v == nil {
		return "", nil
	}
	if len(v) == 0 || len(v) > 64 || !s.st.Catalog().KnownPurpose(string(v)) {
		return "", errorf(ErrBadRequest, "purpose: is not a known consent purpose (define it at the hub: PUT /v1/admin/consent-purposes/{name}; built in: advertising, analytics, functional, marketing, necessary, personalization)")
	}
	return string(v), nil
}

// withheldProfile returns p without the traits and identifiers w marks
// (a copy; p is unchanged), or p itself when w marks none of them.
func withheldProfile(p *profile.Profile, w catalog.Withheld) *profile.Profile {
	drop := false
	for _, k := range p.Traits.Keys() {
		drop = drop || w.Trait(k)
	}
	for _, id := range p.IdentityList() {
		drop = drop || w.Trait(string(id.Type))
	}
	if !drop {
		return p
	}
	c := p.Clone()
	c.Traits.DropKeys(w.Trait)
	c.Identities.DropElems(func(key string) bool {
		id, ok := profile.ParseKey(key)
		return ok && w.Trait(string(id.Type))
	})
	return c
}

// withheldValues returns the computed values w does not mark.
func withheldValues(vs []catalog.Value, w catalog.Withheld) []catalog.Value {
	return slices.DeleteFunc(slices.Clone(vs), func(v catalog.Value) bool { return w.Trait(v.Name) })
}

// withheldAudiences returns the audiences w does not mark (never nil).
func withheldAudiences(auds []string, w catalog.Withheld) []string {
	out := slices.DeleteFunc(slices.Clone(auds), w.Audience)
	if out == nil {
		out = []string{}
	}
	return out
}

// lookupFor serves the whole profile for a purpose: the stored view
// when nothing is withheld, else a view rendered from the profile
// without what is.
func (s *Server) lookupFor(ctx *fasthttp.RequestCtx, ref profileRef, purpose string) error {
	p, err := s.profileOf(ref)
	if err != nil {
		return err
	}
	cat := s.st.Catalog()
	p = cat.Survive(p)
	w := cat.Withhold(p, purpose)
	if !w.Any() {
		return s.lookup(ctx, ref)
	}
	now := s.cfg.Now()
	res := cat.Evaluate(p, now)
	prefix, err := withheldProfile(p, w).ViewPrefixWith(withheldValues(res.Computed, w), withheldAudiences(res.Audiences, w))
	if err != nil {
		return fmt.Errorf("lookup: %w", err)
	}
	var lastSeen int64
	if p.LastSeen.Set {
		lastSeen = p.LastSeen.V
	}
	body := s.appendTail(prefix, now, lastSeen)
	s.setReplicaHeaders(ctx, p.Version.String(), now)
	if wantsMsgpack(ctx) {
		return s.writeMsgpack(ctx, body)
	}
	s.writeJSONBytes(ctx, fasthttp.StatusOK, body)
	return nil
}
