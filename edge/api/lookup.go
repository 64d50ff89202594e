package api

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/valyala/fasthttp"

	"ucv/crdt/codec"
	"ucv/edge/store"
	"ucv/profile"
	"ucv/profile/catalog"
)

// Events page sizes.
const (
	defaultEventsLimit = 20
	maxEventsLimit     = 100
	maxProfileIDBytes  = 128
)

// profileRef is a parsed {ref} path segment: a profile ID, or an
// identifier when it holds a ':'.
type profileRef struct {
	id    string
	ident profile.Identifier
	byID  bool
}

// profileRoute serves /v1/profiles/{ref} and its sub-resources. rest is
// the raw path after "/v1/profiles/".
func (s *Server) profileRoute(ctx *fasthttp.RequestCtx, rest []byte) (string, error) {
	rawRef, sub, _ := bytes.Cut(rest, []byte("/"))
	route := routeProfile
	switch string(sub) {
	case "":
	case "traits", "events", "external_ids", "computed", "merges", "audiences", "recommendations", "holders":
		route = routeProfile + "/" + string(sub)
	default:
		return routeOther, ErrNoRoute
	}
	if err := s.authorizeRead(ctx, ScopeProfiles); err != nil {
		return route, err
	}
	if !ctx.IsGet() && !ctx.IsHead() {
		return route, methodNotAllowed(allowRead)
	}
	purpose, err := s.parsePurpose(ctx.QueryArgs())
	if err != nil {
		return route, err
	}
	if len(sub) == 0 && purpose == "" && s.lookupCached(ctx, rawRef) {
		return route, nil
	}
	ref, err := s.parseRef(rawRef)
	if err != nil {
		return route, err
	}
	if len(sub) == 0 {
		if !ref.byID {
			s.setHolders(ctx, []byte(ref.ident.Key()))
		}
		if purpose != "" {
			return route, s.lookupFor(ctx, ref, purpose)
		}
		return route, s.lookup(ctx, ref)
	}
	if string(sub) == "holders" {
		return route, s.holders(ctx, ref)
	}
	return route, s.subResource(ctx, ref, string(sub), purpose)
}

// parseRef URL-decodes the segment and, for "type:value", normalizes the
// identifier as ingest does, so "email:Ann@Example.com" finds
// ann@example.com.
func (s *Server) parseRef(raw []byte) (profileRef, error) {
	ref, err := unescapeSegment(raw)
	if err != nil {
		return profileRef{}, errorf(ErrBadRequest, "profile reference: "+err.Error())
	}
	typ, val, isIdent := strings.Cut(ref, ":")
	if !isIdent {
		if ref == "" || len(ref) > maxProfileIDBytes {
			return profileRef{}, errorf(ErrBadRequest, fmt.Sprintf("profile id: must be 1 to %d bytes", maxProfileIDBytes))
		}
		return profileRef{id: ref, byID: true}, nil
	}
	id, err := profile.NewIdentifier("identifier", profile.IDType(typ), val, s.cfg.Normalize)
	if err != nil {
		return profileRef{}, fmt.Errorf("lookup: %w", err)
	}
	return profileRef{ident: id}, nil
}

// unescapeSegment percent-decodes one path segment ('+' stays '+').
func unescapeSegment(raw []byte) (string, error) {
	s, err := url.PathUnescape(string(raw))
	if err != nil {
		return "", errors.New("invalid percent-encoding")
	}
	if !utf8.ValidString(s) {
		return "", errors.New("not valid UTF-8")
	}
	return s, nil
}

// lookupCached serves a whole-profile lookup from the store's memory
// when it can (store.Store.CachedIdentifier): the raw segment is the
// key when it needs no decoding — no '%' — and names an indexed
// identifier or a profile ID. An indexed key is a normalized one, and
// normalization is idempotent (profile.TestNormalizeIdempotent), so the
// slow path would look up the same key. It reports false, having
// written nothing, when the request must take the slow path (parse,
// normalize, LookupIdentifier/LookupID). This path allocates nothing.
func (s *Server) lookupCached(ctx *fasthttp.RequestCtx, raw []byte) bool {
	if len(raw) == 0 || bytes.IndexByte(raw, '%') >= 0 || wantsMsgpack(ctx) {
		return false
	}
	var c *store.Cached
	var ok bool
	holders := 0
	if bytes.IndexByte(raw, ':') >= 0 {
		c, holders, ok = s.st.CachedIdentifierHolders(raw)
	} else {
		c, ok = s.st.CachedID(raw)
	}
	if !ok {
		return false
	}
	setHoldersHeader(ctx, holders)
	_ = s.writeView(ctx, c.Version, c.LastSeenMs, c.JSON) // JSON: cannot fail
	return true
}

