package identity

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"pgregory.net/rapid"
)

func load(tb testing.TB, m *Model, recs []Record) *Index {
	tb.Helper()
	ix := NewIndex(m)
	if err := ix.Load(recs, nil); err != nil {
		tb.Fatalf("Load: %v", err)
	}
	return ix
}

func TestSynthAccuracy(t *testing.T) {
	recs, truth := synth(7, 1500)
	ix := load(t, testModel(t), recs)
	wrong, missed := 0, 0
	cl := map[string]string{}
	for _, a := range ix.Assignments() {
		cl[a[0]] = a[1]
	}
	for i := range recs {
		for j := i + 1; j < len(recs); j++ {
			a, b := recs[i].ID, recs[j].ID
			same, pred := truth[a] == truth[b], cl[a] == cl[b]
			if pred && !same {
				wrong++
			}
			if same && !pred {
				missed++
			}
		}
	}
	if wrong > 5 || missed > 60 {
		t.Errorf("synthetic accuracy: %d false pairs, %d missed pairs; want <= 5 and <= 60", wrong, missed)
	}
}

// TestBatchEqualsIncremental: adding records one by one, in any order,
// with removals along the way, ends in the same clusters (and the same
// explanations) as loading the final set at once.
func TestBatchEqualsIncremental(t *testing.T) {
	base := testModel(t)
	pool, _ := synth(99, 400)
	rapid.Check(t, func(t *rapid.T) {
		// Small caps make blocks cross them often, in both directions.
		m := new(Model)
		*m = *base
		m.cfg.BlockCap = rapid.SampledFrom([]int{2, 3, 5, 50}).Draw(t, "blockCap")
		m.cfg.IdentifierBlockCap = rapid.SampledFrom([]int{2, 4, 1000}).Draw(t, "idCap")
		n := rapid.IntRange(1, 60).Draw(t, "n")
		start := rapid.IntRange(0, len(pool)-n).Draw(t, "start")
		recs := append([]Record(nil), pool[start:start+n]...)
		// Sometimes make a generic phone shared by many.
		if rapid.Bool().Draw(t, "generic") {
			for i := range recs {
				if i%2 == 0 {
					recs[i].Fields = append(append([]Field(nil), recs[i].Fields...), Field{Kind: Phone, Value: "+14155550000"})
				}
			}
		}
		order := rapid.Permutation(recs).Draw(t, "order")
		inc := NewIndex(m)
		removed := map[string]bool{}
		for i, r := range order {
			if _, err := inc.Add(r); err != nil {
				t.Fatalf("Add: %v", err)
			}
			if i > 0 && rapid.IntRange(0, 9).Draw(t, "remove?") == 0 {
				victim := order[rapid.IntRange(0, i).Draw(t, "victim")].ID
				if !removed[victim] {
					if _, err := inc.Remove(victim); err != nil {
						t.Fatalf("Remove: %v", err)
					}
					removed[victim] = true
				}
			}
		}
		var rest []Record
		for _, r := range recs {
			if !removed[r.ID] {
				rest = append(rest, r)
			}
		}
		batch := NewIndex(m)
		if err := batch.Load(rest, nil); err != nil {
			t.Fatalf("Load: %v", err)
		}
		if diff := cmp.Diff(batch.Clusters(), inc.Clusters()); diff != "" {
			t.Fatalf("incremental clusters differ from batch (-batch +incremental):\n%s", diff)
		}
		if diff := cmp.Diff(batch.Reviews(), inc.Reviews()); diff != "" {
			t.Fatalf("incremental reviews differ from batch (-batch +incremental):\n%s", diff)
		}
	})
}

// TestDeterminism: shuffled input, and a model trained on shuffled input,
// give byte-identical output.
func TestDeterminism(t *testing.T) {
	recs, _ := synth(5, 1200)
	render := func(rs []Record) string {
		m, ix, err := Resolve(rs, DefaultConfig(), nil)
		if err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		fmt.Fprintf(&b, "%v\n%+v\n", m.Weights(), m.Report())
		for _, c := range ix.Clusters() {
			fmt.Fprintf(&b, "%+v\n", c)
		}
		fmt.Fprintf(&b, "%+v\n", ix.Reviews())
		return b.String()
	}
	want := render(recs)
	rng := splitmix64(1)
	for round := 0; round < 2; round++ {
		sh := append([]Record(nil), recs...)
		for i := len(sh) - 1; i > 0; i-- {
			j := int(rng.next() % uint64(i+1))
			sh[i], sh[j] = sh[j], sh[i]
		}
		if got := render(sh); got != want {
			t.Fatalf("round %d: shuffled input gave different output:\n%s", round, cmp.Diff(want, got))
		}
	}
}

