package identity

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestNormalizeName(t *testing.T) {
	tests := []struct{ in, want string }{
		{"Ann-Marie", "annmarie"},
		{"Annmarie", "annmarie"},
		{" Ann Marie ", "annmarie"},
		{"O'Neil", "oneil"},
		{"Zoë", "zoe"},
		{"MÜLLER", "muller"},
		{"", ""},
		{"  -- ", ""},
	}
	for _, tt := range tests {
		if got := NormalizeName(tt.in); got != tt.want {
			t.Errorf("NormalizeName(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestSplitFullName(t *testing.T) {
	tests := []struct{ in, first, middle, last string }{
		{"Robert Smith", "robert", "", "smith"},
		{"Smith, Bob", "bob", "", "smith"},
		{"Dr. Ann-Marie Louise O'Neil Jr.", "annmarie", "louise", "oneil"},
		{"Cher", "cher", "", ""},
		// Ordinals are generations or ranks, never name parts, and a
		// clause after the comma that starts with one (or a suffix) is
		// not "Last, First".
		{"John Smith 3rd", "john", "", "smith"},
		{"John Smith, 3rd", "john", "", "smith"},
		{"John Smith, Jr.", "john", "", "smith"},
		{"Sir John Marsham, 1st Baronet", "john", "", "marsham"},
		{"", "", "", ""},
		// Surname particles join the surname, as the name columns
		// have it ("Mc Carthy" → "mccarthy"); a word that is also a
		// given or family name ("Van", "Le") only inside a run.
		{"Bríd Mc Carthy", "brid", "", "mccarthy"},
		{"Paddy Mc Carthy", "paddy", "", "mccarthy"},
		{"Mc Carthy, Bríd", "brid", "", "mccarthy"},
		{"Mary Ann O Brien", "mary", "ann", "obrien"},
		{"Juan de la Cruz", "juan", "", "delacruz"},
		{"Ludwig van der Berg", "ludwig", "", "vanderberg"},
		{"Ana Da Silva", "ana", "", "dasilva"},
		{"An Van Nguyen", "an", "van", "nguyen"},
		{"Minh Le Tran", "minh", "le", "tran"},
		{"Tuan Le", "tuan", "", "le"},
		{"De Luca", "de", "", "luca"},
	}
	for _, tt := range tests {
		f, m, l := SplitFullName(tt.in)
		if f != tt.first || m != tt.middle || l != tt.last {
			t.Errorf("SplitFullName(%q) = %q, %q, %q, want %q, %q, %q", tt.in, f, m, l, tt.first, tt.middle, tt.last)
		}
	}
}

func TestNormalizeGenderAndCodes(t *testing.T) {
	for in, want := range map[string]string{"M": "m", "male": "m", "Female": "f", "f": "f", "": "", "unknown": ""} {
		if got := NormalizeGender(in); got != want {
			t.Errorf("NormalizeGender(%q) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[string]string{"123-45-6789": "123456789", "SW1A 1AA": "sw1a1aa", " ": ""} {
		if got := NormalizeCode(in); got != want {
			t.Errorf("NormalizeCode(%q) = %q, want %q", in, got, want)
		}
	}
	if got, want := NormalizeAddress("12 Main St."), "12 main street"; got != want {
		t.Errorf("NormalizeAddress = %q, want %q", got, want)
	}
	// The USPS's street-type abbreviations (Publication 28, C1).
	for short, long := range map[string]string{"4359 Garden Ter": "4359 Garden Terrace", "8 Oak Cir": "8 Oak Circle",
		"1 Lake Pkwy": "1 Lake Parkway", "9 Elm Trl": "9 Elm Trail"} {
		if a, b := NormalizeAddress(short), NormalizeAddress(long); a != b {
			t.Errorf("NormalizeAddress(%q) = %q, NormalizeAddress(%q) = %q", short, a, long, b)
		}
	}
}

func TestParseBirthDate(t *testing.T) {
	tests := []struct {
		in    string
		order DateOrder
		want  []string
	}{
		{"19800314", DateAuto, []string{"19800314"}},
		{"1980-03-14", DateAuto, []string{"19800314"}},
		{"1980/3/4", DateAuto, []string{"19800304"}},
		{"3/14/1980", DateAuto, []string{"19800314"}},              // only M/D reads it
		{"14/3/1980", DateAuto, []string{"19800314"}},              // only D/M reads it
		{"03/04/1980", DateAuto, []string{"19800304", "19800403"}}, // ambiguous: both
		{"03/04/1980", DateMDY, []string{"19800304"}},
		{"03/04/1980", DateDMY, []string{"19800403"}},
		{"04/04/1980", DateAuto, []string{"19800404"}},
		{"1980-03-14T00:00:00Z", DateAuto, []string{"19800314"}},
		{"", DateAuto, nil},
		{"not a date", DateAuto, nil},
		{"1980-13-40", DateAuto, nil},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, ParseBirthDate(tt.in, tt.order)); diff != "" {
			t.Errorf("ParseBirthDate(%q, %d) (-want +got):\n%s", tt.in, tt.order, diff)
		}
	}
}

func TestDetectDateOrder(t *testing.T) {
	tests := []struct {
		in   []string
		want DateOrder
	}{
		{[]string{"03/04/1980", "12/25/1990"}, DateMDY},
		{[]string{"03/04/1980", "25/12/1990"}, DateDMY},
		{[]string{"03/04/1980", "01/02/1990"}, DateAuto},
		{[]string{"12/25/1990", "25/12/1990"}, DateAuto},
		{[]string{"1990-12-25"}, DateAuto},
	}
	for _, tt := range tests {
		if got := DetectDateOrder(tt.in); got != tt.want {
			t.Errorf("DetectDateOrder(%v) = %d, want %d", tt.in, got, tt.want)
		}
	}
}
