package api

import (
	"net/http"

	"ucv/hub/token"
	"ucv/profile/catalog"
)

// Grant is one role's access to a route.
type Grant struct {
	Role token.Role
	// Note limits the grant; empty: the whole route. "own edge": a sync
	// token pushes only the edge its name names. "masked": identifier
	// values and trait values come back hashed (profile.Redact).
	Note string
}

// Route is one row of the role matrix.
type Route struct {
	Method, Path string
	// Open routes need no token; Grants is then empty.
	Open   bool
	Grants []Grant
}

// route binds a Route to its handler.
type route struct {
	Route
	h func(*Server) handler
}

func public(method, path string, h func(*Server) handler) route {
	return route{Route{Method: method, Path: path, Open: true}, h}
}

func allow(method, path string, h func(*Server) handler, grants ...Grant) route {
	return route{Route{Method: method, Path: path, Grants: grants}, h}
}

// Shorthands for the matrix.
var (
	asAdmin   = Grant{Role: token.Admin}
	asSteward = Grant{Role: token.Steward}
	asPrivacy = Grant{Role: token.Privacy}
	asAuditor = Grant{Role: token.Auditor}
	asMasked  = Grant{Role: token.Auditor, Note: "masked"}
	asEdge    = Grant{Role: token.Sync}
	asNode    = Grant{Role: token.Node}
)

