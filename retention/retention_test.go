package retention

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // embedded zone database, so America/New_York loads even without one on the system
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

// mustTime parses an RFC 3339 time or panics.
func mustTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

// newYork returns America/New_York, or a fixed UTC-5 zone (without DST) when
// the zone database is unavailable; fixed reports the fallback.
func newYork(t *testing.T) (loc *time.Location, fixed bool) {
	t.Helper()
	loc, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Logf("NOTE: America/New_York unavailable (%v); falling back to time.FixedZone(\"EST\", -5h) without DST", err)
		return time.FixedZone("EST", -5*60*60), true
	}
	return loc, false
}

// fixtureNow is "now" for the golden fixture.
var fixtureNow = mustTime("2023-06-15T12:00:00Z")

// fixture is the golden snapshot list: ~3 years, IDs in chronological order
// (1 = oldest). Comments note what the New York zone (EST/EDT) makes of them.
var fixture = []struct {
	id   int64
	time string
	tags []string
}{
	{1, "2020-07-01T12:00:00Z", []string{"keep"}},
	{2, "2020-07-15T12:00:00Z", nil},
	{3, "2020-09-01T12:00:00Z", nil},
	{4, "2020-11-01T05:30:00Z", nil},  // NY 01:30 EDT, fall-back day
	{5, "2020-11-01T06:30:00Z", nil},  // NY 01:30 EST: same wall-clock hour as 4
	{6, "2020-12-27T12:00:00Z", nil},  // Sun, ISO 2020-W52
	{7, "2020-12-28T12:00:00Z", nil},  // Mon, ISO 2020-W53
	{8, "2020-12-31T12:00:00Z", nil},  // Thu, ISO 2020-W53
	{9, "2021-01-01T00:30:00Z", nil},  // Fri, ISO 2020-W53; NY 2020-12-31 19:30
	{10, "2021-01-03T12:00:00Z", nil}, // Sun, ISO 2020-W53
	{11, "2021-01-04T02:00:00Z", nil}, // Mon, ISO 2021-W01; NY Sun 2021-01-03 21:00, 2020-W53
	{12, "2021-04-01T12:00:00Z", nil},
	{13, "2021-07-04T12:00:00Z", []string{"keep"}},
	{14, "2021-10-10T12:00:00Z", nil}, // same time as 15
	{15, "2021-10-10T12:00:00Z", nil},
	{16, "2021-12-27T12:00:00Z", nil}, // Mon, ISO 2021-W52
	{17, "2021-12-31T12:00:00Z", nil}, // Fri, ISO 2021-W52
	{18, "2022-01-01T12:00:00Z", nil}, // Sat, ISO 2021-W52
	{19, "2022-01-02T12:00:00Z", nil}, // Sun, ISO 2021-W52
	{20, "2022-01-15T12:00:00Z", nil},
	{21, "2022-03-13T06:30:00Z", nil}, // NY 01:30 EST, spring-forward day (23h)
	{22, "2022-03-13T07:30:00Z", nil}, // NY 03:30 EDT
	{23, "2022-03-14T03:30:00Z", nil}, // NY 2022-03-13 23:30 EDT
	{24, "2022-06-15T12:00:00Z", nil},
	{25, "2022-08-15T12:00:00Z", []string{"manual", "other"}},
	{26, "2022-10-01T12:00:00Z", nil},
	{27, "2022-11-06T04:30:00Z", nil}, // NY 00:30 EDT, fall-back day (25h)
	{28, "2022-11-06T05:30:00Z", nil}, // NY 01:30 EDT
	{29, "2022-11-06T06:30:00Z", nil}, // NY 01:30 EST
	{30, "2022-11-07T04:30:00Z", nil}, // NY 2022-11-06 23:30 EST
	{31, "2022-12-15T12:00:00Z", nil},
	{32, "2022-12-31T12:00:00Z", nil},
	{33, "2023-01-01T03:00:00Z", nil}, // NY 2022-12-31 22:00
	{34, "2023-02-10T12:00:00Z", nil},
	{35, "2023-03-12T06:30:00Z", nil}, // NY 01:30 EST, spring-forward day
	{36, "2023-03-12T07:30:00Z", nil}, // NY 03:30 EDT
	{37, "2023-04-15T12:00:00Z", nil},
	{38, "2023-05-01T02:00:00Z", nil}, // NY 2023-04-30 22:00
	{39, "2023-05-20T12:00:00Z", nil},
	{40, "2023-05-28T12:00:00Z", nil},
	{41, "2023-06-01T12:00:00Z", nil},
	{42, "2023-06-05T03:59:00Z", nil}, // Mon, ISO 2023-W23; NY Sun 2023-06-04 23:59, 2023-W22
	{43, "2023-06-07T04:00:00Z", nil}, // NY 00:00 EDT
	{44, "2023-06-09T15:00:00Z", nil},
	{45, "2023-06-10T15:00:00Z", nil},
	{46, "2023-06-12T01:00:00Z", nil}, // NY 2023-06-11 21:00
	{47, "2023-06-12T22:15:00Z", nil},
	{48, "2023-06-13T09:00:00Z", []string{"keep"}},
	{49, "2023-06-14T12:00:00Z", nil}, // same time as 50
	{50, "2023-06-14T12:00:00Z", nil},
	{51, "2023-06-14T23:00:00Z", nil}, // NY 19:00
	{52, "2023-06-15T03:30:00Z", nil}, // NY 2023-06-14 23:30
	{53, "2023-06-15T08:00:00Z", nil},
	{54, "2023-06-15T10:05:00Z", nil},
	{55, "2023-06-15T11:10:00Z", nil}, // same UTC hour as 56
	{56, "2023-06-15T11:50:00Z", nil},
	{57, "2023-06-16T09:00:00Z", nil}, // future
	{58, "2023-07-01T00:00:00Z", nil}, // future
}

