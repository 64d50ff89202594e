package hub

import (
	"testing"

	"github.com/hashicorp/raft"
)

// TestIdentityTrainingSetCarriesClusters: the self-training input holds
// each fragment's current cluster beside its record (decision 0074), so
// the candidate's term frequencies count a person's value once — two
// imported records sharing an e-mail are one cluster, a third apart.
func TestIdentityTrainingSetCarriesClusters(t *testing.T) {
	f, err := NewFSM()
	if err != nil {
		t.Fatal(err)
	}
	res := f.Apply(&raft.Log{Index: 1, Data: importCmd(t, map[string][]string{
		"1001": {"Ann", "ann@example.com", ""},
		"1002": {"Bob", "bob@example.com", ""},
		"1003": {"Ann", "ANN@example.com ", ""},
	})}).(*Result)
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	in, err := f.identityTrainingSet()
	if err != nil {
		t.Fatal(err)
	}
	if len(in.Records) != 3 || len(in.Clusters) != len(in.Records) {
		t.Fatalf("%d records, %d clusters; want 3 and one cluster per record", len(in.Records), len(in.Clusters))
	}
	cluster := map[string]string{}
	for i, r := range in.Records {
		if in.Clusters[i] == "" {
			t.Errorf("record %s: no cluster", r.ID)
		}
		cluster[r.ID] = in.Clusters[i]
	}
	a, b, c := cluster[ImportFragmentID("crm", "1001")], cluster[ImportFragmentID("crm", "1002")], cluster[ImportFragmentID("crm", "1003")]
	if a != c || a == b {
		t.Errorf("clusters 1001=%q 1002=%q 1003=%q; want 1001 and 1003 together, 1002 apart", a, b, c)
	}
	in.Clusters = in.Clusters[1:]
	if _, _, _, err := FitIdentity(in); err == nil {
		t.Error("FitIdentity with fewer clusters than records: no error")
	}
}
