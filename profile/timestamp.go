package profile

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// DefaultMaxEventAge is the ParseOptions.MaxEventAge servers use: five
// years of 365 days (43800h).
const DefaultMaxEventAge = 5 * 365 * 24 * time.Hour

// minEventTime is the earliest time a message may carry: the Unix epoch.
// Earlier times are unset clocks (Go's zero time is year 1), not event
// times, and a timeline keyed by milliseconds since the epoch cannot
// hold them.
var minEventTime = time.Unix(0, 0).UTC()

// parseTimes sets Timestamp and SentAt from the message's times:
//
//   - timestamp, originalTimestamp and sentAt before 1970 are refused,
//     naming the field;
//   - a stated time (timestamp, or originalTimestamp without sentAt) after
//     receivedAt is clamped to receivedAt (a device clock in the future
//     cannot date events ahead); one more than maxAge before receivedAt
//     is refused, naming the field;
//   - with originalTimestamp and sentAt, Segment's skew rule
//     receivedAt − (sentAt − originalTimestamp) is computed exactly (no
//     saturating time.Sub); a result after receivedAt or further back than
//     maxAge (or 1970) means the two client times disagree beyond repair,
//     and the event is dated receivedAt.
//
// maxAge 0 means no age bound.
func (m *Message) parseTimes(o map[string]any, path string, maxAge time.Duration) error {
	get := func(name string, floor bool) (time.Time, bool, error) {
		v, ok := o[name]
		if !ok || v == nil {
			return time.Time{}, false, nil
		}
		s, ok := v.(string)
		if !ok {
			return time.Time{}, false, &FieldError{Field: path + name, Reason: "must be an ISO-8601 string"}
		}
		t, err := ParseTime(s)
		if err != nil {
			return time.Time{}, false, &FieldError{Field: path + name, Reason: err.Error()}
		}
		if floor && t.Before(minEventTime) {
			return time.Time{}, false, &FieldError{Field: path + name, Reason: "is before 1970 (an unset clock?)"}
		}
		return t, true, nil
	}
	ts, hasTS, err := get("timestamp", true)
	if err != nil {
		return err
	}
	orig, hasOrig, err := get("originalTimestamp", true)
	if err != nil {
		return err
	}
	sent, hasSent, err := get("sentAt", true)
	if err != nil {
		return err
	}
	if _, _, err := get("receivedAt", false); err != nil { // validated, but ours wins
		return err
	}
	if hasSent {
		m.SentAt = sent
	}
	recv := m.ReceivedAt
	oldest := minEventTime
	if maxAge > 0 {
		if o := recv.Add(-maxAge); o.After(oldest) {
			oldest = o
		}
	}
	stated := func(name string, t time.Time) error {
		if t.Before(oldest) {
			return &FieldError{Field: path + name, Reason: fmt.Sprintf("is more than %s before the server received it (the maximum event age)", formatAge(maxAge))}
		}
		m.Timestamp = t
		return nil
	}
	switch {
	case hasTS:
		err = stated("timestamp", ts)
	case hasOrig && hasSent:
		t, ok := skewCorrected(recv, sent, orig)
		if !ok || t.Before(oldest) {
			t = recv
		}
		m.Timestamp = t
	case hasOrig:
		err = stated("originalTimestamp", orig)
	default:
		m.Timestamp = recv
	}
	if m.Timestamp.After(recv) {
		m.Timestamp = recv
	}
	return err
}

// skewCorrected returns received − (sent − orig), computed as
// received + orig − sent in whole seconds and nanoseconds: time.Sub
// saturates at ±292 years, and negating its minimum overflows, which once
// dated events from year 2326 at 1734. ok is false if the seconds
// overflow int64.
func skewCorrected(received, sent, orig time.Time) (t time.Time, ok bool) {
	sec, ok1 := addInt64(received.Unix(), orig.Unix())
	sec, ok2 := subInt64(sec, sent.Unix())
	if !ok1 || !ok2 {
		return time.Time{}, false
	}
	nsec := int64(received.Nanosecond()) + int64(orig.Nanosecond()) - int64(sent.Nanosecond()) // in (-1e9, 2e9)
	carry := int64(0)
	switch {
	case nsec < 0:
		carry, nsec = -1, nsec+1e9
	case nsec >= 1e9:
		carry, nsec = 1, nsec-1e9
	}
	if sec, ok = addInt64(sec, carry); !ok {
		return time.Time{}, false
	}
	return time.Unix(sec, nsec).UTC(), true
}

