package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"strings"
	"sync"
	"time"

	"ucv/hub"
)

// Peers is this hub node's link to the other nodes: the HTTP URL of
// each (Raft's configuration holds only Raft addresses), learnt from
// joins and the peer exchange, and the client side of every call a node
// makes to the others — a command forwarded to the leader (Forward), its
// own join (Join), the URL exchange (Exchange) and an admin request
// relayed to the leader.
//
// Build Peers first, give Peers.Forward to hub.Config.Forward, start the
// hub.Server, then pass both to New: each half exists before the other
// needs it. Safe for concurrent use.
type Peers struct {
	cfg Config
	log *slog.Logger

	mu   sync.RWMutex
	urls map[string]string // node ID → HTTP base URL
}

// NewPeers validates cfg and returns Peers that know only this node's
// own URL (cfg.HTTPURL, when set). New must get the same cfg.
func NewPeers(cfg Config) (*Peers, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	p := &Peers{cfg: cfg, log: cfg.Logger, urls: map[string]string{}}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	if cfg.HTTPURL != "" {
		p.urls[cfg.NodeID] = cfg.HTTPURL
	}
	return p, nil
}

// Add records the HTTP URL of hub node id; an empty id or url is
// ignored.
func (p *Peers) Add(id, url string) {
	if id == "" || url == "" {
		return
	}
	p.mu.Lock()
	p.urls[id] = url
	p.mu.Unlock()
}

// URL returns the HTTP URL of hub node id, if known.
func (p *Peers) URL(id string) (string, bool) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	u, ok := p.urls[id]
	return u, ok
}

func (p *Peers) remove(id string) {
	p.mu.Lock()
	delete(p.urls, id)
	p.mu.Unlock()
}

// All returns a copy of the map of node IDs to HTTP URLs.
func (p *Peers) All() map[string]string {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return maps.Clone(p.urls)
}

// auth sets req's credential: the node token when there is one, else
// shortcut (the shortcut of the role the call needs; "" for none).
func (p *Peers) auth(req *http.Request, shortcut string) {
	tok := p.cfg.NodeToken
	if tok == "" {
		tok = shortcut
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
}

func (s *Server) internalPeers(w http.ResponseWriter, r *http.Request) error {
	id, u := r.Header.Get(peerIDHeader), r.Header.Get(peerURLHeader)
	if id != "" && id != s.cfg.NodeID && (strings.HasPrefix(u, "http://") || strings.HasPrefix(u, "https://")) {
		s.peers.Add(id, u)
	}
	writeJSON(w, http.StatusOK, s.peers.All())
	return nil
}

// Headers of a peer-map request naming the asking node, so the exchange
// spreads URLs both ways: a node that joined through the leader is known
// to the followers it asks even if the leader dies before they ask it.
const (
	peerIDHeader  = "X-Hub-Node"
	peerURLHeader = "X-Hub-URL"
)

// Exchange asks every known peer for its peer map and merges the
// answers, so every node learns every other's URL (and so the leader's,
// for forwarding). cmd calls it periodically; it blocks for at most 5 s
// per peer and returns the first error.
func (p *Peers) Exchange(ctx context.Context) error {
	var first error
	for id, url := range p.All() {
		if id == p.cfg.NodeID {
			continue
		}
		m, err := p.fetch(ctx, url)
		if err != nil {
			if first == nil {
				first = fmt.Errorf("api: peers of %s: %w", id, err)
			}
			continue
		}
		for pid, purl := range m {
			if pid != p.cfg.NodeID {
				p.Add(pid, purl)
			}
		}
	}
	return first
}

func (p *Peers) fetch(ctx context.Context, url string) (map[string]string, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+"/v1/internal/peers", nil)
	if err != nil {
		return nil, err
	}
	p.auth(req, p.cfg.SyncToken)
	if p.cfg.HTTPURL != "" {
		req.Header.Set(peerIDHeader, p.cfg.NodeID)
		req.Header.Set(peerURLHeader, p.cfg.HTTPURL)
	}
	resp, err := p.cfg.Client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("status %d", resp.StatusCode)
	}
	var m map[string]string
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		return nil, err
	}
	return m, nil
}