func person1(id, first, last, dob, phone string) Record {
	r := Record{ID: id, Fields: []Field{
		{Kind: FirstName, Value: first}, {Kind: LastName, Value: last}, {Kind: BirthDate, Value: dob},
	}}
	if phone != "" {
		r.Fields = append(r.Fields, Field{Kind: Phone, Value: phone})
	}
	return r
}

// TestGenericPhoneSuppressed: a call-centre phone on the records of
// strangers does not merge them, while the same phone on two records of
// one person still does until it turns generic.
func TestGenericPhoneSuppressed(t *testing.T) {
	m := testModel(t)
	const callCentre = "(800) 555-0199"
	strangers := []Record{
		person1("a", "Maria", "Garcia", "1990-11-23", callCentre),
		person1("b", "Wei", "Chen", "1985-01-30", callCentre),
		person1("c", "Priya", "Natarajan", "1988-12-25", callCentre),
		person1("d", "John", "Doe", "1970-06-01", callCentre),
	}
	ix := load(t, m, strangers)
	for _, c := range ix.Clusters() {
		if len(c.Records) > 1 {
			t.Errorf("strangers sharing a call-centre phone merged: %v", c.Records)
		}
	}
	// Two records of one person sharing a personal phone do merge.
	ix = load(t, m, []Record{
		person1("p1", "Thomas", "Becker", "1962-05-09", "+1 916 555 0142"),
		person1("p2", "Tom", "Becker", "", "916-555-0142"),
	})
	c, err := ix.ClusterOf("p1")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"p1", "p2"}, c.Records); diff != "" {
		t.Errorf("one person's shared phone did not merge (-want +got):\n%s", diff)
	}
	if len(c.Links) != 1 || c.Links[0].Rule != "identifier" || len(c.Links[0].Identifiers) != 1 || c.Links[0].Identifiers[0].Type != "phone" {
		t.Errorf("link = %+v, want one identifier link through the phone", c.Links)
	}
	// Incrementally: the fourth stranger tips the phone over into generic
	// and no earlier merge through it survives.
	inc := NewIndex(m)
	for _, r := range strangers {
		if _, err := inc.Add(r); err != nil {
			t.Fatal(err)
		}
	}
	if diff := cmp.Diff(ix2clusters(load(t, m, strangers)), ix2clusters(inc)); diff != "" {
		t.Errorf("incremental differs (-batch +inc):\n%s", diff)
	}
}

func ix2clusters(ix *Index) [][2]string { return ix.Assignments() }

// TestFamilyPhoneVeto: two different people sharing a home phone are not
// merged by it (their names and birth dates disagree too strongly).
func TestFamilyPhoneVeto(t *testing.T) {
	ix := load(t, testModel(t), []Record{
		person1("h", "Robert", "Jones", "1950-02-11", "+14155551234"),
		person1("w", "Linda", "Jones", "1953-09-30", "+14155551234"),
	})
	if c, _ := ix.ClusterOf("h"); len(c.Records) != 1 {
		t.Errorf("family sharing a phone merged: %v", c.Records)
	}
}

