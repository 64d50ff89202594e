package api

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/valyala/fasthttp"

	"ucv/edge/store"
	"ucv/profile"
)

var successBody = []byte(`{"success":true}`)

// ingest handles one Segment ingest request: CORS, auth, size limits,
// parse and validate every message, then one store.Ingest of the valid
// ones. kind is the type the endpoint implies ("" for batch).
//
// A batch is answered like Segment answers it: invalid items are listed
// in "rejected" of a 200 and the valid ones are stored; only a body that
// is not a batch at all (not JSON, over the size limit, no batch array)
// is refused as a whole. Either way the 200 is sent only once the stored
// events are durable.
func (s *Server) ingest(ctx *fasthttp.RequestCtx, kind profile.Kind, batch bool) error {
	if done, err := s.cors(ctx, allowIngest); done || err != nil {
		return err
	}
	if !ctx.IsPost() {
		return methodNotAllowed(allowIngest)
	}
	headerKey, hasHeaderKey := writeKeyFromHeaders(&ctx.Request.Header)
	if hasHeaderKey && s.sentReadKey(&ctx.Request.Header) {
		return errReadKeyWrites
	}
	source, known := s.cfg.WriteKeys[headerKey]
	if hasHeaderKey && !known && !s.acceptsUnknownKeys() {
		return errorf(ErrUnauthorized, "unknown write key")
	}
	if hasHeaderKey {
		if err := s.limitWrite(headerKey, source); err != nil {
			return err
		}
	}

	limit, tooLarge := s.cfg.MaxEventBytes, s.eventTooLarge
	if batch {
		limit, tooLarge = s.cfg.MaxBatchBytes, s.batchTooLarge
	}
	if ctx.Request.Header.ContentLength() > limit {
		return tooLarge
	}
	body := ctx.PostBody()
	// Content codings are case-insensitive (RFC 9110 §8.4.1); x-gzip is
	// gzip's old name, still sent by some clients.
	switch enc := strings.ToLower(strings.TrimSpace(string(ctx.Request.Header.ContentEncoding()))); enc {
	case "", "identity":
	case "gzip", "x-gzip":
		var err error
		if body, err = ctx.Request.BodyGunzipWithLimit(limit); err != nil {
			if errors.Is(err, fasthttp.ErrBodyTooLarge) {
				return tooLarge
			}
			return errorf(ErrBadRequest, "body: not valid gzip")
		}
	default:
		return errorf(ErrBadRequest, "Content-Encoding: only gzip is supported")
	}
	if len(body) > limit {
		return tooLarge
	}

	if !hasHeaderKey {
		// analytics.js sends text/plain bodies without auth headers (to
		// avoid a CORS preflight) and puts the key in the body.
		bodyKey, ok := writeKeyFromBody(body)
		switch {
		case ok:
			if s.isReadKey(bodyKey) {
				return errReadKeyWrites
			}
			if source, known = s.cfg.WriteKeys[bodyKey]; !known && !s.acceptsUnknownKeys() {
				return errorf(ErrUnauthorized, "unknown write key")
			}
			if err := s.limitWrite(bodyKey, source); err != nil {
				return err
			}
		case !s.cfg.DevMode:
			return errorf(ErrUnauthorized, "a write key is required (HTTP Basic username, Bearer token or X-Write-Key)")
		}
	}

	now := s.cfg.Now()
	opts := profile.ParseOptions{Normalize: s.cfg.Normalize, MaxEventAge: s.cfg.MaxEventAge}
	var msgs []*profile.Message
	var rejected []profile.ItemError
	var at []int // msgs[i]'s position in the batch
	if batch {
		b, err := profile.ParseBatch(body, now, opts)
		if err != nil {
			return fmt.Errorf("parse batch: %w", err)
		}
		msgs, rejected, at = b.Messages, b.Rejected, b.Index
	} else {
		m, err := profile.ParseMessage(body, kind, now, opts)
		if err != nil {
			s.m.rejected(err)
			return fmt.Errorf("parse %s: %w", kind, err)
		}
		msgs = []*profile.Message{m}
	}
	if len(msgs) > 0 {
		evs := make([]store.Event, len(msgs))
		for i, m := range msgs {
			evs[i] = store.Event{Msg: m, Source: source}
			if s.cfg.Forward {
				b, err := m.Upstream()
				if err != nil {
					return fmt.Errorf("forward: %w", err)
				}
				evs[i].Forward = b
			}
		}
		// Not ctx: fasthttp recycles the RequestCtx, and the write must
		// not be cut short by a client hanging up once it is queued.
		if err := s.st.AppendWithin(s.cfg.IngestTimeout, evs); err != nil {
			return fmt.Errorf("ingest: %w", err)
		}
		s.m.ingested(msgs)
	}
	warnings := s.warnings(msgs, at)
	if len(rejected) == 0 && len(warnings) == 0 {
		s.writeJSONBytes(ctx, fasthttp.StatusOK, successBody)
		return nil
	}
	out := batchAnswer{Success: true, Warnings: warnings}
	if batch {
		out.Rejected = make([]rejectedItem, len(rejected))
	}
	for i, r := range rejected {
		s.m.rejected(r.Err)
		_, code, msg := errorStatus(r.Err)
		out.Rejected[i] = rejectedItem{Index: r.Index, Error: errorDetail{Code: code, Message: msg}}
	}
	b, err := json.Marshal(out)
	if err != nil {
		return fmt.Errorf("batch answer: %w", err)
	}
	s.writeJSONBytes(ctx, fasthttp.StatusOK, b)
	return nil
}

