package retention

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Snapshot is what the policy needs to know about one snapshot.
type Snapshot struct {
	ID   int64
	Time time.Time // when it was taken
	Tags []string
}

// Policy says which snapshots to keep, with restic's `forget` semantics.
type Policy struct {
	Last, Hourly, Daily, Weekly, Monthly, Yearly int           // 0 = rule unused; -1 = unlimited (keep every bucket)
	Within                                       time.Duration // keep everything newer than now-Within (0 = unused)
	Tags                                         []string      // keep every snapshot carrying any of these tags
}

// Default is the policy a new source gets.
var Default = Policy{Last: 10, Hourly: 24, Daily: 7, Weekly: 4, Monthly: 12}

// unlimited is the count value meaning "keep one snapshot in every bucket".
const unlimited = -1

// Reason used for every snapshot when the policy is empty.
const reasonEmpty = "empty policy keeps everything"

// countActive reports whether a count rule is in use. As in restic, only
// positive counts and -1 (unlimited) are rules; 0 and other negative values
// are ignored.
func countActive(n int) bool { return n > 0 || n == unlimited }

// Empty reports whether no rule is set (Apply then keeps everything: an empty
// policy never deletes). Invalid values (counts below -1, a negative Within)
// are not rules.
func (p Policy) Empty() bool {
	for _, n := range p.counts() {
		if countActive(n) {
			return false
		}
	}
	return p.Within <= 0 && len(p.Tags) == 0
}

func (p Policy) counts() [6]int {
	return [6]int{p.Last, p.Hourly, p.Daily, p.Weekly, p.Monthly, p.Yearly}
}

var countNames = [6]string{"last", "hourly", "daily", "weekly", "monthly", "yearly"}

// String renders the policy like "keep-last 10, keep-hourly 24, keep-daily 7,
// keep-weekly 4, keep-monthly 12" (only set rules; "keep everything" when
// empty). Unlimited counts render as "unlimited", e.g. "keep-yearly
// unlimited"; each tag renders as its own "keep-tag T".
func (p Policy) String() string {
	if p.Empty() {
		return "keep everything"
	}
	var parts []string
	for i, n := range p.counts() {
		switch {
		case n == unlimited:
			parts = append(parts, "keep-"+countNames[i]+" unlimited")
		case n > 0:
			parts = append(parts, fmt.Sprintf("keep-%s %d", countNames[i], n))
		}
	}
	if p.Within > 0 {
		parts = append(parts, "keep-within "+p.Within.String())
	}
	for _, t := range p.Tags {
		parts = append(parts, "keep-tag "+t)
	}
	return strings.Join(parts, ", ")
}

// Decision is the verdict for one snapshot.
type Decision struct {
	Snapshot Snapshot
	Keep     bool
	Reasons  []string // e.g. "last snapshot", "hourly snapshot", "daily snapshot", "weekly snapshot", "monthly snapshot", "yearly snapshot", "within 72h0m0s", "tag keep"; empty when forgotten
}

// bucketKey identifies one calendar bucket (hour, date, ISO week, month or
// year); unused fields are zero. Each rule has its own key space.
type bucketKey struct{ y, m, d, h int }

func hourKey(t time.Time) bucketKey {
	return bucketKey{t.Year(), int(t.Month()), t.Day(), t.Hour()}
}

func dayKey(t time.Time) bucketKey {
	return bucketKey{t.Year(), int(t.Month()), t.Day(), 0}
}

func weekKey(t time.Time) bucketKey {
	y, w := t.ISOWeek()
	return bucketKey{y, w, 0, 0}
}

func monthKey(t time.Time) bucketKey { return bucketKey{t.Year(), int(t.Month()), 0, 0} }

func yearKey(t time.Time) bucketKey { return bucketKey{t.Year(), 0, 0, 0} }

// Apply decides for every snapshot (of one source). Pure: no clock, no I/O;
// loc is the time zone for calendar buckets (the CLI passes time.Local; tests
// pass fixed zones; nil means UTC). Output is sorted newest first (by Time,
// then ID descending) and has one Decision per input snapshot; the input
// slice is not modified.
func Apply(snaps []Snapshot, p Policy, now time.Time, loc *time.Location) []Decision {
	if loc == nil {
		loc = time.UTC
	}
	out := make([]Decision, len(snaps))
	for i, s := range snaps {
		out[i].Snapshot = s
	}
	slices.SortStableFunc(out, func(a, b Decision) int {
		if c := b.Snapshot.Time.Compare(a.Snapshot.Time); c != 0 {
			return c
		}
		return cmp.Compare(b.Snapshot.ID, a.Snapshot.ID)
	})

	if p.Empty() {
		for i := range out {
			out[i].Keep = true
			out[i].Reasons = []string{reasonEmpty}
		}
		return out
	}

	type bucketRule struct {
		count  int // remaining buckets; -1 = unlimited
		key    func(time.Time) bucketKey
		reason string
		seen   map[bucketKey]bool
	}
	var rules []*bucketRule
	for _, r := range []bucketRule{
		{p.Hourly, hourKey, "hourly snapshot", nil},
		{p.Daily, dayKey, "daily snapshot", nil},
		{p.Weekly, weekKey, "weekly snapshot", nil},
		{p.Monthly, monthKey, "monthly snapshot", nil},
		{p.Yearly, yearKey, "yearly snapshot", nil},
	} {
		if countActive(r.count) {
			r.seen = make(map[bucketKey]bool)
			rules = append(rules, &r)
		}
	}

	var tags []string // distinct policy tags, in policy order
	for _, t := range p.Tags {
		if !slices.Contains(tags, t) {
			tags = append(tags, t)
		}
	}
	withinReason := "within " + p.Within.String()
	cutoff := now.Add(-p.Within)

	for i := range out {
		d := &out[i]
		t := d.Snapshot.Time.In(loc)
		var reasons []string
		if p.Last == unlimited || i < p.Last {
			reasons = append(reasons, "last snapshot")
		}
		for _, r := range rules {
			if r.count == 0 {
				continue // all buckets used up
			}
			k := r.key(t)
			if r.seen[k] {
				continue // a newer snapshot already represents this bucket
			}
			r.seen[k] = true
			if r.count > 0 {
				r.count--
			}
			reasons = append(reasons, r.reason)
		}
		if p.Within > 0 && d.Snapshot.Time.After(cutoff) {
			reasons = append(reasons, withinReason)
		}
		for _, tag := range tags {
			if slices.Contains(d.Snapshot.Tags, tag) {
				reasons = append(reasons, "tag "+tag)
			}
		}
		d.Keep = len(reasons) > 0
		d.Reasons = reasons
	}
	return out
}
