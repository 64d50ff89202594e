package identity

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"ucv/crdt/codec"
	"ucv/profile"
)

// noisyRecords returns n people, each with two records sharing a bare
// national id, a surname, a birth date and an address; in the first
// replaced of them the second record's given name is another name (a
// file that replaces whole values, as FEBRL does), in the first
// redated the birth date is another date, and in the first renumbered
// (of the others) the national id is another number.
func noisyRecords(n, replaced, redated, renumbered int) []Record {
	var recs []Record
	for i := range n {
		first := firstNames[i%len(firstNames)]
		last := fmt.Sprintf("%s%c", lastNames[i%len(lastNames)], 'a'+i%26)
		dob := fmt.Sprintf("19%02d-%02d-%02d", 40+i%50, 1+i%12, 1+i%28)
		nid := fmt.Sprintf("%07d", 1000000+i*7919)
		street := fmt.Sprintf("%d Elm Street", 1+i)
		recs = append(recs, rec(fmt.Sprintf("p%03d-a", i), "first_name", first, "last_name", last,
			"birth_date", dob, "national_id", nid, "street_number", fmt.Sprint(1+i), "address_line", street))
		first2, dob2, nid2 := first, dob, nid
		if i < replaced {
			first2 = "zebulon"
		}
		if i < redated {
			dob2 = fmt.Sprintf("20%02d-%02d-%02d", 5+i%10, 1+(i+5)%12, 1+(i+9)%28)
		}
		if i >= n-renumbered {
			nid2 = fmt.Sprintf("%07d", 9000000-i*3571)
		}
		recs = append(recs, rec(fmt.Sprintf("p%03d-b", i), "first_name", first2, "last_name", last,
			"birth_date", dob2, "national_id", nid2, "street_number", fmt.Sprint(1+i), "address_line", street))
	}
	return recs
}

// testConfig is DefaultConfig with the default identity rules filled in.
func testConfig() Config {
	cfg := DefaultConfig()
	cfg.Rules = profile.DefaultRules()
	return cfg
}

func prepAll(t *testing.T, recs []Record) []*prep {
	t.Helper()
	ps, err := prepareAll(recs, testConfig())
	if err != nil {
		t.Fatal(err)
	}
	return ps
}

// TestMeasureNoise: pairs holding one document number count for the
// given name and birth date, pairs with one name and birth date for the
// document; a document shared by more than maxAnchorGroup records is a
// placeholder and counts for nothing.
func TestMeasureNoise(t *testing.T) {
	n := measureNoise(prepAll(t, noisyRecords(100, 6, 1, 4)))
	want := Noise{GivenName: FieldNoise{96, 6}, BirthDate: FieldNoise{96, 1}, Document: FieldNoise{94, 4}}
	if n != want {
		t.Fatalf("noise = %+v, want %+v", n, want)
	}
	if got := n.waived(); got != waiveGivenName|waiveDocument {
		t.Errorf("waived = %b, want given name and document (birth dates 1 %% < %v)", got, minNoiseRate)
	}

	// A placeholder number on five records anchors nothing.
	var recs []Record
	for i := range maxAnchorGroup + 1 {
		recs = append(recs, rec(fmt.Sprint("x", i), "first_name", firstNames[i], "last_name", "smith",
			"birth_date", fmt.Sprintf("19%d0-01-01", 4+i), "national_id", "0000000"))
	}
	if n := measureNoise(prepAll(t, recs)); n != (Noise{}) {
		t.Errorf("placeholder document: noise = %+v, want none", n)
	}
}

// TestFieldNoiseThresholds: a veto is waived only from minNoisePairs
// anchored pairs and a rate of minNoiseRate.
func TestFieldNoiseThresholds(t *testing.T) {
	for _, tc := range []struct {
		f    FieldNoise
		want bool
	}{
		{FieldNoise{0, 0}, false},
		{FieldNoise{minNoisePairs - 1, minNoisePairs - 1}, false},
		{FieldNoise{100, 1}, false},
		{FieldNoise{100, 2}, true},
		{FieldNoise{1000, 19}, false},
		{FieldNoise{1000, 20}, true},
	} {
		if got := tc.f.noisy(); got != tc.want {
			t.Errorf("%+v noisy = %v, want %v", tc.f, got, tc.want)
		}
	}
}

