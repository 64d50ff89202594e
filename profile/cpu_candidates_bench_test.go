package profile

import (
	"fmt"
	"testing"

	"ucv/crdt"
)

// BenchmarkProfileCodecCPUNone is BenchmarkProfileCodecCPU on the
// reference profile without its candidates: the bytes of a profile
// before survivorship (0045).
func BenchmarkProfileCodecCPUNone(b *testing.B) {
	p := benchProfile(b, 1)
	p.Candidates = crdt.LWWMap{}
	benchCodecCPU(b, p)
}

// BenchmarkProfileCodecCPUSources is BenchmarkProfileCodecCPU on the
// reference profiles of two tills joined, with three more records from
// three more sources writing every trait (as BenchmarkSurvivorship's
// 4-candidates): 5 origins, 4 candidates a trait.
func BenchmarkProfileCodecCPUSources(b *testing.B) {
	multi := benchProfile(b, 1)
	multi.Merge(benchProfile(b, 2))
	keys := multi.Traits.Keys()
	for i, src := range []string{"crm", "web", "pos"} {
		r := New(fmt.Sprintf("record-%d", i))
		m := msg(b, `{"type":"identify","userId":"u-1","messageId":"x","traits":{}}`)
		m.Traits = map[string]any{}
		for _, k := range keys {
			m.Traits[k] = fmt.Sprintf("%s-%d", k, i%2)
		}
		d := r.Apply(m, nil, Source{Node: 9, Name: src}, crdt.Timestamp{Wall: t0.UnixMilli() + int64(i), Node: 9})
		d.ID = multi.ID
		multi.Merge(d)
	}
	benchCodecCPU(b, multi)
}

func benchCodecCPU(b *testing.B, p *Profile) {
	enc, _ := p.Marshal()
	b.Run("encode", func(b *testing.B) {
		b.ReportAllocs()
		c0 := processCPU(b)
		for b.Loop() {
			if _, err := p.Marshal(); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(processCPU(b)-c0)/float64(b.N), "cpu-ns/op")
	})
	b.Run("decode", func(b *testing.B) {
		b.ReportAllocs()
		c0 := processCPU(b)
		for b.Loop() {
			if _, err := Unmarshal(enc); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(processCPU(b)-c0)/float64(b.N), "cpu-ns/op")
	})
}
