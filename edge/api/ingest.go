package api

import (
	"bytes"
	"context"
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

// ingest handles one Segment ingest request: auth, size limits, parse
// and validate every message, then one atomic store.Ingest. kind is the
// type the endpoint implies ("" for batch).
func (s *Server) ingest(ctx *fasthttp.RequestCtx, kind profile.Kind, batch bool) error {
	setCORS(ctx)
	if ctx.IsOptions() {
		ctx.SetStatusCode(fasthttp.StatusNoContent)
		return nil
	}
	if !ctx.IsPost() {
		return ErrMethod
	}
	headerKey, hasHeaderKey := writeKeyFromHeaders(&ctx.Request.Header)
	source, known := s.cfg.WriteKeys[headerKey]
	if hasHeaderKey && !known && !s.acceptsUnknownKeys() {
		return errorf(ErrUnauthorized, "unknown write key")
	}

	limit, tooLarge := s.cfg.MaxEventBytes, s.eventTooLarge
	if batch {
		limit, tooLarge = s.cfg.MaxBatchBytes, s.batchTooLarge
	}
	if ctx.Request.Header.ContentLength() > limit {
		return tooLarge
	}
	body := ctx.PostBody()
	switch enc := ctx.Request.Header.ContentEncoding(); {
	case len(enc) == 0, string(enc) == "identity":
	case string(enc) == "gzip":
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
			if source, known = s.cfg.WriteKeys[bodyKey]; !known && !s.acceptsUnknownKeys() {
				return errorf(ErrUnauthorized, "unknown write key")
			}
		case !s.cfg.DevMode:
			return errorf(ErrUnauthorized, "a write key is required (HTTP Basic username or X-Write-Key)")
		}
	}

	now := s.cfg.Now()
	opts := profile.ParseOptions{Normalize: s.cfg.Normalize}
	var msgs []*profile.Message
	if batch {
		var err error
		if msgs, err = profile.ParseBatch(body, now, opts); err != nil {
			return fmt.Errorf("parse batch: %w", err)
		}
	} else {
		m, err := profile.ParseMessage(body, kind, now, opts)
		if err != nil {
			return fmt.Errorf("parse %s: %w", kind, err)
		}
		msgs = []*profile.Message{m}
	}
	evs := make([]store.Event, len(msgs))
	for i, m := range msgs {
		evs[i] = store.Event{Msg: m, Source: source}
	}
	// Not ctx: fasthttp recycles the RequestCtx, and the write must not
	// be cut short by a client hanging up once it is queued.
	ictx, cancel := context.WithTimeout(context.Background(), s.cfg.IngestTimeout)
	res, err := s.st.Ingest(ictx, evs)
	cancel()
	if err != nil {
		return fmt.Errorf("ingest: %w", err)
	}
	s.m.ingested(msgs, res)
	s.writeJSONBytes(ctx, fasthttp.StatusOK, successBody)
	return nil
}

// acceptsUnknownKeys: dev mode without configured keys takes any key.
func (s *Server) acceptsUnknownKeys() bool {
	return s.cfg.DevMode && len(s.cfg.WriteKeys) == 0
}

// writeKeyFromHeaders returns the write key of the HTTP Basic username
// or the X-Write-Key header.
func writeKeyFromHeaders(h *fasthttp.RequestHeader) (string, bool) {
	if k := h.Peek("X-Write-Key"); len(k) > 0 {
		return string(k), true
	}
	auth := h.Peek(fasthttp.HeaderAuthorization)
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

// setCORS lets browsers (analytics.js on any origin) read the answer.
func setCORS(ctx *fasthttp.RequestCtx) {
	h := &ctx.Response.Header
	h.Set("Access-Control-Allow-Origin", "*")
	if ctx.IsOptions() {
		h.Set("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
		h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, Content-Encoding, X-Write-Key")
		h.Set("Access-Control-Max-Age", "86400")
	}
}

// settings answers analytics.js's settings fetch so that it sends events
// to this edge: GET /v1/projects/{writeKey}/settings.
func (s *Server) settings(ctx *fasthttp.RequestCtx, rawKey []byte) error {
	setCORS(ctx)
	if ctx.IsOptions() {
		ctx.SetStatusCode(fasthttp.StatusNoContent)
		return nil
	}
	if !ctx.IsGet() && !ctx.IsHead() {
		return ErrMethod
	}
	key, err := unescapeSegment(rawKey)
	if err != nil {
		return errorf(ErrBadRequest, "writeKey: "+err.Error())
	}
	if _, ok := s.cfg.WriteKeys[key]; !ok && !s.acceptsUnknownKeys() {
		return errorf(ErrUnauthorized, "unknown write key")
	}
	protocol, host := "http", string(ctx.Host())
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
