package api

import (
	"testing"

	"ucv/hub"
	"ucv/profile"
)

// A value shows its import record only when the import wrote it: an edge
// whose events linked to the record (same fragment, another source) does
// not borrow the CRM's record ID, and masked readers get it redacted.
func TestImportRecordRef(t *testing.T) {
	rec := profile.Identifier{Type: hub.RecordIDType, Value: "crm/1001"}
	for _, tc := range []struct {
		rec    profile.Identifier
		source string
		masked bool
		want   string
	}{
		{rec, "crm", false, "record:crm/1001"},
		{rec, "crm", true, "record:" + profile.Redact("crm/1001")},
		{rec, "web", false, ""},
		{rec, "cr", false, ""}, // a prefix of the import's name is another source
		{profile.Identifier{}, "crm", false, ""},
	} {
		if got := importRecordRef(tc.rec, tc.source, tc.masked); got != tc.want {
			t.Errorf("importRecordRef(%v, %q, masked %v) = %q, want %q", tc.rec, tc.source, tc.masked, got, tc.want)
		}
	}
}
