package profile

import (
	"errors"
	"fmt"
	"math/big"
	"testing"
	"time"

	"pgregory.net/rapid"
)

func boundedOpts() ParseOptions {
	o := parseOpts()
	o.MaxEventAge = DefaultMaxEventAge
	return o
}

func iso(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// Skew correction is exact, and a result outside [receivedAt − max age,
// receivedAt] dates the event at receivedAt instead of wrapping around.
func TestClockSkewBounds(t *testing.T) {
	recv := t0
	year := 365 * 24 * time.Hour
	tests := []struct {
		name       string
		orig, sent string
		opts       ParseOptions
		want       time.Time
	}{
		// Was stored as 1734: Sub saturated at +292 years, and the
		// negation of the correction overflowed.
		{"original in 2326, sentAt now", "2326-01-01T00:00:00Z", iso(recv), boundedOpts(), recv},
		{"sentAt in 9999", iso(recv.Add(-time.Minute)), "9999-01-01T00:00:00Z", boundedOpts(), recv},
		{"sentAt in 9999, no age bound", iso(recv.Add(-time.Minute)), "9999-12-31T23:59:59Z", parseOpts(), recv},
		{"clock reset to 1970", "1970-01-01T00:05:00Z", "1970-01-01T00:10:00.5Z", boundedOpts(), recv.Add(-5*time.Minute - 500*time.Millisecond)},
		{"clock an hour behind", iso(recv.Add(-65 * time.Minute)), iso(recv.Add(-time.Hour)), boundedOpts(), recv.Add(-5 * time.Minute)},
		{"queued six years", iso(recv.Add(-6 * year)), iso(recv), boundedOpts(), recv},
		{"queued six years, no age bound", iso(recv.Add(-6 * year)), iso(recv), parseOpts(), recv.Add(-6 * year)},
		{"queued four years", iso(recv.Add(-4 * year)), iso(recv), boundedOpts(), recv.Add(-4 * year)},
		{"corrected into the future", iso(recv.Add(time.Hour)), iso(recv), boundedOpts(), recv},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := fmt.Sprintf(`{"type":"track","userId":"u","event":"E","originalTimestamp":%q,"sentAt":%q}`, tt.orig, tt.sent)
			m, err := ParseMessage([]byte(body), "", recv, tt.opts)
			if err != nil {
				t.Fatalf("ParseMessage: %v", err)
			}
			if !m.Timestamp.Equal(tt.want) {
				t.Fatalf("Timestamp = %v, want %v", m.Timestamp, tt.want)
			}
		})
	}
}

// A batch whose envelope sentAt is absurd dates its items at receivedAt,
// not centuries back.
func TestBatchSentAtInYear9999(t *testing.T) {
	body := `{"sentAt":"9999-01-01T00:00:00Z","batch":[
		{"type":"track","userId":"u","event":"E","originalTimestamp":"` + iso(t0.Add(-time.Minute)) + `"},
		{"type":"identify","userId":"u","originalTimestamp":"` + iso(t0.Add(-2*time.Minute)) + `"}]}`
	b, err := ParseBatch([]byte(body), t0, boundedOpts())
	if err != nil || len(b.Rejected) != 0 {
		t.Fatalf("ParseBatch = %+v, %v", b, err)
	}
	for i, m := range b.Messages {
		if !m.Timestamp.Equal(t0) {
			t.Errorf("item %d Timestamp = %v, want receivedAt %v", i, m.Timestamp, t0)
		}
	}
}

// Stated times (timestamp, or originalTimestamp without sentAt) older
// than the bound, and any time before 1970, are refused naming the field.
func TestEventTimeRefused(t *testing.T) {
	old := iso(t0.Add(-DefaultMaxEventAge - time.Hour))
	tests := []struct {
		name, times string
		opts        ParseOptions
		field       string
	}{
		{"timestamp older than the bound", `"timestamp":"` + old + `"`, boundedOpts(), "timestamp"},
		{"originalTimestamp older than the bound", `"originalTimestamp":"` + old + `"`, boundedOpts(), "originalTimestamp"},
		{"timestamp in year 1", `"timestamp":"0001-01-01T00:00:00Z"`, parseOpts(), "timestamp"},
		{"timestamp in 1969", `"timestamp":"1969-12-31T23:59:59Z"`, parseOpts(), "timestamp"},
		{"originalTimestamp in year 1 with sentAt", `"originalTimestamp":"0001-01-01T00:00:00Z","sentAt":"` + iso(t0) + `"`, boundedOpts(), "originalTimestamp"},
		{"sentAt in year 1", `"originalTimestamp":"` + iso(t0) + `","sentAt":"0001-01-01T00:00:00Z"`, boundedOpts(), "sentAt"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseMessage([]byte(`{"type":"track","userId":"u","event":"E",`+tt.times+`}`), "", t0, tt.opts)
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field != tt.field {
				t.Fatalf("err = %v, want a FieldError naming %s", err, tt.field)
			}
		})
	}
	// Just inside the bound is accepted as stated.
	in := t0.Add(-DefaultMaxEventAge + time.Hour)
	m, err := ParseMessage([]byte(`{"type":"track","userId":"u","event":"E","timestamp":"`+iso(in)+`"}`), "", t0, boundedOpts())
	if err != nil || !m.Timestamp.Equal(in) {
		t.Fatalf("timestamp inside the bound = %v, %v; want %v", m, err, in)
	}
}

// For any two client times and any receipt time, the event time is the
// exact skew rule when that lands inside [receivedAt − max age,
// receivedAt], and receivedAt otherwise.
func TestSkewCorrectionProperty(t *testing.T) {
	lo, hi := time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC).Unix(), time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC).Unix()
	rapid.Check(t, func(t *rapid.T) {
		draw := func(name string) time.Time {
			return time.Unix(rapid.Int64Range(lo, hi).Draw(t, name), rapid.Int64Range(0, 999).Draw(t, name+"ms")*1e6).UTC()
		}
		orig, sent := draw("orig"), draw("sent")
		recv := time.Unix(rapid.Int64Range(lo, time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC).Unix()).Draw(t, "recv"), 0).UTC()
		opts := parseOpts()
		if rapid.Bool().Draw(t, "bounded") {
			opts.MaxEventAge = DefaultMaxEventAge
		}
		body := fmt.Sprintf(`{"type":"track","userId":"u","event":"E","originalTimestamp":%q,"sentAt":%q}`, iso(orig), iso(sent))
		m, err := ParseMessage([]byte(body), "", recv, opts)
		if err != nil {
			t.Fatalf("ParseMessage: %v", err)
		}
		// Exact: recv + orig − sent in nanoseconds, with big integers.
		ns := func(x time.Time) *big.Int {
			return new(big.Int).Add(new(big.Int).Mul(big.NewInt(x.Unix()), big.NewInt(1e9)), big.NewInt(int64(x.Nanosecond())))
		}
		exact := new(big.Int).Sub(new(big.Int).Add(ns(recv), ns(orig)), ns(sent))
		oldest := ns(minEventTime)
		if opts.MaxEventAge > 0 && recv.Add(-opts.MaxEventAge).After(minEventTime) {
			oldest = ns(recv.Add(-opts.MaxEventAge))
		}
		want := ns(recv)
		if exact.Cmp(oldest) >= 0 && exact.Cmp(want) <= 0 {
			want = exact
		}
		if got := ns(m.Timestamp); got.Cmp(want) != 0 {
			t.Fatalf("Timestamp = %v (%s ns), want %s ns", m.Timestamp, got, want)
		}
	})
}