// holdersHeader names the header a lookup by an identifier several
// profiles hold carries: how many hold it (the body is the first of them
// by ID; GET /v1/profiles/{identifier}/holders lists them).
const holdersHeader = "X-Identifier-Holders"

// setHolders sets holdersHeader when identifier key (normalized) is
// shared by two or more profiles. No allocation.
func (s *Server) setHolders(ctx *fasthttp.RequestCtx, key []byte) {
	setHoldersHeader(ctx, s.st.IdentifierHolders(key))
}

// setHoldersHeader sets holdersHeader to n when n > 1.
func setHoldersHeader(ctx *fasthttp.RequestCtx, n int) {
	if n > 1 {
		var b [20]byte
		ctx.Response.Header.SetBytesV(holdersHeader, strconv.AppendInt(b[:0], int64(n), 10))
	}
}

// Holders pages.
const (
	defaultHoldersLimit = 100
	maxHoldersLimit     = 1000
)

// holders serves GET /v1/profiles/{identifier}/holders: the profiles
// that hold the identifier, in ID order (a lookup by it answers with the
// first) — one for an identifier of one person, several for one people
// share (a family's landline the hub kept as a household, a kiosk's
// device; docs/decisions/0059-edge-keeps-hub-judgement.md):
//
//	{"identifier":{"type":…,"value":…},"holders":["id",…],"more":false}
//
// ?limit= (1–1000, default 100) bounds the list; more says whether
// holders were left out.
func (s *Server) holders(ctx *fasthttp.RequestCtx, ref profileRef) error {
	if ref.byID {
		return errorf(ErrBadRequest, "ref: holders are listed for an identifier (type:value), not a profile ID")
	}
	limit := defaultHoldersLimit
	if l := ctx.QueryArgs().Peek("limit"); len(l) > 0 {
		n, err := strconv.Atoi(string(l))
		if err != nil || n < 1 || n > maxHoldersLimit {
			return errorf(ErrBadRequest, fmt.Sprintf("limit: must be an integer from 1 to %d", maxHoldersLimit))
		}
		limit = n
	}
	ids, more, err := s.st.HoldersOf(ref.ident, limit)
	if err != nil {
		return fmt.Errorf("holders: %w", err)
	}
	b, err := json.Marshal(struct {
		Identifier profile.Identifier `json:"identifier"`
		Holders    []string           `json:"holders"`
		More       bool               `json:"more"`
	}{ref.ident, ids, more})
	if err != nil {
		return fmt.Errorf("holders: %w", err)
	}
	s.writeJSONBytes(ctx, fasthttp.StatusOK, b)
	return nil
}

// lookup serves the whole profile: the store's pre-rendered JSON plus
// the time-dependent tail. No profile decode on this path.
func (s *Server) lookup(ctx *fasthttp.RequestCtx, ref profileRef) error {
	var v store.View
	var err error
	if ref.byID {
		v, err = s.st.LookupID(ref.id)
	} else {
		v, err = s.st.LookupIdentifier(ref.ident)
	}
	if err != nil {
		return fmt.Errorf("lookup: %w", err)
	}
	return s.writeView(ctx, v.Version, v.LastSeenMs, v.JSON)
}

// writeView answers with a stored view (json, not modified) and its
// time-dependent tail, as JSON or, when asked, msgpack.
func (s *Server) writeView(ctx *fasthttp.RequestCtx, version string, lastSeenMs int64, json []byte) error {
	now := s.cfg.Now()
	var tail [256]byte
	t := s.appendTail(tail[:0], now, lastSeenMs)
	s.setReplicaHeaders(ctx, version, now)
	if wantsMsgpack(ctx) {
		body := make([]byte, 0, len(json)+len(t))
		return s.writeMsgpack(ctx, append(append(body, json...), t...))
	}
	ctx.SetStatusCode(fasthttp.StatusOK)
	ctx.SetContentType("application/json")
	ctx.Response.ResetBody()
	ctx.Response.AppendBody(json)
	ctx.Response.AppendBody(t)
	return nil
}

// appendTail completes a stored view (which ends inside "computed"):
//
//	,"days_since_last_seen":N|null},"replica":{"node":…,"stale_ms":…,"hub_synced_at":…}}
func (s *Server) appendTail(b []byte, now time.Time, lastSeenMs int64) []byte {
	b = append(b, `,"days_since_last_seen":`...)
	if lastSeenMs == 0 {
		b = append(b, "null"...)
	} else {
		b = strconv.AppendInt(b, (now.UnixMilli()-lastSeenMs)/(24*time.Hour).Milliseconds(), 10)
	}
	b = append(b, "},"...)
	b = s.appendReplica(b, now)
	return append(b, '}')
}