// fixtureSnaps returns the fixture in a fixed shuffled order, so Apply's
// sorting (including the ID tie-break) is exercised.
func fixtureSnaps() []Snapshot {
	snaps := make([]Snapshot, len(fixture))
	for i, f := range fixture {
		snaps[i] = Snapshot{ID: f.id, Time: mustTime(f.time), Tags: f.tags}
	}
	r := rand.New(rand.NewPCG(1, 2))
	r.Shuffle(len(snaps), func(i, j int) { snaps[i], snaps[j] = snaps[j], snaps[i] })
	return snaps
}

var goldenPolicies = []struct {
	name string
	p    Policy
}{
	{"default", Default},
	{"last3", Policy{Last: 3}},
	{"hourly5", Policy{Hourly: 5}},
	{"hourly-all", Policy{Hourly: -1}},
	{"daily7", Policy{Daily: 7}},
	{"daily-all", Policy{Daily: -1}},
	{"weekly-all", Policy{Weekly: -1}},
	{"monthly12", Policy{Monthly: 12}},
	{"yearly-all", Policy{Yearly: -1}},
	{"within72h-tags", Policy{Within: 72 * time.Hour, Tags: []string{"keep", "manual"}}},
	{"combined", Policy{Last: 2, Daily: 3, Weekly: 2, Monthly: 2, Yearly: -1, Tags: []string{"keep"}}},
	{"empty", Policy{}},
}

// render formats decisions for a golden file: one line per snapshot with its
// ID, its time in loc (plus weekday and ISO week, to ease checking by hand),
// keep/forget and the reasons.
func render(p Policy, loc *time.Location, ds []Decision) string {
	var b strings.Builder
	kept := 0
	for _, d := range ds {
		if d.Keep {
			kept++
		}
	}
	fmt.Fprintf(&b, "# policy: %s\n# now: %s\n# zone: %s\n# kept %d of %d\n",
		p, fixtureNow.Format(time.RFC3339), loc, kept, len(ds))
	for _, d := range ds {
		t := d.Snapshot.Time.In(loc)
		y, w := t.ISOWeek()
		verdict := "forget"
		if d.Keep {
			verdict = "keep"
		}
		line := fmt.Sprintf("%3d  %s %s %d-W%02d  %-6s  %s",
			d.Snapshot.ID, t.Format("2006-01-02T15:04-07:00"), t.Format("Mon"), y, w,
			verdict, strings.Join(d.Reasons, ", "))
		b.WriteString(strings.TrimRight(line, " ") + "\n")
	}
	return b.String()
}

