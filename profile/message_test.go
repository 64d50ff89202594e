package profile

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"pgregory.net/rapid"
)

func parseOpts() ParseOptions { return ParseOptions{Normalize: DefaultNormalizeOptions()} }

func TestParseTime(t *testing.T) {
	tests := []struct {
		in   string
		want time.Time
		ok   bool
	}{
		{"2015-02-23T22:28:55.111Z", time.Date(2015, 2, 23, 22, 28, 55, 111e6, time.UTC), true},
		{"2015-2-02T00:30:08.276Z", time.Date(2015, 2, 2, 0, 30, 8, 276e6, time.UTC), true},
		{"2015-02-23T22:28:55+01:00", time.Date(2015, 2, 23, 21, 28, 55, 0, time.UTC), true},
		{"2015-02-23T22:28:55-0130", time.Date(2015, 2, 23, 23, 58, 55, 0, time.UTC), true},
		{"2015-02-23T22:28:55", time.Date(2015, 2, 23, 22, 28, 55, 0, time.UTC), true},
		{"2015-02-23", time.Date(2015, 2, 23, 0, 0, 0, 0, time.UTC), true},
		{"2015-02-30T00:00:00Z", time.Time{}, false},
		{"yesterday", time.Time{}, false},
		{"2015-13-01T00:00:00Z", time.Time{}, false},
		{"", time.Time{}, false},
	}
	for _, tt := range tests {
		got, err := ParseTime(tt.in)
		if (err == nil) != tt.ok || (tt.ok && !got.Equal(tt.want)) {
			t.Errorf("ParseTime(%q) = %v, %v; want %v ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

func TestClockSkewRule(t *testing.T) {
	received := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	// The device's clock is 1 h behind; the event happened 5 minutes
	// before it was sent (replayed from an offline queue).
	m, err := ParseMessage([]byte(`{"type":"track","userId":"u","event":"E",
		"originalTimestamp":"2026-01-01T10:55:00Z","sentAt":"2026-01-01T11:00:00Z"}`), "", received, parseOpts())
	if err != nil {
		t.Fatal(err)
	}
	if want := received.Add(-5 * time.Minute); !m.Timestamp.Equal(want) {
		t.Fatalf("Timestamp = %v, want receivedAt − (sentAt − originalTimestamp) = %v", m.Timestamp, want)
	}
	m, _ = ParseMessage([]byte(`{"type":"track","userId":"u","event":"E","timestamp":"2030-01-01T00:00:00Z"}`), "", received, parseOpts())
	if !m.Timestamp.Equal(received) {
		t.Fatalf("future timestamp = %v, want clamped to receivedAt", m.Timestamp)
	}
}

func TestParseBatchMergesEnvelopeContext(t *testing.T) {
	body := `{"batch":[{"type":"track","userId":"u","event":"E","context":{"ip":"1.2.3.4"}},
		{"type":"identify","anonymousId":"a","context":{"device":{"id":"d1"}}}],
		"context":{"device":{"type":"phone"},"ip":"9.9.9.9"}}`
	b, err := ParseBatch([]byte(body), t0, parseOpts())
	if err != nil || len(b.Rejected) != 0 {
		t.Fatal(err, b.Rejected)
	}
	ms := b.Messages
	if ms[0].Context["ip"] != "1.2.3.4" || ms[0].Context["device"] == nil {
		t.Errorf("item 0 context = %v, want own ip and the envelope's device", ms[0].Context)
	}
	if len(ms[1].Identifiers) != 2 || ms[1].Identifiers[1].Type != DeviceID {
		t.Errorf("item 1 identifiers = %v, want anonymous_id and device_id", ms[1].Identifiers)
	}
}

func TestIdentifiersNormalized(t *testing.T) {
	m := msg(t, `{"type":"identify","userId":" u1 ","traits":{"email":"  Ann@Example.COM ","phone":"(415) 555-2671"},
		"context":{"externalIds":[{"id":"GA1.2.3","type":"ga_client_id","collection":"users","encoding":"none"}]}}`)
	want := []string{"email:ann@example.com", "ga_client_id:GA1.2.3", "phone:+14155552671", "user_id:u1"}
	var got []string
	for _, id := range m.Identifiers {
		got = append(got, id.Key())
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("identifiers = %v, want %v", got, want)
	}
	// Region: a UK national number with a GB default.
	v, err := NormalizePhone("020 7946 0958", "GB")
	if err != nil || v != "+442079460958" {
		t.Fatalf("NormalizePhone(GB) = %q, %v", v, err)
	}
}

// Every bad input is rejected with an error naming the field, and never
// echoing the value.
func TestParseRejects(t *testing.T) {
	deep := strings.Repeat(`{"a":`, 40) + "1" + strings.Repeat("}", 40)
	huge := `{"type":"identify","userId":"u","traits":{"bio":"` + strings.Repeat("x", 9000) + `"}}`
	many := `{"type":"identify","userId":"u","traits":{` + strings.TrimSuffix(strings.Repeat(`"k":1,`, 1), ",")
	for i := range 301 {
		many += `,"k` + string(rune('a'+i%26)) + strings.Repeat("x", i/26) + `":1`
	}
	many += "}}"
	tests := []struct {
		name, body, field string
		tooLarge          bool
	}{
		{"malformed JSON", `{"type":"track",`, "body", false},
		{"not an object", `[1,2]`, "body", false},
		{"wrong type userId", `{"type":"track","userId":{"x":1},"event":"E"}`, "userId", false},
		{"wrong type traits", `{"type":"identify","userId":"u","traits":"rich"}`, "traits", false},
		{"no user", `{"type":"track","event":"E"}`, "userId", false},
		{"no event", `{"type":"track","userId":"u"}`, "event", false},
		{"no groupId", `{"type":"group","userId":"u"}`, "groupId", false},
		{"alias without previousId", `{"type":"alias","userId":"u"}`, "previousId", false},
		{"unknown type", `{"type":"purchase","userId":"u"}`, "type", false},
		{"missing type", `{"userId":"u"}`, "type", false},
		{"invalid email", `{"type":"identify","userId":"u","traits":{"email":"ann at example"}}`, "traits.email", false},
		{"invalid phone", `{"type":"identify","userId":"u","traits":{"phone":"12"}}`, "traits.phone", false},
		{"bad timestamp", `{"type":"track","userId":"u","event":"E","timestamp":"last tuesday"}`, "timestamp", false},
		{"long messageId", `{"type":"track","userId":"u","event":"E","messageId":"` + strings.Repeat("m", 101) + `"}`, "messageId", false},
		{"invalid UTF-8", "{\"type\":\"track\",\"userId\":\"u\xff\",\"event\":\"E\"}", "body", false},
		{"deep nesting", `{"type":"track","userId":"u","event":"E","properties":` + deep + `}`, "body", false},
		{"huge trait", huge, "traits.bio", false},
		{"too many traits", many, "traits", false},
		{"oversize event", `{"type":"track","userId":"u","event":"E","properties":{"p":"` + strings.Repeat("x", MaxEventBytes) + `"}}`, "body", true},
		{"consent not bool", `{"type":"track","userId":"u","event":"E","context":{"consent":{"categoryPreferences":{"ads":"yes"}}}}`, "context.consent.categoryPreferences.ads", false},
		{"externalIds without type", `{"type":"track","userId":"u","event":"E","context":{"externalIds":[{"id":"x"}]}}`, "context.externalIds[0].type", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseMessage([]byte(tt.body), "", t0, parseOpts())
			if err == nil {
				t.Fatal("accepted, want an error")
			}
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v does not match ErrInvalid", err)
			}
			if errors.Is(err, ErrTooLarge) != tt.tooLarge {
				t.Fatalf("errors.Is(err, ErrTooLarge) = %v, want %v", !tt.tooLarge, tt.tooLarge)
			}
			var fe *FieldError
			var le *LimitError
			switch {
			case errors.As(err, &fe):
				if fe.Field != tt.field {
					t.Fatalf("field = %q, want %q (%v)", fe.Field, tt.field, err)
				}
			case errors.As(err, &le):
				if le.Field != tt.field {
					t.Fatalf("field = %q, want %q (%v)", le.Field, tt.field, err)
				}
			default:
				t.Fatalf("error %T %v names no field", err, err)
			}
			for _, secret := range []string{"ann at example", "last tuesday"} {
				if strings.Contains(err.Error(), secret) {
					t.Fatalf("error %q echoes the value", err)
				}
			}
		})
	}
}

func TestParseBatchRejects(t *testing.T) {
	item := `{"type":"track","userId":"u","event":"E"}`
	over := `{"batch":[` + strings.TrimSuffix(strings.Repeat(item+",", MaxBatchEvents+1), ",") + `]}`
	tests := []struct{ name, body, field string }{
		{"no batch", `{"context":{}}`, "batch"},
		{"batch not array", `{"batch":{}}`, "batch"},
		{"empty", `{"batch":[]}`, "batch"},
		{"sentAt not a time", `{"sentAt":"soon","batch":[` + item + `]}`, "sentAt"},
		{"too many events", over, "batch"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseBatch([]byte(tt.body), t0, parseOpts())
			var fe *FieldError
			var le *LimitError
			switch {
			case errors.As(err, &fe):
				if fe.Field != tt.field {
					t.Fatalf("field = %q, want %q", fe.Field, tt.field)
				}
			case errors.As(err, &le):
				if le.Field != tt.field {
					t.Fatalf("field = %q, want %q", le.Field, tt.field)
				}
			default:
				t.Fatalf("error = %v, want a field error", err)
			}
		})
	}
}

// specDir finds ../shared/data/segment-spec from the repository.
func specDir(tb testing.TB) string {
	tb.Helper()
	dir, _ := os.Getwd()
	for range 6 {
		p := filepath.Join(dir, "..", "shared", "data", "segment-spec")
		if _, err := os.Stat(p); err == nil {
			return p
		}
		dir = filepath.Dir(dir)
	}
	tb.Skip("shared/data/segment-spec not found beside the repository")
	return ""
}

// TestSegmentSpecFixtures parses every documented payload: accepted when
// Segment's HTTP API would accept it, else rejected naming the field.
func TestSegmentSpecFixtures(t *testing.T) {
	dir := specDir(t)
	files, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	if len(files) != 30 {
		t.Fatalf("found %d fixtures, want 30", len(files))
	}
	rejected := map[string]string{ // documented without any user ID
		"track-minimal.json":  "userId",
		"page-minimal.json":   "userId",
		"screen-minimal.json": "userId",
		"group-minimal.json":  "userId",
	}
	for _, f := range files {
		name := filepath.Base(f)
		t.Run(name, func(t *testing.T) {
			body, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			var kind Kind
			if k, _, ok := strings.Cut(name, "-"); ok && strings.Contains(name, "http-api") && k != "batch" {
				kind = Kind(k) // the endpoint sets the type
			}
			if name == "batch-http-api.json" {
				b, err := ParseBatch(body, t0, parseOpts())
				if err != nil || len(b.Messages) != 4 {
					t.Fatalf("ParseBatch = %+v, %v", b, err)
				}
				ms := b.Messages
				if ms[2].Timestamp.Month() != 2 || ms[2].Context["device"] == nil {
					t.Fatalf("item 2: timestamp %v context %v", ms[2].Timestamp, ms[2].Context)
				}
				return
			}
			m, err := ParseMessage(body, kind, t0, parseOpts())
			if field, ok := rejected[name]; ok {
				var fe *FieldError
				if !errors.As(err, &fe) || fe.Field != field {
					t.Fatalf("err = %v, want rejection naming %s", err, field)
				}
				return
			}
			if err != nil {
				t.Fatalf("rejected: %v", err)
			}
			if len(m.Identifiers) == 0 || m.MessageID == "" {
				t.Fatalf("no identifiers (%v) or messageId (%q)", m.Identifiers, m.MessageID)
			}
		})
	}
}

func FuzzParseMessage(f *testing.F) {
	f.Add([]byte(`{"type":"identify","userId":"u","traits":{"email":"a@b.co","phone":"+14155552671"}}`))
	f.Add([]byte(`{"type":"track","anonymousId":"a","event":"Order Completed","properties":{"total":"1.5","products":[{"category":"x"}]},"context":{"externalIds":[{"id":"1","type":"crm"}],"consent":{"categoryPreferences":{"a":true}}}}`))
	f.Add([]byte(`{"action":"track","userId":1,"event":"E","originalTimestamp":"2015-2-2T1:2:3Z","sentAt":"2015-02-02T01:02:04+01:00"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ParseMessage(b, "", t0, parseOpts())
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v is not ErrInvalid", err)
			}
			return
		}
		if m.MessageID == "" || (m.UserID == "" && m.AnonymousID == "") {
			t.Fatalf("accepted message without messageId or user: %+v", m)
		}
		p := New("p")
		p.Apply(m, m.Identifiers, Source{Node: 1}, cTS())
		if _, err := p.Marshal(); err != nil {
			t.Fatal(err)
		}
	})
}

func FuzzParseBatch(f *testing.F) {
	f.Add([]byte(`{"batch":[{"type":"track","userId":"u","event":"E"}],"context":{"ip":"1.1.1.1"},"sentAt":"2020-01-01T00:00:00Z"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		bt, err := ParseBatch(b, t0, parseOpts())
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v is not ErrInvalid", err)
			}
			return
		}
		n := len(bt.Messages) + len(bt.Rejected)
		if n == 0 || n > MaxBatchEvents || len(bt.Index) != len(bt.Messages) {
			t.Fatalf("accepted batch of %d items (%d valid, %d indexes)", n, len(bt.Messages), len(bt.Index))
		}
		for _, r := range bt.Rejected {
			if !errors.Is(r.Err, ErrInvalid) {
				t.Fatalf("item %d error %v is not ErrInvalid", r.Index, r.Err)
			}
		}
	})
}