// Forward is the hub.Config.Forward hook: it posts cmd to the leader's
// /v1/internal/apply with the node token (Config.NodeToken), or without
// one the shortcut of the command's role. It needs the
// leader's HTTP URL, learnt through join and the peer exchange; an
// unknown URL or an unreachable leader is ErrNoLeader. The leader's
// domain error comes back in Result.Err, rebuilt so errors.Is holds.
func (p *Peers) Forward(ctx context.Context, leaderID string, cmd []byte) (*hub.Result, error) {
	url, ok := p.URL(leaderID)
	if !ok {
		return nil, fmt.Errorf("%w: HTTP address of leader %s unknown", ErrNoLeader, leaderID)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url+"/v1/internal/apply", bytes.NewReader(cmd))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/octet-stream")
	tok := p.cfg.AdminToken
	if isSyncBatch(cmd) {
		tok = p.cfg.SyncToken
	}
	p.auth(req, tok)
	resp, err := p.cfg.Client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNoLeader, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var eb errorBody
		_ = json.NewDecoder(resp.Body).Decode(&eb)
		if resp.StatusCode == http.StatusServiceUnavailable {
			return nil, fmt.Errorf("%w: leader answered: %s", ErrNoLeader, eb.Error.Message)
		}
		return nil, fmt.Errorf("api: leader answered %d: %w", resp.StatusCode, errorOf(eb.Error.Code, eb.Error.Message))
	}
	var out result
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return nil, fmt.Errorf("api: decode leader's result: %w", err)
	}
	return &hub.Result{Index: out.Index, Err: errorOf(out.Code, out.Message), Applied: out.Applied, Skipped: out.Skipped,
		Duplicate: out.Duplicate, LastSeq: out.LastSeq, Clusters: out.Clusters, Dropped: out.Dropped, Replayed: out.Replayed}, nil
}

// relay posts body to url (the leader) with the caller's own credential
// (the leader checks the caller's role itself) and copies the answer
// back to w.
func (p *Peers) relay(w http.ResponseWriter, r *http.Request, url string, body []byte) error {
	req, err := http.NewRequestWithContext(r.Context(), http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("api: relay to the leader: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(forwardedHeader, p.cfg.NodeID)
	if a := r.Header.Get("Authorization"); a != "" {
		req.Header.Set("Authorization", a)
	}
	resp, err := p.cfg.Client.Do(req)
	if err != nil {
		return fmt.Errorf("%w: relay to the leader: %w", ErrNoLeader, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxJSONBytes))
	if err != nil {
		return fmt.Errorf("%w: relay to the leader: %w", ErrNoLeader, err)
	}
	for _, h := range []string{"Content-Type", LeaderURLHeader, "Retry-After"} {
		if v := resp.Header.Get(h); v != "" {
			w.Header().Set(h, v)
		}
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = w.Write(b)
	return nil
}

// Join asks the hub node at via (an http(s) base URL) to add this node,
// reachable by Raft at raftAddr, as a voter, and records the peer map
// the answer carries. A follower answers 503 naming the leader's URL
// (LeaderURLHeader): the next attempt goes there at once (at most three
// such hops in a row, so two nodes with stale views cannot bounce it),
// and back to via when that fails too. Failures are retried with
// backoff from 200 ms to 5 s. Join blocks until this node is a member
// (nil) or ctx ends (ctx's error); it is what `ucv hub --join` runs.
func (p *Peers) Join(ctx context.Context, via, raftAddr string) error {
	if !strings.HasPrefix(via, "http://") && !strings.HasPrefix(via, "https://") {
		return fmt.Errorf("api: join: %q is not an http(s) URL", via)
	}
	via = strings.TrimRight(via, "/")
	self := p.cfg.HTTPURL
	body, err := json.Marshal(JoinRequest{ID: p.cfg.NodeID, RaftAddr: raftAddr, HTTPURL: self})
	if err != nil {
		return fmt.Errorf("api: join: %w", err)
	}
	target, follows := via, 0
	for wait := 200 * time.Millisecond; ; wait = min(wait*2, 5*time.Second) {
		leaderURL, err := p.joinOnce(ctx, target, body)
		if err == nil {
			return nil
		}
		// A follower names the leader: follow it at once.
		if leaderURL != "" && leaderURL != self && leaderURL != target && follows < 3 {
			p.log.Info("join: following the leader", "leader_url", leaderURL)
			target, follows = leaderURL, follows+1
			continue
		}
		p.log.Warn("join failed; retrying", "via", target, "err", err, "retry_in", wait.String())
		// Otherwise (no leader named, or the named one failed too) the
		// next attempt goes back to via.
		target, follows = via, 0
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("api: join through %s: %w", via, ctx.Err())
		case <-t.C:
		}
	}
}

// joinOnce posts one join request to target. On a 503 that names the
// leader it returns the leader's URL with the error.
func (p *Peers) joinOnce(ctx context.Context, target string, body []byte) (leaderURL string, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target+"/v1/admin/join", bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json")
	p.auth(req, p.cfg.AdminToken)
	resp, err := p.cfg.Client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var eb errorBody
		_ = json.NewDecoder(io.LimitReader(resp.Body, maxJSONBytes)).Decode(&eb)
		err := fmt.Errorf("status %d: %s", resp.StatusCode, eb.Error.Message)
		if resp.StatusCode == http.StatusServiceUnavailable {
			return resp.Header.Get(LeaderURLHeader), err
		}
		return "", err
	}
	var jr JoinResponse
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxJSONBytes)).Decode(&jr); err != nil {
		return "", fmt.Errorf("decode answer: %w", err)
	}
	for id, u := range jr.Peers {
		p.Add(id, u)
	}
	p.log.Info("joined hub", "via", target, "leader", jr.Leader, "peers", len(jr.Peers))
	return "", nil
}