// appendReplica appends the "replica" member: this node, and how stale
// the replica is (null until the first hub sync).
func (s *Server) appendReplica(b []byte, now time.Time) []byte {
	b = append(b, s.replicaNode...)
	synced := s.st.HubSyncedAt()
	if synced.IsZero() {
		return append(b, `"stale_ms":null,"hub_synced_at":null}`...)
	}
	b = append(b, `"stale_ms":`...)
	b = strconv.AppendInt(b, max(0, now.Sub(synced).Milliseconds()), 10)
	b = append(b, `,"hub_synced_at":"`...)
	b = synced.UTC().AppendFormat(b, time.RFC3339Nano)
	return append(b, `"}`...)
}

// setReplicaHeaders sets X-Profile-Version and, once the replica has
// synced with the hub, X-Replica-Stale-Ms.
func (s *Server) setReplicaHeaders(ctx *fasthttp.RequestCtx, version string, now time.Time) {
	ctx.Response.Header.Set("X-Profile-Version", version)
	if synced := s.st.HubSyncedAt(); !synced.IsZero() {
		var b [20]byte
		ctx.Response.Header.SetBytesV("X-Replica-Stale-Ms", strconv.AppendInt(b[:0], max(0, now.Sub(synced).Milliseconds()), 10))
	}
}

// subResource serves /traits, /events, /external_ids, /computed,
// /merges, /recommendations (?k=: edge/api/recommendations.go) and
// /audiences (?explain=true: for every audience, whether the
// profile is in it and the values its expression read) from the decoded
// profile. Each answer is
// {"id":…,"version":…,<payload>,"replica":{…}}.
//
// With a purpose (purpose.go), what the catalog marks under it is left
// out when the person has not granted it.
func (s *Server) subResource(ctx *fasthttp.RequestCtx, ref profileRef, sub, purpose string) error {
	args := ctx.QueryArgs()
	// Validate the query before touching the store.
	var include []string
	limit := defaultEventsLimit
	var after *cursor
	explain := false
	k := 0
	switch sub {
	case "recommendations":
		var err error
		if k, err = parseK(args.Peek("k")); err != nil {
			return err
		}
	case "audiences":
		switch e := string(args.Peek("explain")); e {
		case "", "false", "0":
		case "true", "1":
			explain = true
		default:
			return errorf(ErrBadRequest, "explain: must be true or false")
		}
	case "traits":
		if inc := args.Peek("include"); len(inc) > 0 {
			for _, k := range strings.Split(string(inc), ",") {
				if k = strings.TrimSpace(k); k != "" {
					include = append(include, k)
				}
			}
		}
	case "events":
		if l := args.Peek("limit"); len(l) > 0 {
			n, err := strconv.Atoi(string(l))
			if err != nil || n < 1 || n > maxEventsLimit {
				return errorf(ErrBadRequest, fmt.Sprintf("limit: must be an integer from 1 to %d", maxEventsLimit))
			}
			limit = n
		}
		if c := args.Peek("cursor"); len(c) > 0 {
			cur, err := parseCursor(string(c))
			if err != nil {
				return errorf(ErrBadRequest, "cursor: not a cursor this API returned")
			}
			after = &cur
		}
	}
	p, err := s.profileOf(ref)
	if err != nil {
		return err
	}
	now := s.cfg.Now()
	version := p.Version.String()
	out := map[string]any{"id": p.ID, "version": version}
	// vis is what a reader may see; evaluations read the whole profile
	// (an audience a purpose does not mark keeps its true answer).
	var w catalog.Withheld
	vis := s.st.Catalog().Survive(p) // the golden record's traits (0045)
	if purpose != "" {
		w = s.st.Catalog().Withhold(p, purpose)
		vis = withheldProfile(vis, w)
	}
	switch sub {
	case "traits":
		traits := vis.TraitValues()
		if include != nil {
			sel := make(map[string]any, len(include))
			for _, k := range include {
				if v, ok := traits[k]; ok {
					sel[k] = v
				}
			}
			traits = sel
		}
		out["traits"] = traits
	case "events":
		evs := p.Events()
		if cut, ok := s.st.Catalog().RetentionCutoff(now); ok {
			// Past retention: gone, whether or not the stored state has
			// been pruned yet (the store prunes on its next write).
			evs = slices.DeleteFunc(evs, func(e profile.TimelineEvent) bool { return e.Time < cut })
		}
		data, next := pageEvents(evs, after, limit)
		out["data"] = data
		out["cursor"] = map[string]any{"next": next}
	case "external_ids":
		ids := vis.IdentityList()
		if ids == nil {
			ids = []profile.Identifier{}
		}
		out["data"] = ids
	case "computed":
		c := vis.Computed(now)
		c.User = withheldValues(s.st.Catalog().Evaluate(p, now).Computed, w)
		out["computed"] = c
	case "audiences":
		// Evaluated afresh as of now: the same function the stored view
		// was rendered with, so the two agree.
		cat := s.st.Catalog()
		if explain {
			res, exps := cat.Explain(p, now)
			out["audiences"] = withheldAudiences(res.Audiences, w)
			exps = slices.DeleteFunc(exps, func(e catalog.Explanation) bool { return w.Audience(e.Audience) })
			if exps == nil {
				exps = []catalog.Explanation{}
			}
			out["explain"] = exps
		} else {
			out["audiences"] = withheldAudiences(cat.Evaluate(p, now).Audiences, w)
		}
	case "recommendations":
		if w.Recommendations() {
			out["items"] = []any{}
			break
		}
		out["items"] = s.recommendations(p, k, now)
	case "merges":
		recs := p.MergeRecords()
		if recs == nil {
			recs = []profile.MergeRecord{}
		}
		out["data"] = recs
	}
	b, err := json.Marshal(out)
	if err != nil {
		return fmt.Errorf("render %s: %w", sub, err)
	}
	// Replace the closing brace with the replica member.
	b = append(b[:len(b)-1], ',')
	b = append(s.appendReplica(b, now), '}')
	s.setReplicaHeaders(ctx, version, now)
	if wantsMsgpack(ctx) {
		return s.writeMsgpack(ctx, b)
	}
	s.writeJSONBytes(ctx, fasthttp.StatusOK, b)
	return nil
}

