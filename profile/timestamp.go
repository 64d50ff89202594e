package profile

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

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
