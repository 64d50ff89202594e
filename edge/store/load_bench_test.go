package store

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"ucv/profile"
)

// BenchmarkIngestNewProfiles measures the store alone (no HTTP, no JSON
// parsing) minting profiles of ~1 KiB of traits, 250 per request.
func BenchmarkIngestNewProfiles(b *testing.B) {
	s := open(b)
	var tr strings.Builder
	tr.WriteString(`{"email":"user%d@example.com","first_name":"Name","plan":"gold"`)
	for k := range 16 {
		fmt.Fprintf(&tr, `,"attr_%02d":"value-%d-lorem-ipsum-dolor-sit-amet-consectetur"`, k, k)
	}
	tr.WriteString("}")
	mk := func(i int) Event {
		body := fmt.Sprintf(`{"type":"identify","userId":"u%d","messageId":"m%d","traits":`+tr.String()+`}`, i, i, i)
		m, err := profile.ParseMessage([]byte(body), "", t0, profile.ParseOptions{Normalize: profile.DefaultNormalizeOptions()})
		if err != nil {
			b.Fatal(err)
		}
		return Event{Msg: m}
	}
	const per = 250
	b.ResetTimer()
	for i := 0; i < b.N; i += per {
		b.StopTimer()
		evs := make([]Event, 0, per)
		for k := i; k < min(i+per, b.N); k++ {
			evs = append(evs, mk(k))
		}
		b.StartTimer()
		if _, err := s.Ingest(context.Background(), evs); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}
