package hub_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"os"
	"path/filepath"
	"testing"
	"time"

	"ucv/hub"
	"ucv/hub/hubtest"
	"ucv/hub/seal"
	"ucv/profile"
	"ucv/replication"
)

func sealedNode(t *testing.T, dir, kekFile string) *hub.Server {
	t.Helper()
	cfg := hub.DefaultConfig()
	cfg.NodeID, cfg.DataDir, cfg.RaftAddr, cfg.Bootstrap, cfg.KEKFile = "hub-1", dir, "127.0.0.1:0", true, kekFile
	cfg.Raft = hubtest.RaftConfig()
	s, err := hub.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "leader", s.IsLeader)
	return s
}

func grepFiles(t *testing.T, dir string, markers ...string) []string {
	t.Helper()
	var found []string
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		for _, m := range markers {
			if err == nil && bytes.Contains(b, []byte(m)) {
				found = append(found, path+": "+m)
			}
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return found
}

// TestHubFilesSealed: a hub node on disk seals its Raft log and
// snapshots (the person's e-mail and trait value, which the sync command
// carries in clear, are in no file), Shred runs on the real FSM, and the
// node restarts from its shredded files with its state; the KEK rotates
// by putting a new key first.
func TestHubFilesSealed(t *testing.T) {
	const email, trait = "ann@example.com", "Zuzanna-Quixotic-Trait"
	dir := t.TempDir()
	s := sealedNode(t, dir, "")
	edge := hubtest.NewEdge("e", 1)
	batch := &hub.SyncBatch{Edge: "e", Entries: []replication.Entry{
		edge.Delta(hubtest.Event{Profile: "p-ann", Kind: profile.Identify, IDs: []profile.Identifier{hubtest.Email(email)},
			Traits: map[string]any{"nickname": trait}}),
	}}
	cmd, err := hub.MarshalSync(batch)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(cmd, []byte(email)) || !bytes.Contains(cmd, []byte(trait)) {
		t.Fatal("control: the sync command should carry the e-mail and trait in clear (else the grep below proves nothing)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := s.Apply(ctx, cmd); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.FSM().ProfileByIdentifier("email:" + email); err != nil {
		t.Fatal(err)
	}
	if err := s.Shred(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Shred(ctx); err != nil { // twice: nothing new since
		t.Fatal(err)
	}
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if found := grepFiles(t, dir, email, trait); len(found) > 0 {
		t.Fatalf("found in the hub's files: %v", found)
	}
	kek := filepath.Join(dir, hub.KEKFileName)
	if info, err := os.Stat(kek); err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("generated kek file: %v %v", info, err)
	}

	// KEK rotation: a new key first, the generated one after it.
	old, err := os.ReadFile(kek)
	if err != nil {
		t.Fatal(err)
	}
	nk := make([]byte, seal.KEKSize)
	rand.Read(nk)
	external := filepath.Join(t.TempDir(), "kek")
	os.WriteFile(external, append([]byte(base64.StdEncoding.EncodeToString(nk)+"\n"), old...), 0o600)
	s = sealedNode(t, dir, external)
	if err := s.Barrier(ctx); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.FSM().ProfileByIdentifier("email:" + email); err != nil {
		t.Fatalf("after restart: %v", err)
	}
	s.Close(ctx)
	// Rewrapped: the new key alone opens it now.
	os.WriteFile(external, []byte(base64.StdEncoding.EncodeToString(nk)+"\n"), 0o600)
	s = sealedNode(t, dir, external)
	defer s.Close(context.Background())
	if err := s.Barrier(ctx); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.FSM().ProfileByIdentifier("email:" + email); err != nil {
		t.Fatalf("after KEK rotation: %v", err)
	}
}
