package store

import (
	"context"
	"fmt"
	"testing"

	"ucv/profile"
)

// BenchmarkLookupIdentifier measures the store's read path (index get,
// redirects, view copy), serially and from parallel readers — the cost
// the compaction's file lock adds to every read shows here.
func BenchmarkLookupIdentifier(b *testing.B) {
	s := open(b, func(o *Options) { o.NoSync = true })
	var evs []Event
	for i := range 1000 {
		evs = append(evs, ev(b, fmt.Sprintf(`{"type":"identify","userId":"u%d","messageId":"m%d","traits":{"email":"u%d@example.com","plan":"pro"}}`, i, i, i)))
	}
	if _, err := s.Ingest(context.Background(), evs); err != nil {
		b.Fatal(err)
	}
	id := profile.Identifier{Type: profile.Email, Value: "u42@example.com"}
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := s.LookupIdentifier(id); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := s.LookupIdentifier(id); err != nil {
					b.Fatal(err)
				}
			}
		})
	})
}

// BenchmarkLookupFile measures a lookup memory cannot answer — the first
// of a profile after a restart, or one over a bound on the views held —
// read from the file: the view record copied out when it carries its
// JSON, rendered from the stored state when it does not (decision 0109).
func BenchmarkLookupFile(b *testing.B) {
	for _, c := range []struct {
		name string
		opt  func(*Options)
	}{{"json", withViewBodies}, {"evaluation-only", func(*Options) {}}} {
		b.Run(c.name, func(b *testing.B) {
			s := open(b, func(o *Options) { o.NoSync = true }, c.opt)
			var evs []Event
			for i := range 1000 {
				evs = append(evs, ev(b, fmt.Sprintf(`{"type":"identify","userId":"u%d","messageId":"m%d","traits":{"email":"u%d@example.com","plan":"pro"}}`, i, i, i)),
					ev(b, fmt.Sprintf(`{"type":"track","userId":"u%d","messageId":"o%d","event":"Order Completed","properties":{"total":%d.5,"currency":"EUR"}}`, i, i, i%90)))
			}
			if _, err := s.Ingest(context.Background(), evs); err != nil {
				b.Fatal(err)
			}
			settle(b, s)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.lookupIdentifierFile("email:u42@example.com"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
