package identity

import (
	"fmt"
	"os"
	"strings"
	"testing"

	hid "ucv/hub/identity"
)

// partitionScheme places a record in one of p partitions from its ID and
// its blocking keys.
type partitionScheme struct {
	name string
	home func(id string, keys []uint64, p int) int
}

func fnv64(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}

// mix scrambles a key hash (the keys' low bits are FNV already, but the
// rule byte sits on top).
func mix(z uint64) uint64 {
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// byRules homes a record by its smallest key of the first of rules it
// has a key of; a record with none of them goes by its ID.
func byRules(rules ...string) func(string, []uint64, int) int {
	return func(id string, keys []uint64, p int) int {
		for _, r := range rules {
			for _, k := range keys {
				if hid.BlockRule(k) == r {
					return int(mix(k) % uint64(p))
				}
			}
		}
		return int(fnv64(id) % uint64(p))
	}
}

var partitionSchemes = []partitionScheme{
	{"record ID (random)", func(id string, _ []uint64, p int) int { return int(fnv64(id) % uint64(p)) }},
	{"birth_date", byRules("birth_date")},
	{"first_name+last_soundex", byRules("first_name+last_soundex")},
	{"last_name+birth_year", byRules("last_name+birth_year")},
	{"identifier, else birth_date", byRules("identifier", "birth_date")},
}

// partitionRow is what one scheme at one partition count measures.
type partitionRow struct {
	scheme             string
	p                  int
	candCross          float64 // candidate pairs whose records sit in different partitions
	trueCross          float64 // true-match pairs (ground truth) across partitions
	linkCross          float64 // the engine's links (merges) across partitions
	clusterSpan        float64 // multi-record clusters spread over > 1 partition
	skew               float64 // largest partition / mean
	keyFanout          float64 // partitions a record's keys live in (key-sharded index)
	candidates, links  int
	truePairs, records int
}

// partitionStudy resolves ds in one index (the single-hub answer) and
// measures, for each scheme and partition count, how much of blocking's
// work and of the merges would cross partitions.
func partitionStudy(t *testing.T, ds Dataset, ps []int) []partitionRow {
	m, err := hid.Train(ds.Records, hid.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	ix := hid.NewIndex(m)
	if err := ix.Load(ds.Records, nil); err != nil {
		t.Fatal(err)
	}
	keys := map[string][]uint64{}
	for _, r := range ds.Records {
		keys[r.ID] = ix.BlockKeys(r.ID)
	}
	var cands [][2]string
	ix.CandidatePairs(func(a, b string) { cands = append(cands, [2]string{a, b}) })
	var links [][2]string
	var clusters [][]string
	for _, c := range ix.Clusters() {
		if len(c.Records) > 1 {
			clusters = append(clusters, c.Records)
		}
		for _, l := range c.Links {
			links = append(links, [2]string{l.A, l.B})
		}
	}
	truth := TruePairs(ds.Entity)
	var rows []partitionRow
	for _, sc := range partitionSchemes {
		for _, p := range ps {
			home := make(map[string]int, len(keys))
			size := make([]int, p)
			fan := 0
			for id, ks := range keys {
				h := sc.home(id, ks, p)
				home[id] = h
				size[h]++
				seen := map[uint64]bool{}
				for _, k := range ks {
					seen[mix(k)%uint64(p)] = true
				}
				fan += len(seen)
			}
			cross := func(pairs [][2]string) float64 {
				if len(pairs) == 0 {
					return 0
				}
				n := 0
				for _, pr := range pairs {
					if home[pr[0]] != home[pr[1]] {
						n++
					}
				}
				return float64(n) / float64(len(pairs))
			}
			span := 0
			for _, c := range clusters {
				for _, id := range c[1:] {
					if home[id] != home[c[0]] {
						span++
						break
					}
				}
			}
			big := 0
			for _, s := range size {
				big = max(big, s)
			}
			row := partitionRow{scheme: sc.name, p: p, candCross: cross(cands), trueCross: cross(truth), linkCross: cross(links),
				skew: float64(big) * float64(p) / float64(len(keys)), keyFanout: float64(fan) / float64(len(keys)),
				candidates: len(cands), links: len(links), truePairs: len(truth), records: len(keys)}
			if len(clusters) > 0 {
				row.clusterSpan = float64(span) / float64(len(clusters))
			}
			rows = append(rows, row)
		}
	}
	return rows
}

// TestPartitionSimulation is the scaled-down run behind the 1-billion
// plan in docs/decisions/0052-hub-scale.md: it resolves a data set in
// one index and, for each way of homing records by a blocking key and
// P = 4, 16, 64 partitions, prints how many candidate pairs, true-match
// pairs and the engine's merges (links) would join records of different
// partitions, how many merged clusters would span partitions, the
// largest partition against the mean, and how many partitions a
// record's blocking keys touch when the key index itself is sharded by
// key. It runs only when UCV_PARTITION_SIM names the data sets (comma-
// separated Names, e.g. "historical_50k,customers"):
//
//	UCV_PARTITION_SIM=historical_50k,customers go test -count=1 -run TestPartitionSimulation -v ./bench/identity
func TestPartitionSimulation(t *testing.T) {
	sets := os.Getenv("UCV_PARTITION_SIM")
	if sets == "" {
		t.Skip("set UCV_PARTITION_SIM to data set names to run the partition simulation")
	}
	for _, name := range strings.Split(sets, ",") {
		var dir string
		if !Generated(name) {
			dir = dataDir(t)
		}
		ds, err := Load(dir, name)
		if err != nil {
			t.Fatal(err)
		}
		rows := partitionStudy(t, ds, []int{4, 16, 64})
		var b strings.Builder
		r0 := rows[0]
		fmt.Fprintf(&b, "\n%s: %d records, %d candidate pairs, %d true pairs, %d links\n\n", ds.Name, r0.records, r0.candidates, r0.truePairs, r0.links)
		fmt.Fprintf(&b, "| home by | P | candidate pairs across | true pairs across | links across | merged clusters spanning | largest/mean | key fan-out |\n")
		fmt.Fprintf(&b, "|---|---:|---:|---:|---:|---:|---:|---:|\n")
		for _, r := range rows {
			fmt.Fprintf(&b, "| %s | %d | %.1f %% | %.1f %% | %.1f %% | %.1f %% | %.2f | %.1f |\n", r.scheme, r.p,
				100*r.candCross, 100*r.trueCross, 100*r.linkCross, 100*r.clusterSpan, r.skew, r.keyFanout)
		}
		t.Log(b.String())
	}
}

// TestPartitionStudySmall keeps the simulation's code honest on a small
// generated set: the random scheme splits about 1-1/P of the pairs, and
// a scheme homing by a key keeps every pair that shares that key.
func TestPartitionStudySmall(t *testing.T) {
	ds := GenerateCustomers(CustomersSeed, 300).Dataset("customers-small")
	rows := partitionStudy(t, ds, []int{4})
	for _, r := range rows {
		if r.candidates == 0 || r.links == 0 {
			t.Fatalf("%s: %d candidates, %d links", r.scheme, r.candidates, r.links)
		}
		if r.candCross < 0 || r.candCross > 1 || r.skew < 1 {
			t.Errorf("%s: cross %v skew %v", r.scheme, r.candCross, r.skew)
		}
	}
	if random := rows[0]; random.candCross < 0.5 || random.candCross > 0.95 {
		t.Errorf("random homing split %.2f of the candidate pairs at P=4, want about 0.75", random.candCross)
	}
}
