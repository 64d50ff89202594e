package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"ucv/edge/store"
	"ucv/profile"
	"ucv/profile/catalog"
)

// GET /v1/decide/{type}:{value}?placement=&limit=&explain= (scope
// decide): the offers of the catalog the edge holds that the profile is
// eligible for at the placement, ranked by priority
// (catalog.Compiled.Decide; docs/decisions/0039-decisions-and-offers.md).
// It reads the local store only, so an edge without its hub decides with
// the last catalog it received.

const (
	routeDecide        = "/v1/decide/{ref}"
	defaultDecideLimit = 3
	maxDecideLimit     = 50
)

// decideResponse is the body of GET /v1/decide/{ref}.
type decideResponse struct {
	Offers []catalog.Decided `json:"offers"`
	// ProfileVersion is the version of the profile decided on; null for
	// an unknown visitor (decided as an empty profile).
	ProfileVersion *string                    `json:"profile_version"`
	Explain        []catalog.OfferExplanation `json:"explain,omitempty"`
}

// decide serves /v1/decide/{ref}; rest is the raw path after
// "/v1/decide/".
func (s *Server) decide(ctx *fasthttp.RequestCtx, rest []byte) error {
	if err := s.authorizeRead(ctx, ScopeDecide); err != nil {
		return err
	}
	if !ctx.IsGet() && !ctx.IsHead() {
		return methodNotAllowed(allowRead)
	}
	// The query first: a bad one is refused before the store is read.
	args := ctx.QueryArgs()
	placement := string(args.Peek("placement"))
	if placement == "" {
		return errorf(ErrBadRequest, "placement: is required")
	}
	if len(placement) > catalog.MaxPlacementBytes {
		return errorf(ErrBadRequest, fmt.Sprintf("placement: is longer than %d bytes", catalog.MaxPlacementBytes))
	}
	limit := defaultDecideLimit
	if l := args.Peek("limit"); l != nil {
		n, err := strconv.Atoi(string(l))
		if err != nil || n < 1 || n > maxDecideLimit {
			return errorf(ErrBadRequest, fmt.Sprintf("limit: must be an integer from 1 to %d", maxDecideLimit))
		}
		limit = n
	}
	explain := false
	switch string(args.Peek("explain")) {
	case "", "false", "0":
	case "true", "1":
		explain = true
		if !s.hasScope(ctx, ScopeProfiles) {
			return errorf(ErrForbidden, fmt.Sprintf("explain: shows the values the offers read; the read key needs scope %q too", ScopeProfiles))
		}
	default:
		return errorf(ErrBadRequest, "explain: must be true or false")
	}
	// ?purpose= is validated; the answer needs nothing more: every
	// decision honours the consent its offers need, asked or not
	// (catalog.Compiled.Decide, and the stored decision made with it).
	if _, err := s.parsePurpose(args); err != nil {
		return err
	}
	ref, err := s.parseRef(rest)
	if err != nil {
		return err
	}
	if !ref.byID { // offers for a family's landline are the first holder's: say so
		s.setHolders(ctx, []byte(ref.ident.Key()))
	}
	now := s.cfg.Now()
	if !explain {
		// The fast path: the decision rendered with the profile's view.
		d, found, stored, err := s.st.Decision(ref.id, ref.ident, ref.byID, placement, limit)
		if err != nil {
			return fmt.Errorf("decide: %w", err)
		}
		if !found {
			return s.writeDecision(ctx, decideResponse{Offers: s.st.Catalog().Decide(nil, now, placement, limit, false).Offers}, now)
		}
		if stored {
			s.setReplicaHeaders(ctx, d.Version, now)
			if wantsMsgpack(ctx) {
				return s.writeMsgpack(ctx, appendDecision(nil, d.Offers, d.Version))
			}
			var buf [1024]byte
			ctx.SetStatusCode(fasthttp.StatusOK)
			ctx.SetContentType("application/json")
			ctx.Response.ResetBody()
			ctx.Response.AppendBody(appendDecision(buf[:0], d.Offers, d.Version))
			return nil
		}
	}
	p, err := s.decideProfile(ref)
	if err != nil {
		return err
	}
	d := s.st.Catalog().Decide(p, now, placement, limit, explain)
	out := decideResponse{Offers: d.Offers, Explain: d.Explain}
	if explain && out.Explain == nil {
		out.Explain = []catalog.OfferExplanation{}
	}
	if p != nil {
		v := p.Version.String()
		out.ProfileVersion = &v
	}
	return s.writeDecision(ctx, out, now)
}

// writeDecision writes out as the answer.
func (s *Server) writeDecision(ctx *fasthttp.RequestCtx, out decideResponse, now time.Time) error {
	if out.Offers == nil {
		out.Offers = []catalog.Decided{}
	}
	if out.ProfileVersion != nil {
		s.setReplicaHeaders(ctx, *out.ProfileVersion, now)
	}
	b, err := json.Marshal(&out)
	if err != nil {
		return fmt.Errorf("decide: render: %w", err)
	}
	if wantsMsgpack(ctx) {
		return s.writeMsgpack(ctx, b)
	}
	s.writeJSONBytes(ctx, fasthttp.StatusOK, b)
	return nil
}

// decideProfile reads the profile ref names; nil (no error) when there
// is none: an unknown visitor.
func (s *Server) decideProfile(ref profileRef) (*profile.Profile, error) {
	id := ref.id
	if !ref.byID {
		var err error
		id, err = s.st.ResolveIdentifier(ref.ident)
		if errors.Is(err, store.ErrNotFound) {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("decide: %w", err)
		}
	}
	p, err := s.st.Profile(id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("decide: %w", err)
	}
	return p, nil
}

// appendDecision appends the answer {"offers":[…],"profile_version":…}
// without reflection (the fast path's encoding; writeDecision's
// json.Marshal gives the same JSON up to the payload's whitespace).
// Offer ids are catalog names ([a-z][a-z0-9_]*) and payloads valid JSON
// (the catalog checked them), so they need no escaping; the version is
// quoted.
func appendDecision(b []byte, offers []catalog.Decided, version string) []byte {
	b = append(b, `{"offers":[`...)
	for i, o := range offers {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"id":"`...)
		b = append(b, o.ID...)
		b = append(b, `","score":`...)
		b = strconv.AppendFloat(b, o.Score, 'g', -1, 64)
		b = append(b, `,"payload":`...)
		if len(o.Payload) == 0 {
			b = append(b, "null"...)
		} else {
			b = append(b, o.Payload...)
		}
		b = append(b, '}')
	}
	b = append(b, `],"profile_version":`...)
	if strings.ContainsFunc(version, func(r rune) bool { return r < ' ' || r > '~' || r == '"' || r == '\\' }) {
		q, _ := json.Marshal(version)
		return append(append(b, q...), '}')
	}
	b = append(b, '"')
	b = append(b, version...)
	return append(b, `"}`...)
}