// TestWaivedVetoes: the FEBRL-shaped pairs — a replaced given name (and
// document number) at one address with one surname and birth date; a
// replaced birth date and document number under one name at one address
// — are vetoed by default (twins, father and son) and not when the model
// waives the vetoes; a conflict between documents of one named issuer
// is never waived.
func TestWaivedVetoes(t *testing.T) {
	cfg := testConfig()
	p := func(r Record) *prep { return prepare(r, cfg.Rules, cfg.Region, cfg.DateOrder) }
	home := []string{"last_name", "boothroyd", "street_number", "101", "address_line", "elkington street",
		"city", "waterloo", "postcode", "6085"}
	twinA := p(rec("a", append([]string{"first_name", "lachlan", "birth_date", "1960-09-04", "national_id", "5764782"}, home...)...))
	twinB := p(rec("b", append([]string{"first_name", "daniella", "birth_date", "1960-09-04", "national_id", "7721398"}, home...)...))
	sonA := p(rec("c", append([]string{"first_name", "keaton", "birth_date", "1985-03-28", "national_id", "6634675"}, home...)...))
	sonB := p(rec("d", append([]string{"first_name", "keaton", "birth_date", "1994-07-24", "national_id", "6702216"}, home...)...))
	for _, tc := range []struct {
		name  string
		a, b  *prep
		waive vetoSet
		want  veto
	}{
		{"twins, strict", twinA, twinB, 0, vetoGivenName},
		{"twins, documents waived", twinA, twinB, waiveDocument, vetoGivenName},
		{"twins, all waived", twinA, twinB, waiveDocument | waiveBirthDate | waiveGivenName, vetoNone},
		{"father and son, strict", sonA, sonB, 0, vetoNationalID},
		{"father and son, documents waived", sonA, sonB, waiveDocument, vetoBirthDate},
		{"father and son, all waived", sonA, sonB, waiveDocument | waiveBirthDate | waiveGivenName, vetoNone},
	} {
		if got := vetoWith(tc.a, tc.b, nil, dobUnknown, tc.waive); got != tc.want {
			t.Errorf("%s: veto %q, want %q", tc.name, got, tc.want)
		}
		v := compareWaiving(tc.a, tc.b, tc.waive)
		if v.veto != tc.want {
			t.Errorf("%s: compare's veto %q, want %q", tc.name, v.veto, tc.want)
		}
	}
	us1 := p(rec("e", append([]string{"first_name", "keaton", "birth_date", "1985-03-28", "national_id", "US:6634675"}, home...)...))
	us2 := p(rec("f", append([]string{"first_name", "keaton", "birth_date", "1985-03-28", "national_id", "US:6702216"}, home...)...))
	if got := vetoWith(us1, us2, nil, dobUnknown, waiveDocument|waiveBirthDate|waiveGivenName); got != vetoNationalID {
		t.Errorf("same-issuer documents under every waiver: veto %q, want %q", got, vetoNationalID)
	}
}

// TestNoisyDataMerges: trained on a file whose document-anchored pairs
// replace given names and birth dates (as FEBRL does), the model waives
// those vetoes and a pair with a replaced given name and a replaced
// number merges; trained on the same file with clean values, it keeps
// the twins' veto and the pair apart.
func TestNoisyDataMerges(t *testing.T) {
	for _, tc := range []struct {
		name         string
		recs         []Record
		waived, same bool
	}{
		{"noisy", noisyRecords(200, 20, 10, 10), true, true},
		{"clean", noisyRecords(200, 1, 0, 10), false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			twin := []Record{
				rec("t-a", "first_name", "lachlan", "last_name", "boothroyd", "birth_date", "1960-09-04", "national_id", "5764782",
					"street_number", "101", "address_line", "elkington street", "city", "waterloo", "postcode", "6085"),
				rec("t-b", "first_name", "daniella", "last_name", "boothroyd", "birth_date", "1960-09-04", "national_id", "7721398",
					"street_number", "101", "address_line", "elkington street", "city", "waterloo", "postcode", "6085"),
			}
			recs := append(tc.recs, twin...)
			m, err := Train(recs, DefaultConfig())
			if err != nil {
				t.Fatal(err)
			}
			if got := m.waived()&waiveGivenName != 0; got != tc.waived {
				t.Fatalf("given-name veto waived = %v, want %v (noise %+v)", got, tc.waived, m.Report().Noise)
			}
			ix := NewIndex(m)
			if err := ix.Load(recs, nil); err != nil {
				t.Fatal(err)
			}
			if got := sameCluster(t, ix, "t-a", "t-b"); got != tc.same {
				e, _ := ix.Explain("t-a", "t-b")
				t.Errorf("same cluster = %v, want %v: %v", got, tc.same, e)
			}
		})
	}
}