// batchAnswer is the 200 answer to a batch with refused items, or to
// an ingest request with warnings (rejected is left out of a single
// event's answer).
type batchAnswer struct {
	Success  bool           `json:"success"`
	Rejected []rejectedItem `json:"rejected,omitempty"`
	Warnings []warning      `json:"warnings,omitempty"`
}

// warning is something about an accepted event the sender should fix:
// the event is stored, but part of it was not understood
// (docs/decisions/0120-unread-amounts.md). Index is the item's position
// in a batch (absent for a single event); the message names the field,
// never its value.
type warning struct {
	Index *int   `json:"index,omitempty"`
	Field string `json:"field"`
	Code  string `json:"code"`
	// Message is for people.
	Message string `json:"message"`
}

// codeAmountUnread is the warning of an order whose amount is not a number.
const codeAmountUnread = "amount_unread"

// warnings returns what to warn about msgs (accepted; at[i] is msgs[i]'s
// position in the batch, at is nil for a single event) and counts it.
func (s *Server) warnings(msgs []*profile.Message, at []int) []warning {
	var out []warning
	for i, m := range msgs {
		f := m.AmountUnread()
		if f == "" {
			continue
		}
		s.m.amountsUnread.With(f).Inc()
		w := warning{Field: f, Code: codeAmountUnread,
			Message: f + ": not a number; the order is counted without an amount"}
		if at != nil {
			w.Index = &at[i]
		}
		out = append(out, w)
	}
	return out
}

// rejectedItem is one refused batch item: its position in the batch
// array and why (the message names the field, never its value).
type rejectedItem struct {
	Index int         `json:"index"`
	Error errorDetail `json:"error"`
}

// sentReadKey reports whether the request's X-Write-Key or Authorization
// header carries a read key's secret.
func (s *Server) sentReadKey(h *fasthttp.RequestHeader) bool {
	if len(s.readKeys) == 0 {
		return false
	}
	if s.isReadKey(string(h.Peek("X-Write-Key"))) {
		return true
	}
	_, secret, ok := credential(h)
	return ok && s.isReadKey(secret)
}

// limitWrite takes a request from write key key's bucket (none for a key
// that is not configured); source labels it.
func (s *Server) limitWrite(key, source string) error {
	return s.take(s.writeBuckets[key], "write key (source "+quote(source)+")", "write", source)
}

// acceptsUnknownKeys: dev mode without configured keys takes any key.
func (s *Server) acceptsUnknownKeys() bool {
	return s.cfg.DevMode && len(s.cfg.WriteKeys) == 0
}

// writeKeyFromHeaders returns the write key of the X-Write-Key header,
// the HTTP Basic username (Segment's way) or a Bearer token. Auth
// schemes are case-insensitive (RFC 9110 §11.1).
func writeKeyFromHeaders(h *fasthttp.RequestHeader) (string, bool) {
	if k := h.Peek("X-Write-Key"); len(k) > 0 {
		return string(k), true
	}
	auth := h.Peek(fasthttp.HeaderAuthorization)
	if len(auth) > 7 && strings.EqualFold(string(auth[:7]), "bearer ") {
		return strings.TrimSpace(string(auth[7:])), true
	}
	if len(auth) < 6 || !strings.EqualFold(string(auth[:6]), "basic ") {
		return "", false
	}
	dec, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(auth[6:])))
	if err != nil {
		return "", true // a malformed credential is a wrong key, not no key
	}
	user, _, _ := bytes.Cut(dec, []byte(":"))
	return string(user), true
}