// TestIdentityRules: blocked values never link; a limit of one user_id per
// profile keeps two user ids apart even when they share an e-mail.
func TestIdentityRules(t *testing.T) {
	m := testModel(t)
	ix := load(t, m, []Record{
		{ID: "x", Fields: []Field{{Kind: FirstName, Value: "Ann"}, {Kind: Email, Value: "test@test.com"}}},
		{ID: "y", Fields: []Field{{Kind: FirstName, Value: "Bo"}, {Kind: Email, Value: "TEST@test.com"}}},
		{ID: "u1", Fields: []Field{{Kind: ID, Name: "user_id", Value: "u-1"}, {Kind: Email, Value: "sam@example.org"}}},
		{ID: "u2", Fields: []Field{{Kind: ID, Name: "user_id", Value: "u-2"}, {Kind: Email, Value: "sam@example.org"}}},
		{ID: "u3", Fields: []Field{{Kind: Email, Value: "sam@example.org"}, {Kind: ID, Name: "loyalty", Value: "L1"}}},
	})
	got := map[string]string{}
	for _, a := range ix.Assignments() {
		got[a[0]] = a[1]
	}
	if got["x"] == got["y"] {
		t.Error("blocked e-mail test@test.com linked two records")
	}
	if got["u1"] == got["u2"] {
		t.Error("two user_ids merged into one profile despite limit 1")
	}
	if got["u3"] != got["u1"] && got["u3"] != got["u2"] {
		t.Error("record sharing only the e-mail joined neither user")
	}
}

func TestStewardAcceptReject(t *testing.T) {
	m := testModel(t)
	ix := load(t, m, []Record{
		person1("a", "Maria", "Garcia", "1990-11-23", ""),
		person1("b", "Maria", "Garcia", "1990-11-23", ""),
		person1("c", "Mario", "Garcias", "", ""),
	})
	if c, _ := ix.ClusterOf("a"); !cmp.Equal(c.Records, []string{"a", "b"}) {
		t.Fatalf("cluster of a = %v, want [a b]", c.Records)
	}
	if _, err := ix.Reject("a", "b"); err != nil {
		t.Fatal(err)
	}
	if c, _ := ix.ClusterOf("a"); len(c.Records) != 1 {
		t.Errorf("after Reject, cluster of a = %v, want [a]", c.Records)
	}
	if _, err := ix.Accept("a", "c"); err != nil {
		t.Fatal(err)
	}
	c, _ := ix.ClusterOf("c")
	if !cmp.Equal(c.Records, []string{"a", "c"}) || c.Links[0].Rule != "steward" {
		t.Errorf("after Accept, cluster = %+v, want a and c by steward", c)
	}
	if _, err := ix.Accept("a", "nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Accept unknown = %v, want ErrNotFound", err)
	}
}