// TestModelNoiseEncoding: a model with noise encodes as version 2 (as
// version 3 when trained by this binary, which keeps rare weights) and
// round-trips it; one without (the untrained model) keeps version 1's
// bytes; a version-2 encoding of empty noise is refused.
func TestModelNoiseEncoding(t *testing.T) {
	trained, err := Train(noisyRecords(100, 6, 3, 4), DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	old := *trained // as a binary before version 3 trained it
	old.rareOn = false
	for _, tc := range []struct {
		m     *Model
		elems int
	}{{trained, 9}, {&old, 8}} {
		m := tc.m
		b, err := m.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		d := codec.NewDecoder(b)
		if n, err := d.ArrayLen(1); err != nil || n != tc.elems {
			t.Fatalf("noisy model: array of %d (%v), want %d", n, err, tc.elems)
		}
		got, err := Unmarshal(b)
		if err != nil {
			t.Fatal(err)
		}
		if got.Report().Noise != m.Report().Noise || got.waived() != m.waived() || m.waived() == 0 {
			t.Errorf("noise after the round trip %+v, want %+v (waived %b)", got.Report().Noise, m.Report().Noise, m.waived())
		}
		if got.rareOn != m.rareOn || m.rareOn && (got.rare != m.rare || got.fullRare != m.fullRare || got.fullRareOn != m.fullRareOn) {
			t.Errorf("rare weights after the round trip: %v %v %v %v, want %v %v %v %v",
				got.rareOn, got.rare, got.fullRare, got.fullRareOn, m.rareOn, m.rare, m.fullRare, m.fullRareOn)
		}
	}

	u, err := Untrained(DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	ub, err := u.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	d := codec.NewDecoder(ub)
	if n, _ := d.ArrayLen(1); n != 7 {
		t.Fatalf("untrained model: array of %d, want version 1's 7", n)
	}
	if _, err := d.String(); err != nil {
		t.Fatal(err)
	}
	if v, _ := d.Uint(); v != 1 {
		t.Fatalf("untrained model: version %d, want 1", v)
	}

	// Forge a version-2 encoding with empty noise: the version-1 bytes
	// with the header rewritten and the element appended.
	forged := []byte{0x98}
	e := codec.NewEncoder()
	if err := codec.FirstErr(e.EncodeString(modelMagic), e.EncodeUint(2)); err != nil {
		t.Fatal(err)
	}
	forged = append(forged, e.Bytes()...)
	head := codec.NewEncoder()
	if err := codec.FirstErr(head.EncodeArrayLen(7), head.EncodeString(modelMagic), head.EncodeUint(1)); err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(ub, head.Bytes()) {
		t.Fatal("untrained encoding does not start with the version-1 header")
	}
	forged = append(forged, ub[len(head.Bytes()):]...)
	tail := codec.NewEncoder()
	if err := codec.FirstErr(tail.EncodeArrayLen(3), tail.EncodeArrayLen(2), tail.EncodeInt(0), tail.EncodeInt(0),
		tail.EncodeArrayLen(2), tail.EncodeInt(0), tail.EncodeInt(0), tail.EncodeArrayLen(2), tail.EncodeInt(0), tail.EncodeInt(0)); err != nil {
		t.Fatal(err)
	}
	forged = append(forged, tail.Bytes()...)
	if _, err := Unmarshal(forged); !errors.Is(err, ErrBadModel) {
		t.Errorf("version 2 with empty noise: Unmarshal = %v, want ErrBadModel", err)
	}
}