// addInt64 returns a+b and whether it did not overflow.
func addInt64(a, b int64) (int64, bool) {
	c := a + b
	return c, (c > a) == (b > 0)
}

// subInt64 returns a−b and whether it did not overflow.
func subInt64(a, b int64) (int64, bool) {
	c := a - b
	return c, (c < a) == (b > 0)
}

// formatAge writes a duration of whole days as "N days".
func formatAge(d time.Duration) string {
	if day := 24 * time.Hour; d%day == 0 {
		return fmt.Sprintf("%d days", d/day)
	}
	return d.String()
}

// ParseTime reads an ISO-8601 date-time as Segment clients send it:
// RFC 3339 with optional fractional seconds and zone (Z, ±HH:MM, ±HHMM;
// none means UTC), tolerating month, day and hour without zero padding
// ("2015-2-02T00:30:08.276Z", as in Segment's own docs) and a bare date.
func ParseTime(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC(), nil
	}
	bad := func() (time.Time, error) { return time.Time{}, fmt.Errorf("not an ISO-8601 date-time") }
	date, rest, hasTime := strings.Cut(s, "T")
	if !hasTime {
		date, rest, hasTime = strings.Cut(s, " ")
	}
	ymd := strings.Split(date, "-")
	if len(ymd) != 3 || len(ymd[0]) != 4 {
		return bad()
	}
	nums := make([]int, 0, 6)
	for i, p := range ymd {
		n, err := strconv.Atoi(p)
		if err != nil || p == "" || len(p) > 4 || (i > 0 && len(p) > 2) || n < 0 {
			return bad()
		}
		nums = append(nums, n)
	}
	loc := time.UTC
	var hh, mm, ss, nanos int
	if hasTime {
		// Split off the zone.
		zone := ""
		if strings.HasSuffix(rest, "Z") || strings.HasSuffix(rest, "z") {
			rest = rest[:len(rest)-1]
		} else if i := strings.LastIndexAny(rest, "+-"); i > 0 {
			rest, zone = rest[:i], rest[i:]
		}
		clock, frac, _ := strings.Cut(rest, ".")
		parts := strings.Split(clock, ":")
		if len(parts) < 2 || len(parts) > 3 {
			return bad()
		}
		vals := []*int{&hh, &mm, &ss}
		for i, p := range parts {
			n, err := strconv.Atoi(p)
			if err != nil || p == "" || len(p) > 2 || n < 0 {
				return bad()
			}
			*vals[i] = n
		}
		if frac != "" {
			if len(frac) > 9 {
				frac = frac[:9]
			}
			n, err := strconv.Atoi(frac)
			if err != nil || n < 0 {
				return bad()
			}
			for range 9 - len(frac) {
				n *= 10
			}
			nanos = n
		}
		if zone != "" {
			sign := 1
			if zone[0] == '-' {
				sign = -1
			}
			z := strings.ReplaceAll(zone[1:], ":", "")
			if len(z) != 4 && len(z) != 2 {
				return bad()
			}
			zh, err1 := strconv.Atoi(z[:2])
			zm := 0
			var err2 error
			if len(z) == 4 {
				zm, err2 = strconv.Atoi(z[2:])
			}
			if err1 != nil || err2 != nil || zh > 23 || zm > 59 {
				return bad()
			}
			loc = time.FixedZone("", sign*(zh*3600+zm*60))
		}
	}
	y, mo, d := nums[0], nums[1], nums[2]
	if mo < 1 || mo > 12 || d < 1 || d > 31 || hh > 23 || mm > 59 || ss > 60 {
		return bad()
	}
	t := time.Date(y, time.Month(mo), d, hh, mm, ss, nanos, loc)
	if t.Day() != d { // 31 February and the like
		return bad()
	}
	return t.UTC(), nil
}