// eventJSON is one timeline entry as served.
type eventJSON struct {
	profile.TimelineEvent
	Timestamp time.Time `json:"timestamp"`
}

// cursor marks the last event of a page: the next page starts after it in
// the timeline order (newest first by time, then messageId descending),
// so a page boundary stays put while new events arrive.
type cursor struct {
	time int64
	id   string
}

func (c cursor) String() string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(c.time, 10) + ":" + c.id))
}

func parseCursor(s string) (cursor, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return cursor{}, err
	}
	ts, id, ok := strings.Cut(string(b), ":")
	if !ok {
		return cursor{}, errors.New("no separator")
	}
	t, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return cursor{}, err
	}
	return cursor{time: t, id: id}, nil
}

// before reports whether c comes before ev in the timeline order.
func (c cursor) before(ev profile.TimelineEvent) bool {
	if ev.Time != c.time {
		return ev.Time < c.time
	}
	return ev.MessageID < c.id
}

// pageEvents returns up to limit events (newest first) after the cursor,
// and the cursor of the next page (nil at the end).
func pageEvents(evs []profile.TimelineEvent, after *cursor, limit int) ([]eventJSON, *string) {
	data := make([]eventJSON, 0, min(limit, len(evs)))
	i := 0
	if after != nil {
		for i < len(evs) && !after.before(evs[i]) {
			i++
		}
	}
	for ; i < len(evs) && len(data) < limit; i++ {
		data = append(data, eventJSON{TimelineEvent: evs[i], Timestamp: time.UnixMilli(evs[i].Time).UTC()})
	}
	if i >= len(evs) || len(data) == 0 {
		return data, nil
	}
	last := data[len(data)-1]
	next := cursor{time: last.Time, id: last.MessageID}.String()
	return data, &next
}

// wantsMsgpack reports whether the Accept header asks for msgpack.
func wantsMsgpack(ctx *fasthttp.RequestCtx) bool {
	a := ctx.Request.Header.Peek(fasthttp.HeaderAccept)
	return len(a) > 0 && (bytes.Contains(a, []byte("application/msgpack")) || bytes.Contains(a, []byte("application/x-msgpack")))
}

// writeMsgpack re-encodes a JSON answer as msgpack (numbers as integers
// where they are integral). Only clients that ask pay for it.
func (s *Server) writeMsgpack(ctx *fasthttp.RequestCtx, js []byte) error {
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return fmt.Errorf("msgpack: decode view: %w", err)
	}
	b, err := codec.MarshalValue(profile.JSONValue(v))
	if err != nil {
		return fmt.Errorf("msgpack: %w", err)
	}
	ctx.SetStatusCode(fasthttp.StatusOK)
	ctx.SetContentType("application/msgpack")
	ctx.SetBody(b)
	return nil
}

// profileOf reads the profile ref names (through the identity index for
// an identifier); errors wrap the store's (ErrNotFound…) under "lookup".
func (s *Server) profileOf(ref profileRef) (*profile.Profile, error) {
	id := ref.id
	if !ref.byID {
		var err error
		if id, err = s.st.ResolveIdentifier(ref.ident); err != nil {
			return nil, fmt.Errorf("lookup: %w", err)
		}
	}
	p, err := s.st.Profile(id)
	if err != nil {
		return nil, fmt.Errorf("lookup: %w", err)
	}
	return p, nil
}