// checkInvariants checks what must hold for every Apply result.
func checkInvariants(t *testing.T, in []Snapshot, ds []Decision) {
	t.Helper()
	if len(ds) != len(in) {
		t.Fatalf("got %d decisions for %d snapshots", len(ds), len(in))
	}
	for i, d := range ds {
		if d.Keep != (len(d.Reasons) > 0) {
			t.Errorf("snapshot %d: Keep=%v but reasons %q", d.Snapshot.ID, d.Keep, d.Reasons)
		}
		if i > 0 {
			prev := ds[i-1].Snapshot
			if prev.Time.Before(d.Snapshot.Time) || (prev.Time.Equal(d.Snapshot.Time) && prev.ID < d.Snapshot.ID) {
				t.Errorf("not sorted newest first: %d (%v) before %d (%v)", prev.ID, prev.Time, d.Snapshot.ID, d.Snapshot.Time)
			}
		}
	}
}

func goldenZones(t *testing.T) []struct {
	slug  string
	loc   *time.Location
	fixed bool
} {
	ny, fixed := newYork(t)
	return []struct {
		slug  string
		loc   *time.Location
		fixed bool
	}{
		{"UTC", time.UTC, false},
		{"America-New_York", ny, fixed},
	}
}

func TestGolden(t *testing.T) {
	for _, z := range goldenZones(t) {
		for _, gp := range goldenPolicies {
			name := gp.name + "_" + z.slug
			t.Run(name, func(t *testing.T) {
				if z.fixed {
					t.Skip("NOTE: zone database missing; golden files were generated with real America/New_York DST rules")
				}
				in := fixtureSnaps()
				ds := Apply(in, gp.p, fixtureNow, z.loc)
				checkInvariants(t, in, ds)
				got := render(gp.p, z.loc, ds)
				path := filepath.Join("testdata", name+".golden")
				if *update {
					if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
						t.Fatal(err)
					}
					return
				}
				want, err := os.ReadFile(path)
				if err != nil {
					t.Fatalf("%v (run go test -update to create it)", err)
				}
				if got != string(want) {
					t.Errorf("%s differs from the golden file (run go test -update and review the diff)\ngot:\n%s\nwant:\n%s", path, got, want)
				}
			})
		}
	}
}

// keptIDs returns the IDs of the kept snapshots, newest first.
func keptIDs(ds []Decision) []int64 {
	var ids []int64
	for _, d := range ds {
		if d.Keep {
			ids = append(ids, d.Snapshot.ID)
		}
	}
	return ids
}

// TestGoldenExplicit pins the kept IDs for some golden cases, worked out by
// hand from the fixture comments, so a wrong golden file cannot pass
// silently.
func TestGoldenExplicit(t *testing.T) {
	ny, fixed := newYork(t)
	cases := []struct {
		name string
		p    Policy
		loc  *time.Location
		dst  bool // needs the real America/New_York rules
		want []int64
	}{
		// The two future snapshots are the newest, as in restic.
		{"last3", Policy{Last: 3}, time.UTC, false, []int64{58, 57, 56}},
		// 55 shares 11:xx with 56.
		{"hourly5", Policy{Hourly: 5}, time.UTC, false, []int64{58, 57, 56, 54, 53}},
		// Newest of each of the 7 newest UTC days: 07-01, 06-16, 06-15, 06-14, 06-13, 06-12, 06-10.
		{"daily7 UTC", Policy{Daily: 7}, time.UTC, false, []int64{58, 57, 56, 51, 48, 47, 45}},
		// In New York 52 is 06-14 23:30 and 46 is 06-11 21:00.
		{"daily7 NY", Policy{Daily: 7}, ny, true, []int64{58, 57, 56, 52, 48, 47, 46}},
		// 2020-12-28..2021-01-03 is ISO week 2020-W53: 10 represents 7, 8, 9.
		{"weekly4 UTC", Policy{Weekly: 4}, time.UTC, false, []int64{58, 57, 45, 41}},
		{"weekly4 NY", Policy{Weekly: 4}, ny, true, []int64{58, 57, 46, 42}},
		// NY has no snapshot in January 2023 (33 is 2022-12-31 22:00 there).
		{"monthly4 NY", Policy{Monthly: 4}, ny, true, []int64{58, 40, 38, 36}},
		{"yearly UTC", Policy{Yearly: -1}, time.UTC, false, []int64{58, 32, 17, 8}},
		{"yearly NY", Policy{Yearly: -1}, ny, true, []int64{58, 33, 17, 9}},
		{"within72h", Policy{Within: 72 * time.Hour}, time.UTC, false, []int64{58, 57, 56, 55, 54, 53, 52, 51, 50, 49, 48, 47}},
		{"tags", Policy{Tags: []string{"keep", "manual"}}, time.UTC, false, []int64{48, 25, 13, 1}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.dst && fixed {
				t.Skip("NOTE: zone database missing, America/New_York replaced by a fixed zone")
			}
			got := keptIDs(Apply(fixtureSnaps(), c.p, fixtureNow, c.loc))
			if !slices.Equal(got, c.want) {
				t.Errorf("kept %v, want %v", got, c.want)
			}
		})
	}

	// Whole-week check across the 2020/2021 year boundary with keep-weekly unlimited.
	ds := Apply(fixtureSnaps(), Policy{Weekly: -1}, fixtureNow, time.UTC)
	byID := map[int64]bool{}
	for _, d := range ds {
		byID[d.Snapshot.ID] = d.Keep
	}
	for id, want := range map[int64]bool{11: true, 10: true, 9: false, 8: false, 7: false, 6: true} {
		if byID[id] != want {
			t.Errorf("weekly unlimited UTC: snapshot %d keep=%v, want %v", id, byID[id], want)
		}
	}
}