// matrix is the hub API's role matrix: every route and the roles that
// may use it. It is the one table routes are registered from, and the
// README's "Hub roles" section prints it (TestRoleMatrixInREADME holds
// the two equal). A valid token of a role the route does not list is
// 403; internal apply then checks the command (mayApply).
var matrix = []route{
	public("GET", "/healthz", func(s *Server) handler { return s.healthz }),
	public("GET", "/readyz", func(s *Server) handler { return s.readyz }),
	public("GET", "/metrics", func(s *Server) handler { return s.metricsPage }),
	allow("POST", "/v1/sync/push", func(s *Server) handler { return s.push }, Grant{token.Sync, "own edge"}),
	allow("POST", "/v1/sync/privacy", func(s *Server) handler { return s.privacySync }, Grant{token.Sync, "own edge"}),
	allow("GET", "/v1/sync/feed", func(s *Server) handler { return s.feed }, asEdge),
	allow("GET", "/v1/sync/snapshot", func(s *Server) handler { return s.snapshot }, asEdge),
	allow("POST", "/v1/internal/apply", func(s *Server) handler { return s.internalApply },
		Grant{token.Admin, "steward, import, model, definition, replay, privacy and audit commands"}, Grant{token.Sync, "own edge's sync batches"}, asNode),
	allow("GET", "/v1/internal/peers", func(s *Server) handler { return s.internalPeers }, asEdge, asNode),
	allow("POST", "/v1/admin/join", func(s *Server) handler { return s.join }, asAdmin, asNode),
	allow("POST", "/v1/admin/remove", func(s *Server) handler { return s.remove }, asAdmin),
	allow("GET", "/v1/admin/status", func(s *Server) handler { return s.status }, asAdmin, asSteward, asAuditor),
	allow("GET", "/v1/admin/profiles/{ref}", func(s *Server) handler { return s.profile }, asAdmin, asSteward, asPrivacy, asMasked),
	allow("GET", "/v1/admin/profiles/{ref}/why", func(s *Server) handler { return s.why }, asAdmin, asSteward, asPrivacy, asMasked),
	allow("GET", "/v1/admin/profiles/{ref}/related", func(s *Server) handler { return s.related }, asAdmin, asSteward, asPrivacy, asMasked),
	allow("POST", "/v1/admin/import", func(s *Server) handler { return s.importRecords }, asAdmin),
	allow("GET", "/v1/admin/import/{source}", func(s *Server) handler { return s.importStats }, asAdmin, asSteward, asAuditor),
	allow("POST", "/v1/admin/merge", func(s *Server) handler { return s.steward(true) }, asAdmin, asSteward),
	allow("POST", "/v1/admin/unmerge", func(s *Server) handler { return s.steward(false) }, asAdmin, asSteward),
	allow("GET", "/v1/admin/reviews", func(s *Server) handler { return s.reviews }, asAdmin, asSteward),
	allow("POST", "/v1/admin/reviews/accept", func(s *Server) handler { return s.review(true) }, asAdmin, asSteward),
	allow("POST", "/v1/admin/reviews/reject", func(s *Server) handler { return s.review(false) }, asAdmin, asSteward),
	allow("GET", "/v1/admin/model", func(s *Server) handler { return s.model }, asAdmin, asSteward, asAuditor),
	allow("POST", "/v1/admin/model", func(s *Server) handler { return s.setModel }, asAdmin),
	allow("GET", "/v1/admin/identity/models", func(s *Server) handler { return s.identityModels }, asAdmin, asSteward, asAuditor),
	allow("GET", "/v1/admin/computed-traits", func(s *Server) handler { return s.definitions(catalog.KindComputedTrait) }, asAdmin, asSteward, asAuditor),
	allow("GET", "/v1/admin/computed-traits/{name}", func(s *Server) handler { return s.definition(catalog.KindComputedTrait) }, asAdmin, asSteward, asAuditor),
	allow("PUT", "/v1/admin/computed-traits/{name}", func(s *Server) handler { return s.define(catalog.KindComputedTrait) }, asAdmin),
	allow("DELETE", "/v1/admin/computed-traits/{name}", func(s *Server) handler { return s.undefine(catalog.KindComputedTrait) }, asAdmin),
	allow("GET", "/v1/admin/audiences", func(s *Server) handler { return s.definitions(catalog.KindAudience) }, asAdmin, asSteward, asAuditor),
	allow("GET", "/v1/admin/audiences/{name}", func(s *Server) handler { return s.definition(catalog.KindAudience) }, asAdmin, asSteward, asAuditor),
	allow("PUT", "/v1/admin/audiences/{name}", func(s *Server) handler { return s.define(catalog.KindAudience) }, asAdmin),
	allow("DELETE", "/v1/admin/audiences/{name}", func(s *Server) handler { return s.undefine(catalog.KindAudience) }, asAdmin),
	allow("GET", "/v1/admin/audiences/{name}/members", func(s *Server) handler { return s.members }, asAdmin, asSteward, asAuditor),
	allow("GET", "/v1/admin/offers", func(s *Server) handler { return s.definitions(catalog.KindOffer) }, asAdmin, asSteward, asAuditor),
	allow("GET", "/v1/admin/offers/{name}", func(s *Server) handler { return s.definition(catalog.KindOffer) }, asAdmin, asSteward, asAuditor),
	allow("PUT", "/v1/admin/offers/{name}", func(s *Server) handler { return s.define(catalog.KindOffer) }, asAdmin),
	allow("DELETE", "/v1/admin/offers/{name}", func(s *Server) handler { return s.undefine(catalog.KindOffer) }, asAdmin),
	allow("GET", "/v1/admin/consent-purposes", func(s *Server) handler { return s.definitions(catalog.KindPurpose) }, asAdmin, asSteward, asAuditor, asPrivacy),
	allow("GET", "/v1/admin/consent-purposes/{name}", func(s *Server) handler { return s.definition(catalog.KindPurpose) }, asAdmin, asSteward, asAuditor, asPrivacy),
	allow("PUT", "/v1/admin/consent-purposes/{name}", func(s *Server) handler { return s.define(catalog.KindPurpose) }, asAdmin),
	allow("DELETE", "/v1/admin/consent-purposes/{name}", func(s *Server) handler { return s.undefine(catalog.KindPurpose) }, asAdmin),
	allow("GET", "/v1/admin/retention", func(s *Server) handler { return s.definitions(catalog.KindRetention) }, asAdmin, asSteward, asAuditor, asPrivacy),
	allow("GET", "/v1/admin/retention/{name}", func(s *Server) handler { return s.definition(catalog.KindRetention) }, asAdmin, asSteward, asAuditor, asPrivacy),
	allow("PUT", "/v1/admin/retention/{name}", func(s *Server) handler { return s.define(catalog.KindRetention) }, asAdmin),
	allow("DELETE", "/v1/admin/retention/{name}", func(s *Server) handler { return s.undefine(catalog.KindRetention) }, asAdmin),
	allow("GET", "/v1/admin/survivorship", func(s *Server) handler { return s.definitions(catalog.KindSurvivorship) }, asAdmin, asSteward, asAuditor),
	allow("GET", "/v1/admin/survivorship/{name}", func(s *Server) handler { return s.definition(catalog.KindSurvivorship) }, asAdmin, asSteward, asAuditor),
	allow("PUT", "/v1/admin/survivorship/{name}", func(s *Server) handler { return s.define(catalog.KindSurvivorship) }, asAdmin),
	allow("DELETE", "/v1/admin/survivorship/{name}", func(s *Server) handler { return s.undefine(catalog.KindSurvivorship) }, asAdmin),
	allow("GET", "/v1/admin/transitions", func(s *Server) handler { return s.transitions }, asAdmin, asAuditor),
	allow("GET", "/v1/admin/destinations", func(s *Server) handler { return s.destinations }, asAdmin, asAuditor),
	allow("GET", "/v1/admin/destinations/{name}", func(s *Server) handler { return s.destination }, asAdmin, asAuditor),
	allow("PUT", "/v1/admin/destinations/{name}", func(s *Server) handler { return s.defineDestination }, asAdmin),
	allow("DELETE", "/v1/admin/destinations/{name}", func(s *Server) handler { return s.undefineDestination }, asAdmin),
	allow("GET", "/v1/admin/destinations/{name}/failed", func(s *Server) handler { return s.deadLetters }, asAdmin, asAuditor),
	allow("POST", "/v1/admin/destinations/{name}/failed/replay", func(s *Server) handler { return s.replay }, asAdmin),
	allow("POST", "/v1/admin/privacy/requests", func(s *Server) handler { return s.createPrivacy }, asAdmin, asPrivacy),
	allow("GET", "/v1/admin/privacy/requests", func(s *Server) handler { return s.privacyRequests }, asAdmin, asPrivacy),
	allow("GET", "/v1/admin/privacy/requests/{id}", func(s *Server) handler { return s.privacyRequest }, asAdmin, asPrivacy),
	allow("GET", "/v1/admin/privacy/requests/{id}/export", func(s *Server) handler { return s.privacyExport }, asAdmin, asPrivacy),
	allow("GET", "/v1/admin/edges", func(s *Server) handler { return s.edgeList }, asAdmin, asAuditor),
	allow("DELETE", "/v1/admin/edges/{id}", func(s *Server) handler { return s.decommission }, asAdmin),
	allow("GET", "/v1/admin/audit", func(s *Server) handler { return s.audit }, asAdmin, asAuditor, asPrivacy),
	allow("GET", "/v1/admin/models/recommendations", func(s *Server) handler { return s.recommendationsModel }, asAdmin, asSteward, asAuditor),
	allow("POST", "/v1/admin/models/recommendations/fit", func(s *Server) handler { return s.fitRecommendations }, asAdmin),
	allow("GET", "/v1/admin/models/clv", func(s *Server) handler { return s.valueModel(catalog.ModelCLV) }, asAdmin, asSteward, asAuditor),
	allow("POST", "/v1/admin/models/clv/fit", func(s *Server) handler { return s.fitModel(catalog.ModelCLV) }, asAdmin),
	allow("GET", "/v1/admin/models/rfm", func(s *Server) handler { return s.valueModel(catalog.ModelRFM) }, asAdmin, asSteward, asAuditor),
	allow("POST", "/v1/admin/models/rfm/fit", func(s *Server) handler { return s.fitModel(catalog.ModelRFM) }, asAdmin),
}

// RoleMatrix returns the role matrix: every route of the API, in the
// order the README prints them, with the roles that may use it. The
// caller may modify the copy.
func RoleMatrix() []Route {
	out := make([]Route, len(matrix))
	for i, rt := range matrix {
		out[i] = rt.Route
		out[i].Grants = append([]Grant(nil), rt.Grants...)
	}
	return out
}

// grant returns role's grant on rt.
func (rt *Route) grant(role token.Role) (Grant, bool) {
	for _, g := range rt.Grants {
		if g.Role == role {
			return g, true
		}
	}
	return Grant{}, false
}

func (s *Server) routes() {
	for i := range matrix {
		rt := &matrix[i]
		s.mux.HandleFunc(rt.Method+" "+rt.Path, s.wrap(&rt.Route, rt.h(s)))
	}
	notFound := &Route{Method: "", Path: "/", Open: true}
	s.mux.HandleFunc("/", s.wrap(notFound, func(http.ResponseWriter, *http.Request) error { return ErrNoRoute }))
}

func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) error {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	return nil
}

func (s *Server) metricsPage(w http.ResponseWriter, r *http.Request) error {
	s.met.handler().ServeHTTP(w, r)
	return nil
}
