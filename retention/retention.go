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
	// State identifies its content: snapshots with the same State have
	// identical content, and keep-last and the bucket rules count them as
	// one state. 0 means a state of its own (as if State were ID).
	State int64
	// Protected lists why no policy may forget it (a label, an undo point,
	// a hold by a running restore, a warning naming it). The caller decides
	// which protections a run honours; Apply honours every one given that
	// has not expired.
	Protected []Protection
}

// Protection keeps a snapshot whatever the rules say, until Until (zero:
// with no end).
type Protection struct {
	Reason string // e.g. "labelled after-upgrade", "undo point", "held by restore (pid 12)"
	Until  time.Time
}

// ProtectFor is how long an undo (pre-restore) snapshot is protected: a
// restore gone wrong is usually noticed within days, and a week of undo
// points costs a few catalog rows.
const ProtectFor = 7 * 24 * time.Hour

func (s Snapshot) state() int64 {
	if s.State != 0 {
		return s.State
	}
	return s.ID
}

// Policy says which snapshots to keep, with restic's `forget` semantics.
type Policy struct {
	Last, Hourly, Daily, Weekly, Monthly, Yearly int           // 0 = rule unused; -1 = unlimited (keep every bucket)
	Within                                       time.Duration // keep everything newer than now-Within (0 = unused)
	Tags                                         []string      // keep every snapshot carrying any of these tags
}

// Default is the policy a new source gets. It fits snapshots every few
// minutes: every snapshot of the last 24 hours stays (full resolution for a
// day, which the interval catalog makes cheap: an unchanged snapshot is one
// row), then one per hour for two days, per day for two weeks, per week for
// two months and per month for a year. keep-last 10 serves sources
// snapshotted rarely, where 24 hours may hold only one snapshot.
var Default = Policy{Last: 10, Hourly: 48, Daily: 14, Weekly: 8, Monthly: 12, Within: 24 * time.Hour}

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
		parts = append(parts, "keep-within "+FormatDuration(p.Within))
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
	// Reasons say why it is kept, e.g. "last snapshot", "hourly snapshot",
	// "daily snapshot", "weekly snapshot", "monthly snapshot", "yearly
	// snapshot", "within 3d", "tag keep", and each protection in force
	// ("labelled x", "undo point until 2026-12-08 10:00 UTC"); empty when
	// forgotten.
	Reasons []string
	// SameAs is, for a forgotten snapshot, a kept one with identical
	// content (the newest such), if any: forgetting it lost no state.
	SameAs int64
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
			out[i].Reasons = append([]string{reasonEmpty}, protections(out[i].Snapshot, now, loc)...)
		}
		return out
	}

	// A rule counts states, not snapshots: a snapshot whose state the rule
	// already keeps (through a newer snapshot) neither is kept by it nor
	// uses up one of its N, so a run of unchanged snapshots cannot push
	// older distinct states out.
	type bucketRule struct {
		count  int // remaining buckets; -1 = unlimited
		key    func(time.Time) bucketKey
		reason string
		seen   map[bucketKey]bool
		states map[int64]bool
	}
	var rules []*bucketRule
	for _, r := range []bucketRule{
		{p.Hourly, hourKey, "hourly snapshot", nil, nil},
		{p.Daily, dayKey, "daily snapshot", nil, nil},
		{p.Weekly, weekKey, "weekly snapshot", nil, nil},
		{p.Monthly, monthKey, "monthly snapshot", nil, nil},
		{p.Yearly, yearKey, "yearly snapshot", nil, nil},
	} {
		if countActive(r.count) {
			r.seen = make(map[bucketKey]bool)
			r.states = make(map[int64]bool)
			rules = append(rules, &r)
		}
	}

	var tags []string // distinct policy tags, in policy order
	for _, t := range p.Tags {
		if !slices.Contains(tags, t) {
			tags = append(tags, t)
		}
	}
	withinReason := "within " + FormatDuration(p.Within)
	cutoff := now.Add(-p.Within)
	lastStates := map[int64]bool{}

	for i := range out {
		d := &out[i]
		t := d.Snapshot.Time.In(loc)
		state := d.Snapshot.state()
		var reasons []string
		if !lastStates[state] && (p.Last == unlimited || len(lastStates) < p.Last) {
			lastStates[state] = true
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
			if r.states[state] {
				continue // this state is kept by the rule already
			}
			r.states[state] = true
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
		reasons = append(reasons, protections(d.Snapshot, now, loc)...)
		d.Keep = len(reasons) > 0
		d.Reasons = reasons
	}
	keptState := map[int64]int64{} // state -> newest kept snapshot
	for _, d := range out {
		if _, ok := keptState[d.Snapshot.state()]; !ok && d.Keep {
			keptState[d.Snapshot.state()] = d.Snapshot.ID
		}
	}
	for i := range out {
		if !out[i].Keep {
			out[i].SameAs = keptState[out[i].Snapshot.state()]
		}
	}
	return out
}

// protections are the reasons of the protections of s in force at now.
func protections(s Snapshot, now time.Time, loc *time.Location) []string {
	var out []string
	for _, p := range s.Protected {
		switch {
		case p.Until.IsZero():
			out = append(out, p.Reason)
		case now.Before(p.Until):
			out = append(out, p.Reason+" until "+p.Until.In(loc).Format("2006-01-02 15:04 MST"))
		}
	}
	return out
}
