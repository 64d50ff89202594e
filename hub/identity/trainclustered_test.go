package identity

import (
	"bytes"
	"fmt"
	"testing"
)

// TestTrainClusteredCountsOncePerCluster checks decision 0074: a person
// written on many records does not make their own name common once the
// records' clusters are known, while a name many people bear stays
// common; without clusters TrainClustered is Train.
func TestTrainClusteredCountsOncePerCluster(t *testing.T) {
	var recs []Record
	var clusters []string
	// One person on twelve records.
	for i := range 12 {
		recs = append(recs, rec(fmt.Sprintf("z%02d", i), "first_name", "zebulon", "last_name", "quist",
			"birth_date", "1901-02-03", "city", "ely"))
		clusters = append(clusters, "z00")
	}
	// Twelve people named John, and forty others.
	for i := range 52 {
		first := "john"
		if i >= 12 {
			first = fmt.Sprintf("given%c%c", 'a'+i%26, 'a'+i/26)
		}
		id := fmt.Sprintf("p%02d", i)
		recs = append(recs, rec(id, "first_name", first, "last_name", fmt.Sprintf("family%c%c", 'a'+i%26, 'a'+i/26),
			"birth_date", fmt.Sprintf("19%02d-05-06", 10+i), "city", "ely"))
		clusters = append(clusters, id)
	}
	cfg := DefaultConfig()
	plain, err := Train(recs, cfg)
	if err != nil {
		t.Fatal(err)
	}
	clustered, err := TrainClustered(recs, cfg, clusters)
	if err != nil {
		t.Fatal(err)
	}
	pz, _ := plain.tfWeightOf(cFirst, "zebulon")
	cz, _ := clustered.tfWeightOf(cFirst, "zebulon")
	if cz <= pz+2 {
		t.Errorf("zebulon: weight %.2f counted per cluster, %.2f per record; want the one person's name rare (≥ 2 bits more)", cz, pz)
	}
	if cz != clustered.rare[cFirst] {
		t.Errorf("zebulon: weight %.2f, want a name one cluster holds to weigh as rare (%.2f)", cz, clustered.rare[cFirst])
	}
	cj, _ := clustered.tfWeightOf(cFirst, "john")
	if cj >= cz-2 {
		t.Errorf("john: weight %.2f against zebulon's %.2f; want twelve people's name common", cj, cz)
	}
	pf, _ := plain.fullNameWeight("zebulon", "quist")
	cf, _ := clustered.fullNameWeight("zebulon", "quist")
	if cf <= pf {
		t.Errorf("full name: weight %.2f counted per cluster, %.2f per record; want it rarer", cf, pf)
	}

	// Without clusters it is Train; a clusters slice of the wrong length
	// is refused.
	none, err := TrainClustered(recs, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := plain.Marshal()
	b, _ := none.Marshal()
	if !bytes.Equal(a, b) {
		t.Error("TrainClustered(nil) differs from Train")
	}
	if _, err := TrainClustered(recs, cfg, clusters[1:]); err == nil {
		t.Error("clusters shorter than records: no error")
	}
}
