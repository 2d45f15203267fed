package importer

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"regexp"
	"strconv"
	"time"
)

// stamp finds a date and time in a name: 20260101_120000,
// 2026-01-01T12:00:00Z, 2026-01-01_12-00-00, 2026-01-01 12:00:00.5+01:00,
// 20260101T120000. The date's two separators must agree, and the date
// must be a real one, so that most runs of digits (ids) are not taken for
// a time.
var stamp = regexp.MustCompile(`(\d{4})(-?)(\d{2})(-?)(\d{2})[T_ .-]?(\d{2})[:.-]?(\d{2})[:.-]?(\d{2})(\.\d{1,9})?(Z|[+-]\d{2}:?\d{2})?`)

// dateOnly is a name holding only a day: 2026-01-01.
var dateOnly = regexp.MustCompile(`(\d{4})-(\d{2})-(\d{2})`)

// ParseTime reads a time the way backup tools write one, in a name or in
// a --time flag: RFC 3339, or one of stamp's forms, or a bare date (its
// midnight). A time without a zone is local time, which is what tools
// that name directories after datetime.now() write.
func ParseTime(s string) (time.Time, bool) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, true
	}
	if m := stamp.FindStringSubmatch(s); m != nil && m[2] == m[4] {
		t, err := stampTime(m)
		return t, err == nil
	}
	if m := dateOnly.FindStringSubmatch(s); m != nil {
		t, err := time.ParseInLocation("2006-01-02", m[0], time.Local)
		return t, err == nil
	}
	return time.Time{}, false
}

func stampTime(m []string) (time.Time, error) {
	n := func(s string) int { v, _ := strconv.Atoi(s); return v }
	loc := time.Local
	switch z := m[10]; {
	case z == "Z":
		loc = time.UTC
	case z != "":
		h, mm := n(z[1:3]), n(z[len(z)-2:])
		off := (h*60 + mm) * 60
		if z[0] == '-' {
			off = -off
		}
		loc = time.FixedZone("", off)
	}
	ns := 0
	if f := m[9]; f != "" {
		frac := f[1:] + "000000000"
		ns = n(frac[:9])
	}
	year, month, day, hour, min, sec := n(m[1]), n(m[3]), n(m[5]), n(m[6]), n(m[7]), n(m[8])
	t := time.Date(year, time.Month(month), day, hour, min, sec, ns, loc)
	// time.Date normalises 2026-13-45; a name like that is not a time.
	if t.Month() != time.Month(month) || t.Day() != day || t.Hour() != hour || t.Minute() != min || t.Second() != sec {
		return time.Time{}, errors.New("not a valid date")
	}
	return t, nil
}

// manifestKeys are the fields a snapshot directory's manifest.json may
// carry its time in, in the order they are tried.
var manifestKeys = []string{"timestamp", "created_at", "created", "time", "date"}

// ManifestName is the file a directory-per-snapshot layout describes each
// snapshot in; it belongs to the layout, not to the backed-up state, and
// is not imported.
const ManifestName = "manifest.json"

// manifestTime reads the time from a manifest.json: a JSON object whose
// timestamp (or created_at, created, time, date) is a string ParseTime
// reads or a number of Unix seconds (milliseconds when it is that large).
func manifestTime(file string) (time.Time, bool, error) {
	data, err := os.ReadFile(file)
	if errors.Is(err, os.ErrNotExist) {
		return time.Time{}, false, nil
	}
	if err != nil {
		return time.Time{}, false, fmt.Errorf("read manifest: %w", err)
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(data, &m) != nil {
		return time.Time{}, false, nil // not a layout's manifest: just a file
	}
	for _, k := range manifestKeys {
		raw, ok := m[k]
		if !ok {
			continue
		}
		var s string
		if json.Unmarshal(raw, &s) == nil {
			if t, ok := ParseTime(s); ok {
				return t, true, nil
			}
			continue
		}
		var f float64
		if json.Unmarshal(raw, &f) == nil && f > 0 && f < math.MaxInt64/1e9 {
			if f > 1e12 { // milliseconds: seconds this large are after year 33000
				f /= 1000
			}
			sec, frac := math.Modf(f)
			return time.Unix(int64(sec), int64(frac*1e9)), true, nil
		}
	}
	return time.Time{}, false, nil
}
