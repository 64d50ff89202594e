package hub

import (
	"fmt"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"ucv/hub/identity"
)

// BenchmarkFSMApplyImport applies import batches of 5,000 generated
// records (no Raft, no HTTP): the state machine's share of an import.
//
//	go test -run '^$' -bench FSMApplyImport -benchtime 10x ./hub
func BenchmarkFSMApplyImport(b *testing.B) {
	cols := []ImportColumn{{"first", identity.FirstName}, {"last", identity.LastName}, {"dob", identity.BirthDate},
		{"street", identity.Address}, {"city", identity.City}, {"postcode", identity.Postcode}, {"email", identity.Email}}
	traits, types, err := ImportShape(cols)
	if err != nil {
		b.Fatal(err)
	}
	const per = 5000
	recs := importPeople(per * b.N)
	cmds := make([][]byte, b.N)
	for i := range cmds {
		im := &Import{Source: "crm", Traits: traits, Types: types}
		for j, r := range recs[i*per : (i+1)*per] {
			v := map[identity.Kind]string{}
			for _, f := range r.Fields {
				v[f.Kind] = f.Value
			}
			n := i*per + j
			rec, errs := ImportRecordOf("crm", fmt.Sprint(n), cols, []string{v[identity.FirstName], v[identity.LastName],
				v[identity.BirthDate], v[identity.Address], v[identity.City], v[identity.Postcode], fmt.Sprintf("c%d@example.com", n)}, "US", identity.DateAuto)
			if errs != nil {
				b.Fatal(errs)
			}
			im.Records = append(im.Records, rec)
		}
		if cmds[i], err = MarshalImport(im); err != nil {
			b.Fatal(err)
		}
	}
	f, err := NewFSM()
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	cpu0 := processCPU()
	for i := range b.N {
		res := f.Apply(&raft.Log{Index: uint64(i + 1), Data: cmds[i]}).(*Result)
		if res.Err != nil || res.Applied != per {
			b.Fatalf("applied %d: %v", res.Applied, res.Err)
		}
	}
	b.ReportMetric(float64(per*b.N)/b.Elapsed().Seconds(), "records/s")
	// CPU time (all threads, GC included) per record: what the apply
	// costs, whatever else the shared machine runs.
	b.ReportMetric(float64((processCPU()-cpu0).Microseconds())/float64(per*b.N), "cpu-µs/record")
}

// processCPU returns the process's user+system CPU time so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// importPeople makes n synthetic people (hub tests may not import
// bench/identity): syllable names, birth dates, streets and post codes
// from a fixed-seed generator, 30 % of them near-copies of an earlier
// one with one letter of the last name changed.
func importPeople(n int) []identity.Record {
	var s uint64 = 7
	rnd := func(m int) int {
		s += 0x9e3779b97f4a7c15
		z := s
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
		z = (z ^ (z >> 27)) * 0x94d049bb133111eb
		return int((z ^ (z >> 31)) % uint64(m))
	}
	syll := []string{"an", "ber", "cas", "dor", "el", "fin", "gar", "hol", "ing", "jor", "kel", "lan", "mor", "nor", "ost", "par"}
	first := []string{"james", "mary", "robert", "linda", "david", "susan", "omar", "wei", "priya", "mateo", "sofia", "lena"}
	cities := []string{"springfield", "riverside", "fairview", "madison", "salem", "dover", "hudson", "oxford"}
	out := make([]identity.Record, n)
	for i := range out {
		if i > 0 && rnd(10) < 3 {
			out[i] = out[rnd(i)]
			f := slices.Clone(out[i].Fields)
			if l := f[1].Value; len(l) > 2 {
				f[1].Value = l[:1] + "x" + l[2:]
			}
			out[i].Fields = f
			continue
		}
		out[i] = identity.Record{Fields: []identity.Field{
			{Kind: identity.FirstName, Value: first[rnd(len(first))]},
			{Kind: identity.LastName, Value: syll[rnd(16)] + syll[rnd(16)] + syll[rnd(16)]},
			{Kind: identity.BirthDate, Value: fmt.Sprintf("%04d%02d%02d", 1930+rnd(80), 1+rnd(12), 1+rnd(28))},
			{Kind: identity.Address, Value: fmt.Sprintf("%d %s%s street", 1+rnd(300), syll[rnd(16)], syll[rnd(16)])},
			{Kind: identity.City, Value: cities[rnd(len(cities))]},
			{Kind: identity.Postcode, Value: fmt.Sprintf("%04d", 2000+rnd(7000))},
		}}
	}
	return out
}