func FuzzParseTime(f *testing.F) {
	f.Add("2015-2-02T00:30:08.276Z")
	f.Add("2015-02-23T22:28:55-0130")
	f.Fuzz(func(t *testing.T, s string) {
		tm, err := ParseTime(s)
		if err == nil && tm.Location() != time.UTC {
			t.Fatalf("ParseTime(%q) not in UTC", s)
		}
	})
}

// traitValueFits says what measuring encoding/json's encoding says, on
// scalars it decides without encoding and on the ones it encodes.
func TestTraitValueFits(t *testing.T) {
	measured := func(v any) bool {
		n, err := encodedSize(v)
		return err == nil && n <= MaxTraitValueBytes
	}
	for _, v := range []any{nil, true, json.Number("12.5e3"), "", strings.Repeat("x", MaxTraitValueBytes-2),
		strings.Repeat("x", MaxTraitValueBytes-1), strings.Repeat("<", MaxTraitValueBytes/6), strings.Repeat("\x01", 1400),
		map[string]any{"a": strings.Repeat("y", MaxTraitValueBytes)}, []any{"a", json.Number("1")}} {
		if got, want := traitValueFits(v), measured(v); got != want {
			t.Errorf("traitValueFits(%.40v…) = %v, encoding says %v", v, got, want)
		}
	}
	rapid.Check(t, func(rt *rapid.T) {
		s := rapid.StringOfN(rapid.SampledFrom([]rune{'a', 'é', '<', '&', '"', '\\', '\n', 0x01, '\u2028', '中'}), 0, MaxTraitValueBytes, -1).Draw(rt, "s")
		if got, want := traitValueFits(s), measured(s); got != want {
			rt.Fatalf("traitValueFits of a %d-byte string = %v, encoding says %v", len(s), got, want)
		}
	})
}
