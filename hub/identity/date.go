package identity

import (
	"strconv"
	"strings"
)

// DateOrder says how to read a slashed or dotted date whose first two
// parts are both at most 12.
type DateOrder uint8

// Date orders.
const (
	// DateAuto keeps both readings of an ambiguous date ("03/04/1990" is
	// 1990-03-04 or 1990-04-03); comparisons use the better one. Dates
	// that only one order can read (13/04/1990) are read that way.
	DateAuto DateOrder = iota
	// DateMDY reads a/b/yyyy as month/day (US).
	DateMDY
	// DateDMY reads a/b/yyyy as day/month.
	DateDMY
)

// ParseBirthDate reads YYYYMMDD, YYYY-MM-DD (or / .), M/D/YYYY and
// D/M/YYYY (or - .; a two-digit year gives both 19YY and 20YY), dates
// with an English month name ("Dec 3 1985", "3 December 1985",
// "3-Dec-85", "1985 Dec 3") and returns up to four candidate dates as 8-digit
// "YYYYMMDD" strings, or nil when s is empty or not a date. Eight digits
// are kept even when month or day are out of range, because such values
// are usually typos of a real date and still compare well by edit
// distance.
func ParseBirthDate(s string, order DateOrder) []string {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil
	}
	if ds := parseMonthName(s); ds != nil {
		return ds
	}
	if i := strings.IndexAny(s, "T "); i > 0 { // drop a time part
		s = s[:i]
	}
	if len(s) == 8 && allDigits(s) {
		return []string{s}
	}
	parts := strings.FieldsFunc(s, func(r rune) bool { return r == '-' || r == '/' || r == '.' })
	if len(parts) != 3 {
		return nil
	}
	n := [3]int{}
	for i, p := range parts {
		if !allDigits(p) || len(p) > 4 {
			return nil
		}
		n[i], _ = strconv.Atoi(p)
	}
	if len(parts[0]) == 4 { // Y M D
		if !validMD(n[1], n[2]) {
			return nil
		}
		return []string{fmtDate(n[0], n[1], n[2])}
	}
	if len(parts[2]) != 4 && len(parts[2]) != 2 {
		return nil
	}
	if len(parts[2]) == 4 {
		return dayMonth(n[2], n[0], n[1], order)
	}
	// A two-digit year could be either century: "11/7/10" is 2010 for a
	// child and 1910 for a great-grandmother. Both are candidates, and a
	// comparison takes the one that agrees. (A fixed pivot would date a
	// record by the year the rule was written, and "now" would make the
	// hub's replicas parse one record two ways across a New Year.)
	old := dayMonth(1900+n[2], n[0], n[1], order)
	if old == nil {
		return nil
	}
	return append(old, dayMonth(2000+n[2], n[0], n[1], order)...)
}

// dayMonth returns the candidate dates of year y with a/b read as
// month/day or day/month (as order says; both when either reading is
// valid and order is DateAuto), nil when neither is a valid month and
// day.
func dayMonth(y, a, b int, order DateOrder) []string {
	mdy, dmy := validMD(a, b), validMD(b, a)
	switch {
	case mdy && dmy && a != b:
		switch order {
		case DateMDY:
			return []string{fmtDate(y, a, b)}
		case DateDMY:
			return []string{fmtDate(y, b, a)}
		}
		x, z := fmtDate(y, a, b), fmtDate(y, b, a)
		if z < x {
			x, z = z, x
		}
		return []string{x, z}
	case mdy && order != DateDMY || mdy && !dmy:
		return []string{fmtDate(y, a, b)}
	case dmy:
		return []string{fmtDate(y, b, a)}
	}
	return nil
}

// DetectDateOrder looks at a column of raw dates and returns DateMDY or
// DateDMY when some value can only be read one way and none only the
// other way, else DateAuto.
func DetectDateOrder(values []string) DateOrder {
	var sawMDY, sawDMY bool
	for _, v := range values {
		parts := strings.FieldsFunc(strings.TrimSpace(v), func(r rune) bool { return r == '-' || r == '/' || r == '.' })
		if len(parts) != 3 || len(parts[0]) == 4 {
			continue
		}
		a, err1 := strconv.Atoi(parts[0])
		b, err2 := strconv.Atoi(parts[1])
		if err1 != nil || err2 != nil {
			continue
		}
		if a > 12 && b <= 12 {
			sawDMY = true
		}
		if b > 12 && a <= 12 {
			sawMDY = true
		}
	}
	switch {
	case sawMDY && !sawDMY:
		return DateMDY
	case sawDMY && !sawMDY:
		return DateDMY
	}
	return DateAuto
}

func validMD(m, d int) bool { return m >= 1 && m <= 12 && d >= 1 && d <= 31 }

func fmtDate(y, m, d int) string {
	var b [8]byte
	put := func(off, n, w int) {
		for i := w - 1; i >= 0; i-- {
			b[off+i] = byte('0' + n%10)
			n /= 10
		}
	}
	put(0, y, 4)
	put(4, m, 2)
	put(6, d, 2)
	return string(b[:])
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

var monthNames = map[string]int{
	"jan": 1, "january": 1, "feb": 2, "february": 2, "mar": 3, "march": 3, "apr": 4, "april": 4,
	"may": 5, "jun": 6, "june": 6, "jul": 7, "july": 7, "aug": 8, "august": 8, "sep": 9, "sept": 9,
	"september": 9, "oct": 10, "october": 10, "nov": 11, "november": 11, "dec": 12, "december": 12,
}

// parseMonthName reads a date with a month name: the month word and two
// numbers, the one of four digits (or the last, of two: both centuries,
// as ParseBirthDate reads them) the year, the other the day. It returns
// nil for anything else.
func parseMonthName(s string) []string {
	ts := strings.FieldsFunc(strings.ToLower(s), func(r rune) bool {
		return r == ' ' || r == ',' || r == '-' || r == '/' || r == '.'
	})
	if len(ts) != 3 {
		return nil
	}
	month := 0
	var nums []int
	var lens []int
	for _, t := range ts {
		if m, ok := monthNames[t]; ok && month == 0 {
			month = m
			continue
		}
		t = strings.TrimRight(t, "stndrh") // 1st, 2nd, 3rd, 4th
		if !allDigits(t) || len(t) > 4 {
			return nil
		}
		n, _ := strconv.Atoi(t)
		nums = append(nums, n)
		lens = append(lens, len(t))
	}
	if month == 0 || len(nums) != 2 {
		return nil
	}
	var y, d int
	switch {
	case lens[0] == 4:
		y, d = nums[0], nums[1]
	case lens[1] == 4 || lens[1] == 2:
		d, y = nums[0], nums[1]
	default:
		return nil
	}
	if !validMD(month, d) {
		return nil
	}
	if lens[1] == 2 && lens[0] != 4 {
		return []string{fmtDate(1900+y, month, d), fmtDate(2000+y, month, d)}
	}
	return []string{fmtDate(y, month, d)}
}