// writeKeyFromBody reads a top-level "writeKey" string.
func writeKeyFromBody(body []byte) (string, bool) {
	if !bytes.Contains(body, []byte(`"writeKey"`)) {
		return "", false
	}
	var env struct {
		WriteKey json.RawMessage `json:"writeKey"`
	}
	if json.Unmarshal(body, &env) != nil {
		return "", false
	}
	var k string
	if json.Unmarshal(env.WriteKey, &k) != nil || k == "" {
		return "", false
	}
	return k, true
}

// corsHeaders are the request headers browsers may send cross-origin.
const corsHeaders = "Authorization, Content-Type, Content-Encoding, X-Write-Key"

// cors applies Config.CORSOrigins to an ingest or settings request with
// the route's methods allow. A request from an origin not listed is
// ErrForbidden. A preflight (OPTIONS) is answered here (204) and done is
// true. Headers set here stay on error answers, so a browser can read
// them.
func (s *Server) cors(ctx *fasthttp.RequestCtx, allow string) (done bool, err error) {
	h := &ctx.Response.Header
	origin := ctx.Request.Header.Peek("Origin")
	switch {
	case s.corsAny:
		h.Set("Access-Control-Allow-Origin", "*")
	case len(origin) == 0: // not a cross-origin browser request
		h.Set("Vary", "Origin")
	case s.corsOrigins[strings.ToLower(string(origin))]:
		h.SetBytesV("Access-Control-Allow-Origin", origin)
		h.Set("Vary", "Origin")
	default:
		h.Set("Vary", "Origin")
		return false, errorf(ErrForbidden, "Origin: not an allowed origin (see --cors-origins)")
	}
	if !ctx.IsOptions() {
		return false, nil
	}
	h.Set("Allow", allow)
	h.Set("Access-Control-Allow-Methods", allow)
	h.Set("Access-Control-Allow-Headers", corsHeaders)
	h.Set("Access-Control-Max-Age", "86400")
	ctx.SetStatusCode(fasthttp.StatusNoContent)
	return true, nil
}

// settings answers analytics.js's settings fetch so that it sends events
// to this edge: GET /v1/projects/{writeKey}/settings.
func (s *Server) settings(ctx *fasthttp.RequestCtx, rawKey []byte) error {
	if done, err := s.cors(ctx, allowSettings); done || err != nil {
		return err
	}
	if !ctx.IsGet() && !ctx.IsHead() {
		return methodNotAllowed(allowSettings)
	}
	key, err := unescapeSegment(rawKey)
	if err != nil {
		return errorf(ErrBadRequest, "writeKey: "+err.Error())
	}
	if s.isReadKey(key) {
		return errReadKeyWrites
	}
	source, ok := s.cfg.WriteKeys[key]
	if !ok && !s.acceptsUnknownKeys() {
		return errorf(ErrUnauthorized, "unknown write key")
	}
	if err := s.limitWrite(key, source); err != nil {
		return err
	}
	// Never the request's Host header: whoever can reach the edge could
	// point analytics.js (and any cache in between) elsewhere.
	protocol, host := "http", ""
	if a := s.addr.Load(); a != nil {
		host = *a
	}
	if u := s.cfg.PublicURL; u != "" {
		protocol, host, _ = strings.Cut(u, "://")
		host = strings.TrimSuffix(host, "/")
	}
	b, err := json.Marshal(settingsFor(key, protocol, host+"/v1"))
	if err != nil {
		return fmt.Errorf("settings: %w", err)
	}
	s.writeJSONBytes(ctx, fasthttp.StatusOK, b)
	return nil
}

// settingsFor is the smallest settings document analytics.js (classic
// and analytics-next) accepts: only the Segment.io destination, pointed
// at this edge, and its own telemetry off.
func settingsFor(key, protocol, apiHost string) map[string]any {
	on := map[string]any{"__default": map[string]any{"enabled": true, "integrations": map[string]any{}}}
	return map[string]any{
		"integrations": map[string]any{
			"Segment.io": map[string]any{
				"apiKey":                key,
				"apiHost":               apiHost,
				"protocol":              protocol,
				"unbundledIntegrations": []string{},
				"addBundledMetadata":    true,
			},
		},
		"plan":                      map[string]any{"track": on, "identify": on, "group": on},
		"edgeFunction":              map[string]any{},
		"analyticsNextEnabled":      true,
		"middlewareSettings":        map[string]any{},
		"enabledMiddleware":         map[string]any{},
		"metrics":                   map[string]any{"sampleRate": 0},
		"legacyVideoPluginsEnabled": false,
		"remotePlugins":             []any{},
	}
}
