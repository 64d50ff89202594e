package seal

import (
	"crypto/rand"
	"fmt"
	"io"
	"path/filepath"
	"testing"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
)

// BenchmarkStoreLogs measures the log store's cost on ingest: StoreLogs
// of batches as raft writes them (one call per batch of entries, up to
// MaxAppendEntries 64), of entries the size of small and large sync
// batches, on a real raft.db — with fsync (as the hub runs) and without
// (the CPU cost of sealing alone shows).
func BenchmarkStoreLogs(b *testing.B) {
	for _, sync := range []bool{true, false} {
		for _, size := range []int{512, 8 << 10} {
			for _, batch := range []int{1, 64} {
				for _, sealed := range []bool{false, true} {
					name := fmt.Sprintf("fsync=%v/entry=%dB/batch=%d/sealed=%v", sync, size, batch, sealed)
					b.Run(name, func(b *testing.B) { benchStoreLogs(b, sync, size, batch, sealed) })
				}
			}
		}
	}
}

func benchStoreLogs(b *testing.B, sync bool, size, batch int, sealed bool) {
	dir := b.TempDir()
	bolt, err := raftboltdb.New(raftboltdb.Options{Path: filepath.Join(dir, "raft.db"), NoSync: !sync})
	if err != nil {
		b.Fatal(err)
	}
	defer bolt.Close()
	var store raft.LogStore = bolt
	if sealed {
		k, err := Open(dir, [][]byte{newKEK(b)})
		if err != nil {
			b.Fatal(err)
		}
		if store, err = NewLogStore(bolt, k); err != nil {
			b.Fatal(err)
		}
	}
	data := make([]byte, size)
	rand.Read(data)
	logs := make([]*raft.Log, batch)
	var index uint64
	b.SetBytes(int64(size * batch))
	b.ReportAllocs()
	for b.Loop() {
		for i := range logs {
			index++
			logs[i] = &raft.Log{Index: index, Term: 1, Type: raft.LogCommand, Data: data}
		}
		if err := store.StoreLogs(logs); err != nil {
			b.Fatal(err)
		}
		if index > 20000 { // keep the file small: compact as raft would
			if err := store.DeleteRange(1, index-1000); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// BenchmarkGetLog measures reading an entry back (followers' catch-up,
// the leader's replication of entries no longer in memory).
func BenchmarkGetLog(b *testing.B) {
	for _, sealed := range []bool{false, true} {
		b.Run(fmt.Sprintf("entry=8192B/sealed=%v", sealed), func(b *testing.B) {
			dir := b.TempDir()
			bolt, err := raftboltdb.New(raftboltdb.Options{Path: filepath.Join(dir, "raft.db"), NoSync: true})
			if err != nil {
				b.Fatal(err)
			}
			defer bolt.Close()
			var store raft.LogStore = bolt
			if sealed {
				k, _ := Open(dir, [][]byte{newKEK(b)})
				store, _ = NewLogStore(bolt, k)
			}
			data := make([]byte, 8<<10)
			rand.Read(data)
			var logs []*raft.Log
			for i := range 1000 {
				logs = append(logs, &raft.Log{Index: uint64(i + 1), Term: 1, Data: data})
			}
			store.StoreLogs(logs)
			b.SetBytes(8 << 10)
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				var l raft.Log
				if err := store.GetLog(uint64(i%1000+1), &l); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}

// BenchmarkSnapshot measures writing and reading a 16 MiB snapshot
// through the sealed store against the plain file store.
func BenchmarkSnapshot(b *testing.B) {
	payload := make([]byte, 16<<20)
	rand.Read(payload)
	for _, sealed := range []bool{false, true} {
		b.Run(fmt.Sprintf("16MiB/sealed=%v", sealed), func(b *testing.B) {
			dir := b.TempDir()
			fss, err := raft.NewFileSnapshotStore(dir, 2, io.Discard)
			if err != nil {
				b.Fatal(err)
			}
			var store raft.SnapshotStore = fss
			if sealed {
				k, _ := Open(dir, [][]byte{newKEK(b)})
				store = NewSnapshotStore(fss, k, FileRemover(dir))
			}
			b.SetBytes(int64(len(payload)))
			for b.Loop() {
				sink, err := store.Create(raft.SnapshotVersionMax, 10, 1, raft.Configuration{}, 1, addrEncoder{})
				if err != nil {
					b.Fatal(err)
				}
				sink.Write(payload)
				if err := sink.Close(); err != nil {
					b.Fatal(err)
				}
				_, rc, err := store.Open(sink.ID())
				if err != nil {
					b.Fatal(err)
				}
				io.Copy(io.Discard, rc)
				rc.Close()
			}
		})
	}
}

// BenchmarkSealEntry is the CPU cost of sealing one entry alone.
func BenchmarkSealEntry(b *testing.B) {
	for _, size := range []int{512, 8 << 10} {
		b.Run(fmt.Sprintf("entry=%dB", size), func(b *testing.B) {
			k, err := Open(b.TempDir(), [][]byte{newKEK(b)})
			if err != nil {
				b.Fatal(err)
			}
			s := &LogStore{inner: raft.NewInmemStore(), k: k}
			data := make([]byte, size)
			rand.Read(data)
			b.SetBytes(int64(size))
			b.ReportAllocs()
			var i uint64
			for b.Loop() {
				i++
				if _, err := s.sealEntry(&raft.Log{Index: i, Term: 1, Data: data}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
