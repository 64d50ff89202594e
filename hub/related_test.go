package hub_test

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	"ucv/hub"
	"ucv/hub/hubtest"
	"ucv/profile"
	"ucv/replication"
)

// Household fragments: Ann and Bob Lee and their lodger Cara Diaz at
// one address (written three ways) with one home phone; Ann and Bob also
// share the family e-mail.
const (
	hAnn  = "01H-ANN"
	hBob  = "01H-BOB"
	hCara = "01H-CARA"
)

var (
	homePhone   = profile.Identifier{Type: profile.Phone, Value: "+12175550111"}
	familyEmail = hubtest.Email("lees@example.org")
)

// household pushes the three people of the household test.
func household(l *log) {
	l.t.Helper()
	e := hubtest.NewEdge("store-1", 1)
	person := func(id, first, last, street, postcode string, ids ...profile.Identifier) replication.Entry {
		return e.Delta(hubtest.Event{Profile: id, Kind: profile.Identify, IDs: append(ids, homePhone),
			Traits: map[string]any{"firstName": first, "lastName": last, "birthday": map[string]string{
				hAnn: "1970-03-01", hBob: "1968-11-23", hCara: "1995-07-14"}[id],
				"address": map[string]any{"street": street, "city": "Springfield", "postalCode": postcode}}})
	}
	if r := l.sync("store-1",
		person(hAnn, "Ann", "Lee", "12 Elm St.", "62704", familyEmail, hubtest.Anon("ann-phone")),
		person(hBob, "Bob", "Lee", "12 elm street", "62704", familyEmail, hubtest.Anon("bob-laptop")),
		person(hCara, "Cara", "Diaz", "12 ELM STREET", "627 04", hubtest.Anon("cara-phone")),
	); r.Err != nil {
		l.t.Fatal(r.Err)
	}
}

// keepApart unmerges, as a steward would, every two of ids that share a
// cluster, until each is alone. It returns the pairs it had to unmerge:
// the merges the identity engine made.
func keepApart(l *log, ids ...string) [][2]string {
	l.t.Helper()
	var merged [][2]string
	for i, a := range ids {
		for _, b := range ids[i+1:] {
			va, err := l.f.Profile(a)
			if err != nil {
				l.t.Fatal(err)
			}
			if !slices.Contains(va.Fragments, b) {
				continue
			}
			merged = append(merged, [2]string{a, b})
			if r := l.apply(hub.MarshalUnmerge(&hub.Unmerge{A: a, B: b, Actor: "steward", Reason: "different people"})); r.Err != nil {
				l.t.Fatal(r.Err)
			}
		}
	}
	for _, id := range ids {
		if v, _ := l.f.Profile(id); len(v.Fragments) != 1 {
			l.t.Fatal(fmt.Sprintf("%s is still in %s %v after the unmerges", id, v.ID, v.Fragments))
		}
	}
	return merged
}

func related(t *testing.T, f *hub.FSM, id string) hub.Related {
	t.Helper()
	r, err := f.Related(id)
	if err != nil {
		t.Fatalf("Related(%s): %v", id, err)
	}
	return r
}

