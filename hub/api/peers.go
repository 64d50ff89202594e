package api

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"strings"
	"sync"
	"time"
)

// peers maps hub node IDs to their HTTP base URLs. A node learns them
// from joins and by asking the peers it knows (ExchangePeers); Raft's
// configuration holds only Raft addresses.
type peers struct {
	mu sync.RWMutex
	m  map[string]string
}

func newPeers(self, url string) *peers {
	p := &peers{m: map[string]string{}}
	if url != "" {
		p.m[self] = url
	}
	return p
}

func (p *peers) get(id string) (string, bool) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	u, ok := p.m[id]
	return u, ok
}

func (p *peers) set(id, url string) {
	if id == "" || url == "" {
		return
	}
	p.mu.Lock()
	p.m[id] = url
	p.mu.Unlock()
}

func (p *peers) del(id string) {
	p.mu.Lock()
	delete(p.m, id)
	p.mu.Unlock()
}

func (p *peers) all() map[string]string {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return maps.Clone(p.m)
}

// AddPeer records the HTTP URL of hub node id (from configuration).
func (s *Server) AddPeer(id, url string) { s.peers.set(id, url) }

// Headers of a peer-map request naming the asking node, so the exchange
// spreads URLs both ways: a node that joined through the leader is known
// to the followers it asks even if the leader dies before they ask it.
const (
	peerIDHeader  = "X-Hub-Node"
	peerURLHeader = "X-Hub-URL"
)

func (s *Server) internalPeers(w http.ResponseWriter, r *http.Request) error {
	id, u := r.Header.Get(peerIDHeader), r.Header.Get(peerURLHeader)
	if id != "" && id != s.cfg.NodeID && (strings.HasPrefix(u, "http://") || strings.HasPrefix(u, "https://")) {
		s.peers.set(id, u)
	}
	writeJSON(w, http.StatusOK, s.peers.all())
	return nil
}

// ExchangePeers asks every known peer for its peer map and merges the
// answers, so every node learns every other's URL (and so the leader's,
// for forwarding). cmd calls it periodically; it blocks for at most the
// client timeout per peer and returns the first error.
func (s *Server) ExchangePeers(ctx context.Context) error {
	var first error
	for id, url := range s.peers.all() {
		if id == s.cfg.NodeID {
			continue
		}
		m, err := s.fetchPeers(ctx, url)
		if err != nil {
			if first == nil {
				first = fmt.Errorf("api: peers of %s: %w", id, err)
			}
			continue
		}
		for pid, purl := range m {
			if pid != s.cfg.NodeID {
				s.peers.set(pid, purl)
			}
		}
	}
	return first
}

func (s *Server) fetchPeers(ctx context.Context, url string) (map[string]string, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+"/v1/internal/peers", nil)
	if err != nil {
		return nil, err
	}
	s.auth(req, s.cfg.SyncToken)
	if s.cfg.HTTPURL != "" {
		req.Header.Set(peerIDHeader, s.cfg.NodeID)
		req.Header.Set(peerURLHeader, s.cfg.HTTPURL)
	}
	resp, err := s.cfg.Client.Do(req)
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
