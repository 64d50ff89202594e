package hub

import (
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/raft"

	"ucv/crdt"
	"ucv/hub/identity"
	"ucv/profile"
)

func importCmd(t *testing.T, rows map[string][]string) []byte {
	t.Helper()
	cols := []ImportColumn{{"first", identity.FirstName}, {"email", identity.Email}, {"crm_id", identity.ID}}
	traits, types, err := ImportShape(cols)
	if err != nil {
		t.Fatal(err)
	}
	im := &Import{Source: "crm", Traits: traits, Types: types}
	for _, id := range crdt.SortedKeys(rows) {
		rec, errs := ImportRecordOf("crm", id, cols, rows[id], "US", identity.DateAuto)
		if errs != nil {
			t.Fatalf("record %s: %v", id, errs)
		}
		im.Records = append(im.Records, rec)
	}
	b, err := MarshalImport(im)
	if err != nil {
		t.Fatal(err)
	}
	back, err := UnmarshalImport(b)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(im, back); d != "" {
		t.Fatalf("UnmarshalImport(MarshalImport(x)) differs (-want +got):\n%s", d)
	}
	return b
}

// TestImportApply: a record becomes a fragment holding record:crm/{id};
// the same batch again changes nothing (no feed position moves); a
// changed record is updated, a cleared field removed, and records
// sharing an e-mail resolve into one cluster like edge profiles.
func TestImportApply(t *testing.T) {
	f, err := NewFSM()
	if err != nil {
		t.Fatal(err)
	}
	idx := uint64(0)
	apply := func(cmd []byte) *Result {
		idx++
		res := f.Apply(&raft.Log{Index: idx, Data: cmd}).(*Result)
		if res.Err != nil {
			t.Fatalf("apply: %v", res.Err)
		}
		return res
	}
	batch := importCmd(t, map[string][]string{
		"1001": {"Ann", "ann@example.com", "A-1"},
		"1002": {"Bob", "bob@example.com", ""},
		"1003": {"Ann", "ANN@example.com ", ""},
	})
	if res := apply(batch); res.Applied != 3 || res.Skipped != 0 {
		t.Fatalf("first import: applied %d, skipped %d; want 3, 0", res.Applied, res.Skipped)
	}
	v, _, err := f.ProfileByIdentifier(RecordIdentifier("crm", "1001").Key())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(v.Fragments, ImportFragmentID("crm", "1003")) && v.ID != ImportFragmentID("crm", "1003") {
		t.Errorf("records 1001 and 1003 share an e-mail but are not one person: cluster %s %v", v.ID, v.Fragments)
	}
	if res := apply(batch); res.Applied != 0 || res.Skipped != 3 {
		t.Fatalf("same batch again: applied %d, skipped %d; want 0, 3", res.Applied, res.Skipped)
	}
	if page := f.FeedPage(1, 100); len(page.Items) != 0 {
		t.Errorf("an unchanged import moved %d feed items", len(page.Items))
	}
	res := apply(importCmd(t, map[string][]string{"1001": {"Anne", "", "A-1"}}))
	if res.Applied != 1 {
		t.Fatalf("changed record: applied %d, want 1", res.Applied)
	}
	p, err := f.Fragment(ImportFragmentID("crm", "1001"))
	if err != nil {
		t.Fatal(err)
	}
	if s, _ := traitString(p, "firstName"); s != "Anne" {
		t.Errorf("first name %q after the change, want Anne", s)
	}
	// Survivorship knows who wrote it: the import's source and record.
	cs := p.CandidatesOf("firstName")
	if len(cs) != 1 || cs[0].Source != "crm" || cs[0].Record != ImportFragmentID("crm", "1001") {
		t.Errorf("firstName candidates %+v, want one from source crm, record %s", cs, ImportFragmentID("crm", "1001"))
	}
	want := []profile.Identifier{{Type: "crm_id", Value: "A-1"}, {Type: RecordIDType, Value: "crm/1001"}}
	if d := cmp.Diff(want, p.IdentityList()); d != "" {
		t.Errorf("identities after the e-mail was cleared (-want +got):\n%s", d)
	}
}

// FuzzUnmarshalImport: the decoder never panics and what it accepts
// encodes back to the same bytes.
func FuzzUnmarshalImport(f *testing.F) {
	b, _ := MarshalImport(&Import{Source: "crm", Traits: []string{"firstName"}, Types: []string{"email"},
		Records: []ImportRecord{{ID: "1", Traits: []ImportTrait{{"firstName", "Ann"}}, Identifiers: []profile.Identifier{{Type: "email", Value: "a@b.c"}}}}})
	f.Add(b)
	f.Fuzz(func(t *testing.T, data []byte) {
		im, err := UnmarshalImport(data)
		if err != nil {
			return
		}
		if _, err := MarshalImport(im); err != nil && im.Source != "" && ValidSource(im.Source) == nil {
			t.Fatalf("decoded import does not encode: %v", err)
		}
	})
}

// An e-mail in display-name form is imported as its address, as
// resolution reads it; a broken one is still refused naming the column.
func TestImportDisplayNameEmail(t *testing.T) {
	cols := []ImportColumn{{"first", identity.FirstName}, {"email", identity.Email}}
	rec, errs := ImportRecordOf("crm", "1", cols, []string{"Ann", `"Ann Lee" <Ann.Lee@Example.com>`}, "US", identity.DateAuto)
	if errs != nil {
		t.Fatalf("display-name e-mail refused: %v", errs)
	}
	if want := (profile.Identifier{Type: profile.Email, Value: "ann.lee@example.com"}); !slices.Contains(rec.Identifiers, want) {
		t.Fatalf("identifiers %v, want %v", rec.Identifiers, want)
	}
	if _, errs := ImportRecordOf("crm", "2", cols, []string{"Ann", "Ann Lee <not an address"}, "US", identity.DateAuto); len(errs) != 1 || errs[0].Column != "email" {
		t.Fatalf("broken e-mail: errors %v, want one naming the email column", errs)
	}
}