// snaps builds snapshots with IDs 1, 2, ... from RFC 3339 times.
func snaps(times ...string) []Snapshot {
	out := make([]Snapshot, len(times))
	for i, s := range times {
		out[i] = Snapshot{ID: int64(i + 1), Time: mustTime(s)}
	}
	return out
}

func TestApply(t *testing.T) {
	ny, fixed := newYork(t)
	now := mustTime("2024-01-10T12:00:00Z")
	tagged := []Snapshot{
		{ID: 1, Time: mustTime("2024-01-01T00:00:00Z"), Tags: []string{"a"}},
		{ID: 2, Time: mustTime("2024-01-02T00:00:00Z"), Tags: []string{"b", "c"}},
		{ID: 3, Time: mustTime("2024-01-03T00:00:00Z")},
		{ID: 4, Time: mustTime("2024-01-04T00:00:00Z"), Tags: []string{"c", "a"}},
	}
	cases := []struct {
		name  string
		in    []Snapshot
		p     Policy
		now   time.Time // zero: now
		loc   *time.Location
		dst   bool // needs real America/New_York rules
		order []int64
		want  map[int64][]string // kept IDs and their reasons; all others forgotten
	}{
		{
			name: "nil input",
			p:    Default,
			want: map[int64][]string{},
		},
		{
			name:  "empty policy keeps everything",
			in:    snaps("2024-01-01T00:00:00Z", "2024-01-01T00:00:00Z"),
			p:     Policy{},
			order: []int64{2, 1},
			want:  map[int64][]string{1: {reasonEmpty}, 2: {reasonEmpty}},
		},
		{
			name: "invalid counts are ignored, policy counts as empty",
			in:   snaps("2024-01-01T00:00:00Z", "2024-01-02T00:00:00Z"),
			p:    Policy{Last: -5, Daily: -2, Within: -time.Hour, Tags: []string{}},
			want: map[int64][]string{1: {reasonEmpty}, 2: {reasonEmpty}},
		},
		{
			name:  "last 3 of 5, input unsorted",
			in:    snaps("2024-01-03T00:00:00Z", "2024-01-05T00:00:00Z", "2024-01-01T00:00:00Z", "2024-01-04T00:00:00Z", "2024-01-02T00:00:00Z"),
			p:     Policy{Last: 3},
			order: []int64{2, 4, 1, 5, 3},
			want:  map[int64][]string{2: {"last snapshot"}, 4: {"last snapshot"}, 1: {"last snapshot"}},
		},
		{
			name: "last more than available",
			in:   snaps("2024-01-01T00:00:00Z", "2024-01-02T00:00:00Z"),
			p:    Policy{Last: 10},
			want: map[int64][]string{1: {"last snapshot"}, 2: {"last snapshot"}},
		},
		{
			name: "last unlimited",
			in:   snaps("2024-01-01T00:00:00Z", "2024-01-02T00:00:00Z", "2024-01-03T00:00:00Z"),
			p:    Policy{Last: -1},
			want: map[int64][]string{1: {"last snapshot"}, 2: {"last snapshot"}, 3: {"last snapshot"}},
		},
		{
			name: "hourly keeps newest per hour",
			in:   snaps("2024-01-01T10:05:00Z", "2024-01-01T10:55:00Z", "2024-01-01T11:00:00Z", "2024-01-01T09:59:59Z"),
			p:    Policy{Hourly: 2},
			want: map[int64][]string{3: {"hourly snapshot"}, 2: {"hourly snapshot"}},
		},
		{
			name: "daily counts days that have snapshots, not calendar days",
			in:   snaps("2024-01-01T10:00:00Z", "2024-01-05T10:00:00Z", "2024-01-05T20:00:00Z", "2024-01-09T10:00:00Z"),
			p:    Policy{Daily: 2},
			want: map[int64][]string{4: {"daily snapshot"}, 3: {"daily snapshot"}},
		},
		{
			name: "daily unlimited",
			in:   snaps("2024-01-01T10:00:00Z", "2024-01-05T10:00:00Z", "2024-01-05T20:00:00Z", "2024-01-09T10:00:00Z"),
			p:    Policy{Daily: -1},
			want: map[int64][]string{4: {"daily snapshot"}, 3: {"daily snapshot"}, 1: {"daily snapshot"}},
		},
		{
			// 2022-11-06 has 25 hours in New York; 00:30 EDT and 23:30 EST
			// are exactly 24h apart but on the same calendar date.
			name: "daily on 25h fall-back day",
			in:   snaps("2022-11-06T04:30:00Z", "2022-11-07T04:30:00Z", "2022-11-07T05:30:00Z"),
			p:    Policy{Daily: -1},
			loc:  ny,
			dst:  true,
			want: map[int64][]string{3: {"daily snapshot"}, 2: {"daily snapshot"}},
		},
		{
			// 2022-03-13 has 23 hours in New York: 00:30 EST to 23:30 EDT.
			name: "daily on 23h spring-forward day",
			in:   snaps("2022-03-13T05:30:00Z", "2022-03-14T03:30:00Z", "2022-03-14T04:30:00Z"),
			p:    Policy{Daily: -1},
			loc:  ny,
			dst:  true,
			want: map[int64][]string{3: {"daily snapshot"}, 2: {"daily snapshot"}},
		},
		{
			// Wall-clock hour buckets as in restic: 01:30 EDT and 01:30 EST
			// (an hour apart) are both "01" on 2022-11-06.
			name: "hourly on repeated fall-back hour",
			in:   snaps("2022-11-06T05:30:00Z", "2022-11-06T06:30:00Z", "2022-11-06T07:30:00Z"),
			p:    Policy{Hourly: -1},
			loc:  ny,
			dst:  true,
			want: map[int64][]string{3: {"hourly snapshot"}, 2: {"hourly snapshot"}},
		},
		{
			name: "weekly across ISO year boundary",
			// Thu 2020-12-31, Fri 2021-01-01 and Sun 2021-01-03 are 2020-W53; Mon 2021-01-04 is 2021-W01.
			in:   snaps("2020-12-31T12:00:00Z", "2021-01-01T12:00:00Z", "2021-01-03T12:00:00Z", "2021-01-04T12:00:00Z", "2020-12-27T12:00:00Z"),
			p:    Policy{Weekly: -1},
			want: map[int64][]string{4: {"weekly snapshot"}, 3: {"weekly snapshot"}, 5: {"weekly snapshot"}},
		},
		{
			name: "weekly, Sunday vs Monday depends on zone",
			// 2021-01-04T02:00Z is Monday (2021-W01) in UTC but Sunday 21:00 (2020-W53) in New York.
			in:   snaps("2021-01-03T12:00:00Z", "2021-01-04T02:00:00Z"),
			p:    Policy{Weekly: -1},
			loc:  ny,
			dst:  true,
			want: map[int64][]string{2: {"weekly snapshot"}},
		},
		{
			name: "monthly and yearly",
			in:   snaps("2022-11-20T00:00:00Z", "2022-12-01T00:00:00Z", "2022-12-31T00:00:00Z", "2023-01-02T00:00:00Z", "2023-01-03T00:00:00Z"),
			p:    Policy{Monthly: 2, Yearly: 2},
			want: map[int64][]string{5: {"monthly snapshot", "yearly snapshot"}, 3: {"monthly snapshot", "yearly snapshot"}},
		},
		{
			name: "yearly depends on zone",
			// 2023-01-01T03:00Z is still 2022 in New York.
			in:   snaps("2022-06-01T00:00:00Z", "2023-01-01T03:00:00Z"),
			p:    Policy{Yearly: 5},
			loc:  ny,
			dst:  true,
			want: map[int64][]string{2: {"yearly snapshot"}},
		},
		{
			name: "within: strictly after now-D, future included",
			in:   snaps("2024-01-09T12:00:00Z", "2024-01-09T12:00:01Z", "2024-01-20T00:00:00Z"),
			p:    Policy{Within: 24 * time.Hour},
			want: map[int64][]string{2: {"within 24h"}, 3: {"within 24h"}},
		},
		{
			name: "tags: any listed tag, one reason per matching tag",
			in:   tagged,
			p:    Policy{Tags: []string{"a", "c", "a"}},
			want: map[int64][]string{4: {"tag a", "tag c"}, 2: {"tag c"}, 1: {"tag a"}},
		},
		{
			name:  "equal times sort by ID descending; higher ID takes the bucket",
			in:    []Snapshot{{ID: 7, Time: mustTime("2024-01-01T10:00:00Z")}, {ID: 9, Time: mustTime("2024-01-01T10:00:00Z")}, {ID: 8, Time: mustTime("2024-01-01T10:00:00Z")}},
			p:     Policy{Daily: 1},
			order: []int64{9, 8, 7},
			want:  map[int64][]string{9: {"daily snapshot"}},
		},
		{
			name: "future snapshots are newest and use up counts",
			in:   snaps("2024-01-10T11:00:00Z", "2024-02-01T00:00:00Z", "2024-01-10T10:00:00Z"),
			p:    Policy{Last: 1, Daily: 1},
			want: map[int64][]string{2: {"last snapshot", "daily snapshot"}},
		},
		{
			name: "all reasons listed in rule order",
			in: []Snapshot{
				{ID: 1, Time: mustTime("2024-01-01T00:00:00Z"), Tags: []string{"x"}},
				{ID: 2, Time: mustTime("2024-01-10T11:30:00Z"), Tags: []string{"x"}},
			},
			p: Policy{Last: 1, Hourly: 1, Daily: 1, Weekly: 1, Monthly: 1, Yearly: 1, Within: time.Hour, Tags: []string{"x"}},
			want: map[int64][]string{
				2: {"last snapshot", "hourly snapshot", "daily snapshot", "weekly snapshot", "monthly snapshot", "yearly snapshot", "within 1h", "tag x"},
				1: {"tag x"},
			},
		},
		{
			name: "nil location means UTC",
			in:   snaps("2023-01-01T03:00:00Z", "2022-12-31T12:00:00Z"),
			p:    Policy{Yearly: -1},
			loc:  nil,
			want: map[int64][]string{1: {"yearly snapshot"}, 2: {"yearly snapshot"}},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.dst && fixed {
				t.Skip("NOTE: zone database missing, America/New_York replaced by a fixed zone")
			}
			n := c.now
			if n.IsZero() {
				n = now
			}
			inCopy := slices.Clone(c.in)
			ds := Apply(c.in, c.p, n, c.loc)
			if !reflect.DeepEqual(c.in, inCopy) {
				t.Errorf("Apply modified its input")
			}
			if ds == nil {
				t.Fatalf("Apply returned nil")
			}
			checkInvariants(t, c.in, ds)
			got := map[int64][]string{}
			var order []int64
			for _, d := range ds {
				order = append(order, d.Snapshot.ID)
				if d.Keep {
					got[d.Snapshot.ID] = d.Reasons
				}
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("kept %v, want %v", got, c.want)
			}
			if c.order != nil && !slices.Equal(order, c.order) {
				t.Errorf("order %v, want %v", order, c.order)
			}
		})
	}
}

