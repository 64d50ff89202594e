package hub

import (
	"fmt"
	"testing"

	"github.com/hashicorp/raft"

	bid "ucv/bench/identity"
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
	recs := bid.NewGenerator(7).Records(per * b.N)
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
	for i := range b.N {
		res := f.Apply(&raft.Log{Index: uint64(i + 1), Data: cmds[i]}).(*Result)
		if res.Err != nil || res.Applied != per {
			b.Fatalf("applied %d: %v", res.Applied, res.Err)
		}
	}
	b.ReportMetric(float64(per*b.N)/b.Elapsed().Seconds(), "records/s")
}