// TestRelatedHousehold: three people at one address with one phone, two
// of them with a family e-mail, kept apart, are related: all three a
// household by the address, the Lees also by the e-mail and the phone
// (a surname in common), the lodger by the phone only as a shared
// contact. The test logs the merges today's engine makes before the
// steward keeps the three apart.
func TestRelatedHousehold(t *testing.T) {
	l := newLog(t)
	household(l)
	merged := keepApart(l, hAnn, hBob, hCara)
	t.Logf("today's engine merged %v (unmerged by the steward)", merged)

	const addr = "12 elm street, 62704"
	ann := related(t, l.f, hAnn)
	want := hub.Related{ID: hAnn, Fragments: []string{hAnn},
		Shared: []hub.Shared{
			{Type: "address", Value: addr, Count: 2, Holders: []hub.Holder{{ID: hBob, Kind: hub.Household}, {ID: hCara, Kind: hub.Household}}},
			{Type: "email", Value: familyEmail.Value, Count: 1, Holders: []hub.Holder{{ID: hBob, Kind: hub.Household}}},
			{Type: "phone", Value: homePhone.Value, Count: 2, Holders: []hub.Holder{{ID: hBob, Kind: hub.Household}, {ID: hCara, Kind: hub.SharedContact}}},
		},
		Related: []hub.Relation{
			{ID: hBob, Kinds: []hub.RelationKind{hub.Household}, Types: []string{"address", "email", "phone"}},
			{ID: hCara, Kinds: []hub.RelationKind{hub.Household, hub.SharedContact}, Types: []string{"address", "phone"}},
		},
		Total:  2,
		Counts: map[hub.RelationKind]int{hub.Household: 2, hub.SharedContact: 1},
	}
	if !reflect.DeepEqual(ann, want) {
		t.Fatalf("Related(Ann) =\n%+v\nwant\n%+v", ann, want)
	}
	cara := related(t, l.f, hCara)
	if len(cara.Related) != 2 || cara.Related[0].ID != hAnn || cara.Related[1].ID != hBob ||
		!slices.Equal(cara.Related[1].Kinds, []hub.RelationKind{hub.Household, hub.SharedContact}) {
		t.Errorf("Related(Cara).Related = %+v, want Ann and Bob, household and shared contact", cara.Related)
	}
	if slices.ContainsFunc(cara.Shared, func(s hub.Shared) bool { return s.Type == "email" }) {
		t.Errorf("Cara shares no e-mail: %+v", cara.Shared)
	}
	// A function of the state: a replica restored from a snapshot (the
	// address index rebuilt from the fragments) answers the same.
	if got := related(t, restored(t, l.f), hAnn); !reflect.DeepEqual(got, ann) {
		t.Errorf("restored replica: Related(Ann) =\n%+v\nwant\n%+v", got, ann)
	}
	// Bob moves: he leaves the address group, and stays related by the
	// e-mail and the phone.
	l.sync("store-2", hubtest.Delta(2, 1, hubtest.Event{Profile: hBob, Kind: profile.Identify, At: 1_800_000_000_000,
		Traits: map[string]any{"address": map[string]any{"street": "9 Oak Ave", "postalCode": "62701"}}}))
	ann = related(t, l.f, hAnn)
	if ann.Shared[0].Type != "address" || !reflect.DeepEqual(ann.Shared[0].Holders, []hub.Holder{{ID: hCara, Kind: hub.Household}}) {
		t.Errorf("after Bob moved, Ann's address group = %+v, want Cara only", ann.Shared[0])
	}
	if r := ann.Related[0]; r.ID != hBob || !slices.Equal(r.Types, []string{"email", "phone"}) || r.Kinds[0] != hub.Household {
		t.Errorf("after Bob moved, Ann–Bob = %+v, want household by e-mail and phone", r)
	}
	// Cara is erased: she is related to no one, and has no graph view.
	if r := l.sync("store-3", replication.Entry{Seq: 1, Kind: replication.KindDelta, ProfileID: hCara,
		Delta: erasure(t, l.f, hCara, 1_800_000_000_001)}); r.Err != nil {
		t.Fatal(r.Err)
	}
	ann = related(t, l.f, hAnn)
	if ann.Total != 1 || ann.Related[0].ID != hBob || len(ann.Shared) != 2 {
		t.Errorf("after Cara's erasure, Related(Ann) = %+v, want Bob by e-mail and phone only", ann)
	}
	if _, err := l.f.Related(hCara); !errors.Is(err, hub.ErrNotFound) {
		t.Errorf("Related(erased Cara) = %v, want ErrNotFound", err)
	}
}

// TestRelatedMergedIsNotRelated: fragments of one cluster are the same
// person, not related; only other clusters are.
func TestRelatedMergedIsNotRelated(t *testing.T) {
	l := newLog(t)
	twoStores(l) // p1 and p2 merged by their e-mail
	r := related(t, l.f, p2)
	if r.ID != p1 || !slices.Equal(r.Fragments, []string{p1, p2}) || len(r.Shared) != 0 || r.Total != 0 {
		t.Errorf("Related(p2) = %+v, want cluster p1 with nothing shared", r)
	}
	if _, err := l.f.Related("nobody"); !errors.Is(err, hub.ErrNotFound) || !strings.Contains(err.Error(), "nobody") {
		t.Errorf("Related(nobody) = %v, want ErrNotFound naming it", err)
	}
}

