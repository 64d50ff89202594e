package store

import (
	"context"
	"testing"
	"time"

	"ucv/profile"
)

// A new data file gets Options.PageSize; a file keeps the page size it
// was created with when opened with another, until a compaction
// rewrites it with the option's; its data survives both; an invalid
// size is refused at Open.
func TestPageSize(t *testing.T) {
	if got := DefaultOptions("x").PageSize; got != 16384 {
		t.Fatalf("default page size %d, want 16384 (decision 0104)", got)
	}
	s := open(t, func(o *Options) { o.PageSize = 4096; o.CompactDelay = time.Hour })
	path := s.opts.Path
	ingest(t, s, `{"type":"identify","userId":"u1","messageId":"p1","traits":{"email":"a@example.com"}}`)
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := walkFile(t, path, nil).pageSize; got != 4096 {
		t.Fatalf("created with 4096: the file's page size is %d", got)
	}

	o := s.opts
	o.PageSize = 16384
	s2, err := Open(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s2.Close(context.Background()) })
	ingest(t, s2, `{"type":"track","userId":"u1","messageId":"p2","event":"Viewed"}`)
	if got := walkFile(t, path, nil).pageSize; got != 4096 {
		t.Fatalf("reopened with 16384: the file's page size is %d, want its own 4096", got)
	}
	if err := s2.Compact(); err != nil {
		t.Fatal(err)
	}
	if got := walkFile(t, path, nil).pageSize; got != 16384 {
		t.Fatalf("compacted with 16384: the file's page size is %d", got)
	}
	ingest(t, s2, `{"type":"track","userId":"u1","messageId":"p3","event":"Viewed"}`)
	_, m := lookup(t, s2, profile.Email, "a@example.com")
	if got := m["computed"].(map[string]any)["event_counts"].(map[string]any)["Viewed"]; got != 2.0 {
		t.Errorf("after the compaction the profile counts %v Viewed events, want 2", got)
	}
	if err := s2.Check(); err != nil {
		t.Fatal(err)
	}

	for _, n := range []int{1024, 5000, 131072, -1} {
		o := DefaultOptions(t.TempDir() + "/edge.db")
		o.PageSize = n
		if s, err := Open(o); err == nil {
			s.Close(context.Background())
			t.Errorf("Open with page size %d succeeded", n)
		}
	}
}
