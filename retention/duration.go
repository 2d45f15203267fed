package retention

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Units of keep-within, as in restic's durations: y, m (months), w, d, h.
// A year is 365 days and a month 30 days, fixed lengths rather than
// calendar arithmetic, so a policy decides the same whatever the month; the
// difference is at most a day per month. There is no minute unit: "m" is a
// month, as in restic.
var durationUnits = map[byte]time.Duration{
	'y': 365 * 24 * time.Hour,
	'm': 30 * 24 * time.Hour,
	'w': 7 * 24 * time.Hour,
	'd': 24 * time.Hour,
	'h': time.Hour,
}

// ErrDuration is a keep-within duration that cannot be used.
var ErrDuration = errors.New("retention: bad duration")

// longestDays is the longest duration time.Duration holds, in days (about 292
// years).
const longestDays = int64((1<<63 - 1) / (24 * time.Hour))

// ParseDuration parses a keep-within duration such as "24h", "7d", "2w",
// "6m" or "1y2m3d4h": numbers each followed by a unit y, m (30 days), w, d
// or h. A duration too long for time.Duration (about 292 years) is an
// error, never a silent wrap-around.
func ParseDuration(s string) (time.Duration, error) {
	if s == "" {
		return 0, fmt.Errorf("%w: empty; want e.g. 24h, 7d, 2w, 6m or 1y2m (y = 365 days, m = 30 days)", ErrDuration)
	}
	var total time.Duration
	for rest := s; rest != ""; {
		i := 0
		for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
			i++
		}
		if i == 0 || i == len(rest) {
			return 0, fmt.Errorf("%w: %q; want numbers with units y, m, w, d, h, e.g. 24h, 7d or 1y2m (y = 365 days, m = 30 days)", ErrDuration, s)
		}
		unit, ok := durationUnits[rest[i]]
		if !ok {
			return 0, fmt.Errorf("%w: %q: unknown unit %q; want y, m (30 days), w, d or h", ErrDuration, s, rest[i])
		}
		n, err := strconv.ParseInt(rest[:i], 10, 64)
		if err != nil || n > int64((1<<63-1-total)/unit) {
			return 0, fmt.Errorf("%w: %q is too long (at most %dd, about 292 years)", ErrDuration, s, longestDays)
		}
		total += time.Duration(n) * unit
		rest = rest[i+1:]
	}
	if total <= 0 {
		return 0, fmt.Errorf("%w: %q is not a positive duration", ErrDuration, s)
	}
	return total, nil
}

// FormatDuration renders a keep-within duration in ParseDuration's units:
// hours below two days ("24h", "36h"), else years, days and hours ("3d",
// "1y35d", "2d12h"). A duration that is not a whole number of hours (only
// an old stored policy has one) renders in Go's form.
func FormatDuration(d time.Duration) string {
	if d <= 0 || d%time.Hour != 0 {
		return d.String()
	}
	if d < 48*time.Hour {
		return strconv.FormatInt(int64(d/time.Hour), 10) + "h"
	}
	var b strings.Builder
	for _, u := range []struct {
		unit byte
		len  time.Duration
	}{{'y', durationUnits['y']}, {'d', durationUnits['d']}, {'h', time.Hour}} {
		if n := d / u.len; n > 0 {
			fmt.Fprintf(&b, "%d%c", n, u.unit)
			d -= n * u.len
		}
	}
	return b.String()
}