// TestRelatedSharedDevice: two people who use one tablet (its device_id
// and the browser's anonymous_id), kept apart, share a device.
func TestRelatedSharedDevice(t *testing.T) {
	l := newLog(t)
	tablet := []profile.Identifier{{Type: profile.DeviceID, Value: "tablet-7"}, hubtest.Anon("kiosk-browser")}
	l.sync("store-1",
		hubtest.Delta(1, 1, hubtest.Event{Profile: "01D-DAN", Kind: profile.Identify, IDs: append(slices.Clone(tablet), hubtest.Email("dan@example.org")),
			Traits: map[string]any{"firstName": "Dan", "lastName": "Moss"}}),
		hubtest.Delta(1, 2, hubtest.Event{Profile: "01D-EVE", Kind: profile.Identify, IDs: append(slices.Clone(tablet), hubtest.Email("eve@example.net")),
			Traits: map[string]any{"firstName": "Eve", "lastName": "Park"}}))
	t.Logf("today's engine merged %v (unmerged by the steward)", keepApart(l, "01D-DAN", "01D-EVE"))
	r := related(t, l.f, "01D-DAN")
	want := []hub.Relation{{ID: "01D-EVE", Kinds: []hub.RelationKind{hub.SharedDevice}, Types: []string{"anonymous_id", "device_id"}}}
	if !reflect.DeepEqual(r.Related, want) || r.Counts[hub.SharedDevice] != 1 || len(r.Counts) != 1 {
		t.Errorf("Related(Dan) = %+v, want Eve by a shared device", r)
	}
	if len(r.Shared) != 2 || r.Shared[0].Type != "anonymous_id" || r.Shared[1].Type != "device_id" {
		t.Errorf("Related(Dan).Shared = %+v, want the anonymous_id and the device_id", r.Shared)
	}
}

// TestRelatedBusyValue: a store's default e-mail typed into 40 people's
// records is a busy value: a count, no list, and no relationship.
func TestRelatedBusyValue(t *testing.T) {
	l := newLog(t)
	store := hubtest.Email("orders@shop.example")
	var es []replication.Entry
	const people = 2*hub.BusyHolders + 1
	for i := range people {
		es = append(es, hubtest.Delta(1, uint64(i+1), hubtest.Event{Profile: fmt.Sprintf("01S-%02d", i), Kind: profile.Identify,
			IDs:    []profile.Identifier{store, hubtest.Email(fmt.Sprintf("c%d@example.org", i))},
			Traits: map[string]any{"firstName": word(i, 1), "lastName": word(i, 2)}}))
	}
	if r := l.sync("store-1", es...); r.Err != nil {
		t.Fatal(r.Err)
	}
	if n := len(l.f.Clusters()); n != 0 {
		t.Fatalf("%d merged clusters: the engine linked people by the store's e-mail", n)
	}
	r := related(t, l.f, "01S-00")
	want := []hub.Shared{{Type: "email", Value: store.Value, Busy: true, Count: people - 1}}
	if !reflect.DeepEqual(r.Shared, want) || len(r.Related) != 0 || r.Total != 0 || len(r.Counts) != 0 {
		t.Errorf("Related = %+v, want the busy e-mail as a count of %d and no one related", r, people-1)
	}
	// The count stops at the cap, and says so.
	defer hub.SetMaxBusyCount(people - 5)()
	r = related(t, l.f, "01S-00")
	want[0].Count, want[0].Capped = people-5, true
	if !reflect.DeepEqual(r.Shared, want) {
		t.Errorf("capped: Shared = %+v, want %+v", r.Shared, want)
	}
}

// word returns a made-up name, a different one for each (i, salt), so
// that no two of a test's people have similar names.
func word(i, salt int) string {
	const letters = "bcdfghjklmnprstvz"
	const vowels = "aeiou"
	x := uint32(i*2654435761) ^ uint32(salt*40503)
	var b []byte
	for range 3 {
		b = append(b, letters[x%uint32(len(letters))], vowels[(x/17)%5])
		x = x*1103515245 + 12345
		x ^= x >> 13
	}
	return strings.ToUpper(string(b[:1])) + string(b[1:])
}