func TestEmptyAndString(t *testing.T) {
	cases := []struct {
		p     Policy
		empty bool
		str   string
	}{
		{Policy{}, true, "keep everything"},
		{Policy{Tags: []string{}}, true, "keep everything"},
		{Policy{Last: -2, Within: -time.Second}, true, "keep everything"},
		{Default, false, "keep-last 10, keep-hourly 48, keep-daily 14, keep-weekly 8, keep-monthly 12, keep-within 24h"},
		{Policy{Yearly: -1}, false, "keep-yearly unlimited"},
		{Policy{Within: 72 * time.Hour}, false, "keep-within 3d"},
		{Policy{Tags: []string{"keep", "manual"}}, false, "keep-tag keep, keep-tag manual"},
		{Policy{Last: 1, Daily: -1, Within: time.Minute, Tags: []string{"t"}}, false, "keep-last 1, keep-daily unlimited, keep-within 1m0s, keep-tag t"},
	}
	for _, c := range cases {
		if got := c.p.Empty(); got != c.empty {
			t.Errorf("%#v.Empty() = %v, want %v", c.p, got, c.empty)
		}
		if got := c.p.String(); got != c.str {
			t.Errorf("%#v.String() = %q, want %q", c.p, got, c.str)
		}
	}
}

func TestMarshal(t *testing.T) {
	cases := []struct {
		p    Policy
		want string
	}{
		{Policy{}, `{}`},
		{Default, `{"last":10,"hourly":48,"daily":14,"weekly":8,"monthly":12,"within":"24h0m0s"}`},
		{Policy{Last: 10, Hourly: 24, Within: 72 * time.Hour, Tags: []string{"keep"}}, `{"last":10,"hourly":24,"within":"72h0m0s","tags":["keep"]}`},
		{Policy{Yearly: -1, Tags: []string{"a<b>&c", "d"}}, `{"yearly":-1,"tags":["a<b>&c","d"]}`},
		// Invalid values Apply ignores are dropped so the output always parses.
		{Policy{Last: -3, Daily: 2, Within: -time.Hour, Tags: []string{}}, `{"daily":2}`},
	}
	for _, c := range cases {
		got := c.p.Marshal()
		if got != c.want {
			t.Errorf("%#v.Marshal() = %s, want %s", c.p, got, c.want)
		}
		if got2 := c.p.Marshal(); got2 != got {
			t.Errorf("Marshal not stable: %s then %s", got, got2)
		}
	}
}

