package edge_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"ucv/crdt"
	"ucv/edge"
	"ucv/edge/gossip"
	"ucv/replication"
)

// A till that was offline when its peer erased a person returns by
// gossip, before any hub reaches it: its peer's erased state erases its
// copy, its old state does not bring the person back at the peer, and
// after compaction neither data file holds a byte of them.
func TestGossipPeerReturnsErased(t *testing.T) {
	const email, phone, name = "ottilie.vane@example.com", "+14155550142", "Ottilie Vanderquist"
	key := []byte("0123456789abcdef0123456789abcdef")
	gc := func(join ...string) *gossip.Config {
		g := gossip.DefaultConfig()
		g.Memberlist.BindAddr, g.Memberlist.BindPort, g.Memberlist.AdvertisePort = "127.0.0.1", 0, 0
		g.SecretKey, g.Join = key, join
		return &g
	}
	ca := config(t.TempDir(), "till-a")
	ca.Gossip = gc()
	a := start(t, ca)
	cb := config(t.TempDir(), "till-b")
	cb.Gossip = gc(a.Gossip().Addr())
	b := start(t, cb)
	for i, body := range []string{
		`{"userId":"ov1","messageId":"ov-1","traits":{"email":"` + email + `","phone":"` + phone + `","name":"` + name + `"}}`,
		`{"userId":"ov1","messageId":"ov-2","traits":{"name":"` + name + `","visits":2}}`,
		`{"userId":"ov1","messageId":"ov-3","traits":{"name":"` + name + `","visits":3}}`,
	} {
		if code, resp := do(t, "POST", a.URL()+"/v1/identify", body); code != 200 {
			t.Fatalf("identify %d = %d %s", i, code, resp)
		}
	}
	waitBody(t, b.URL()+"/v1/profiles/email:"+email, `"visits":3`)
	_, body := do(t, "GET", a.URL()+"/v1/profiles/user_id:ov1", "")
	var p struct{ ID string }
	if err := json.Unmarshal([]byte(body), &p); err != nil || p.ID == "" {
		t.Fatalf("profile: %v %s", err, body)
	}
	if err := b.Close(context.Background()); err != nil {
		t.Fatal(err)
	}

	salt := bytes.Repeat([]byte{5}, replication.SaltBytes)
	if err := a.Store().SetPrivacySalt(salt); err != nil {
		t.Fatal(err)
	}
	if err := a.Store().Erase(context.Background(), replication.Directive{ID: "r1", Type: replication.DirectiveErase, Index: 1,
		At: time.Now().UnixMilli(), ProfileIDs: []string{p.ID}, Keys: []string{crdt.TombstoneKey(salt, "email:"+email)}}); err != nil {
		t.Fatal(err)
	}

	cb.Gossip = gc(a.Gossip().Addr())
	b = start(t, cb) // returns with its old copy
	refs := []string{"email:" + email, "phone:" + phone, "user_id:ov1", p.ID}
	holds := func(dir string) bool {
		f, err := os.ReadFile(filepath.Join(dir, edge.DataFile))
		if err != nil {
			t.Fatal(err)
		}
		return bytes.Contains(f, []byte(email)) || bytes.Contains(f, []byte(phone)) || bytes.Contains(f, []byte(name))
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		gone := true
		for _, n := range []*edge.Node{a, b} {
			for _, ref := range refs {
				if code, _ := do(t, "GET", n.URL()+"/v1/profiles/"+ref, ""); code != 404 {
					gone = false
				}
			}
		}
		if gone && !holds(ca.DataDir) && !holds(cb.DataDir) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 60 s: every lookup 404 %v; a's file holds the person %v, b's %v", gone, holds(ca.DataDir), holds(cb.DataDir))
		}
		time.Sleep(50 * time.Millisecond)
	}
}