func TestAddDecisionAndExplain(t *testing.T) {
	ix := NewIndex(testModel(t))
	a := person1("a", "Robert", "Smith", "1980-03-14", "")
	a.Fields = append(a.Fields, Field{Kind: City, Value: "Springfield"}, Field{Kind: Postcode, Value: "10042"})
	if _, err := ix.Add(a); err != nil {
		t.Fatal(err)
	}
	d, err := ix.Add(Record{ID: "b", Fields: []Field{
		{Kind: FullName, Value: "Smith, Bob"}, {Kind: BirthDate, Value: "3/14/1980"}, {Kind: City, Value: "Springfield"},
		{Kind: Postcode, Value: "10042"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if d.ClusterID != "a" || d.Size != 2 || len(d.Links) != 1 || d.Links[0].Rule != "probabilistic" {
		t.Fatalf("decision = %+v, want b joining a probabilistically", d)
	}
	e, err := ix.Explain("a", "b")
	if err != nil {
		t.Fatal(err)
	}
	levels := map[string]string{}
	for _, l := range e.Levels {
		levels[l.Comparison] = l.Level
	}
	want := map[string]string{"first_name": "nickname", "last_name": "exact", "birth_date": "exact", "city": "exact", "postcode": "exact",
		"adjustment": "dependent agreements counted once"} // city and postcode count once
	if diff := cmp.Diff(want, levels); diff != "" {
		t.Errorf("explanation levels (-want +got):\n%s", diff)
	}
	if s := e.String(); strings.Contains(s, "robert") || strings.Contains(s, "19800314") {
		t.Errorf("Explanation.String leaks values: %s", s)
	}
	// Updating b to someone else splits the cluster again.
	d, err = ix.Add(person1("b", "Wei", "Chen", "1985-01-30", ""))
	if err != nil {
		t.Fatal(err)
	}
	if d.ClusterID != "b" || d.Size != 1 {
		t.Errorf("after update, decision = %+v, want b alone", d)
	}
}

// TestNoTransitiveChain: a sparse record that resembles two different
// people does not pull them into one cluster.
func TestNoTransitiveChain(t *testing.T) {
	ix := load(t, testModel(t), []Record{
		{ID: "a", Fields: []Field{{Kind: FirstName, Value: "John"}, {Kind: LastName, Value: "Smith"}, {Kind: BirthDate, Value: "1950-01-02"},
			{Kind: City, Value: "Salem"}, {Kind: Postcode, Value: "10001"}, {Kind: NationalID, Value: "111223333"}}},
		{ID: "b", Fields: []Field{{Kind: FirstName, Value: "John"}, {Kind: LastName, Value: "Smith"}, {Kind: City, Value: "Salem"}, {Kind: Postcode, Value: "10001"}}},
		{ID: "c", Fields: []Field{{Kind: FirstName, Value: "John"}, {Kind: LastName, Value: "Smith"}, {Kind: BirthDate, Value: "1987-11-30"},
			{Kind: City, Value: "Salem"}, {Kind: Postcode, Value: "10001"}, {Kind: NationalID, Value: "999887777"}}},
	})
	a, _ := ix.ClusterOf("a")
	for _, id := range a.Records {
		if id == "c" {
			t.Fatalf("a and c (different birth dates and national ids) chained into one cluster via b: %+v", a)
		}
	}
}

func TestErrors(t *testing.T) {
	if _, err := Train(nil, DefaultConfig()); !errors.Is(err, ErrNoRecords) {
		t.Errorf("Train(nil) = %v, want ErrNoRecords", err)
	}
	if _, err := Train([]Record{{ID: "a"}, {ID: "a"}}, DefaultConfig()); !errors.Is(err, ErrDuplicateID) {
		t.Errorf("Train(dup) = %v, want ErrDuplicateID", err)
	}
	if _, err := Train([]Record{{ID: "a", Fields: []Field{{Kind: "shoe_size", Value: "9"}}}}, DefaultConfig()); !errors.Is(err, ErrUnknownKind) {
		t.Errorf("Train(unknown kind) = %v, want ErrUnknownKind", err)
	}
	ix := NewIndex(testModel(t))
	if _, err := ix.Add(Record{}); !errors.Is(err, ErrEmptyID) {
		t.Errorf("Add(no id) = %v, want ErrEmptyID", err)
	}
	if _, err := ix.Remove("nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Remove(unknown) = %v, want ErrNotFound", err)
	}
	bad := DefaultConfig()
	bad.ReviewWeight = bad.MatchWeight + 1
	if err := bad.Validate(); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("Validate = %v, want ErrInvalidConfig", err)
	}
}

func TestRecordLogValueHasNoValues(t *testing.T) {
	r := person1("r1", "Robert", "Smith", "1980-03-14", "+14155550101")
	if s := r.LogValue().String(); strings.Contains(s, "Robert") || strings.Contains(s, "555") {
		t.Errorf("LogValue leaks values: %s", s)
	}
}

// TestForget: forgetting a steward's decision leaves the pair with the
// links its records support, as if the decision had never been made.
func TestForget(t *testing.T) {
	m := testModel(t)
	recs := []Record{
		person1("a", "Maria", "Garcia", "1990-11-23", ""),
		person1("b", "Maria", "Garcia", "1990-11-23", ""),
		person1("c", "Mario", "Garcias", "", ""),
	}
	ix := load(t, m, recs)
	if _, err := ix.Accept("a", "c"); err != nil {
		t.Fatal(err)
	}
	if _, err := ix.Reject("a", "b"); err != nil {
		t.Fatal(err)
	}
	for _, p := range [][2]string{{"a", "c"}, {"b", "a"}} {
		if _, err := ix.Forget(p[0], p[1]); err != nil {
			t.Fatal(err)
		}
	}
	fresh := load(t, m, recs)
	if got, want := ix.Assignments(), fresh.Assignments(); !cmp.Equal(got, want) {
		t.Errorf("after Forget, assignments = %v, want those of no decision, %v", got, want)
	}
	if _, err := ix.Forget("a", "nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Forget unknown = %v, want ErrNotFound", err)
	}
}