func TestMarshalRoundTrip(t *testing.T) {
	for _, p := range []Policy{
		{},
		Default,
		{Last: -1, Hourly: -1, Daily: -1, Weekly: -1, Monthly: -1, Yearly: -1},
		{Within: 90 * time.Minute},
		{Within: 1500 * time.Millisecond, Tags: []string{"keep", "with space", "ünïcode", `quote"`}},
		{Last: 1, Hourly: 2, Daily: 3, Weekly: 4, Monthly: 5, Yearly: 6, Within: 7 * 24 * time.Hour, Tags: []string{"x"}},
	} {
		s := p.Marshal()
		q, err := Unmarshal(s)
		if err != nil {
			t.Errorf("Unmarshal(%s): %v", s, err)
			continue
		}
		if !reflect.DeepEqual(p, q) {
			t.Errorf("round trip of %#v via %s gave %#v", p, s, q)
		}
		if s2 := q.Marshal(); s2 != s {
			t.Errorf("Marshal after round trip: %s, want %s", s2, s)
		}
	}
}

func TestUnmarshal(t *testing.T) {
	good := []struct {
		in   string
		want Policy
	}{
		{`{}`, Policy{}},
		{` {"daily": 7, "tags": []} `, Policy{Daily: 7}},
		{`{"within":"1h30m","weekly":-1}`, Policy{Weekly: -1, Within: 90 * time.Minute}},
		{`{"last":0,"within":"0s"}`, Policy{}},
	}
	for _, c := range good {
		got, err := Unmarshal(c.in)
		if err != nil {
			t.Errorf("Unmarshal(%s): %v", c.in, err)
			continue
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("Unmarshal(%s) = %#v, want %#v", c.in, got, c.want)
		}
	}

	bad := []string{
		``,
		`null`,
		`[]`,
		`"keep-last 3"`,
		`{`,
		`{"last":3}{}`,
		`{"last":3} x`,
		`{"keep":1}`,                    // unknown field
		`{"last":3,"unique":true}`,      // unknown field
		`{"last":-2}`,                   // negative other than -1
		`{"yearly":-100}`,               // negative other than -1
		`{"within":"-1h"}`,              // negative duration
		`{"within":"3 days"}`,           // not a Go duration
		`{"within":""}`,                 // empty duration
		`{"within":3600}`,               // duration must be a string
		`{"last":"10"}`,                 // count must be a number
		`{"last":1.5}`,                  // count must be an integer
		`{"tags":"keep"}`,               // tags must be a list
		`{"last":99999999999999999999}`, // overflow
	}
	for _, s := range bad {
		if p, err := Unmarshal(s); err == nil {
			t.Errorf("Unmarshal(%q) = %#v, want error", s, p)
		}
	}
}
