package cairn

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cairn-dev/cairn/catalog"
	"github.com/cairn-dev/cairn/internal/procid"
	"github.com/cairn-dev/cairn/retention"
	"github.com/cairn-dev/cairn/snapshot"
)

// holdFixture is a repository whose source keeps only its newest state, so
// that anything else surviving a snap is kept by a protection.
type holdFixture struct {
	t    *testing.T
	ctx  context.Context
	repo *Repo
	src  string
	n    int
}

func newHoldFixture(t *testing.T) *holdFixture {
	t.Helper()
	ctx := context.Background()
	repo, err := Open(ctx, filepath.Join(t.TempDir(), "repo"), Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { repo.Close() })
	f := &holdFixture{t: t, ctx: ctx, repo: repo, src: t.TempDir()}
	if err := repo.SetPolicy(ctx, f.src, retention.Policy{Last: 1}); err != nil {
		t.Fatal(err)
	}
	return f
}

// snap changes a file and takes a snapshot; it returns the snapshot's id
// and what retention forgot.
func (f *holdFixture) snap() (int64, []int64) {
	f.t.Helper()
	f.n++
	if err := os.WriteFile(filepath.Join(f.src, "state.json"), []byte(strings.Repeat("x", f.n)), 0o600); err != nil {
		f.t.Fatal(err)
	}
	res, err := f.repo.Snapshot(f.ctx, f.src, snapshot.Options{})
	if err != nil {
		f.t.Fatal(err)
	}
	return res.ID, res.Forgotten
}

func (f *holdFixture) ids() []int64 {
	f.t.Helper()
	snaps, err := f.repo.db.Snapshots(f.ctx, 0)
	if err != nil {
		f.t.Fatal(err)
	}
	var out []int64
	for _, s := range snaps {
		out = append(out, s.ID)
	}
	return out
}

func TestHoldKeepsSnapshotUntilReleased(t *testing.T) {
	f := newHoldFixture(t)
	first, _ := f.snap()
	release, err := f.repo.holdSnapshots(f.ctx, "test", first)
	if err != nil {
		t.Fatal(err)
	}
	second, forgotten := f.snap()
	if len(forgotten) != 0 {
		t.Fatalf("snapshot %d forgot %v while %d was held", second, forgotten, first)
	}
	res, err := f.repo.Forget(f.ctx, ForgetOptions{DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range res.Sources[0].Decisions {
		if d.Snapshot.ID == first && !slices.ContainsFunc(d.Reasons, func(r string) bool { return strings.HasPrefix(r, "held by test (pid ") }) {
			t.Errorf("held snapshot %d kept for %q, want a hold reason", first, d.Reasons)
		}
	}
	// Even an explicit policy with --include-protected leaves it; forget
	// by id refuses.
	if res, err := f.repo.Forget(f.ctx, ForgetOptions{Policy: &retention.Policy{Last: 1}, IncludeProtected: true}); err != nil || slices.Contains(res.Forgotten, first) {
		t.Errorf("forget --keep-last 1 --include-protected of a held snapshot: %v, %v", res, err)
	}
	if _, err := f.repo.Forget(f.ctx, ForgetOptions{IDs: []int64{first}}); !errors.Is(err, ErrHeld) {
		t.Errorf("forget %d while held: %v, want ErrHeld", first, err)
	}
	release()
	release() // a second call is harmless
	_, forgotten = f.snap()
	if !slices.Contains(forgotten, first) {
		t.Errorf("after release, the policy forgot %v; want %d among them", forgotten, first)
	}
}

// TestHoldOfGoneProcessLapses: a hold whose process is gone (killed, or a
// reused pid with another start time, or from before a reboot) protects
// nothing and is deleted by the next policy run; a hold from another host,
// or from another pid namespace on this one (a container sharing the
// catalog, whose pids mean nothing here), lapses after a day.
func TestHoldOfGoneProcessLapses(t *testing.T) {
	f := newHoldFixture(t)
	me := strings.Fields(processHolder(os.Getpid()))
	if me[3] == "-" {
		t.Skip("no /proc: liveness falls back to the pid alone")
	}
	now := f.repo.now()
	cases := []struct {
		name    string
		holder  string
		created time.Time
		alive   bool
	}{
		{"this process", strings.Join(me, " "), now, true},
		{"reused pid", strings.Join([]string{me[0], me[1], me[2], "1", me[4]}, " "), now, false},
		{"written before namespaces", strings.Join(me[:4], " "), now, true},
		{"before a reboot", strings.Join([]string{me[0], "another-boot", me[2], me[3]}, " "), now, false},
		{"no such pid", strings.Join([]string{me[0], me[1], "999999999", "1"}, " "), now, false},
		{"another host, fresh", "elsewhere - 12 -", now, true},
		{"another host, old", "elsewhere - 12 -", now.Add(-25 * time.Hour), false},
		{"another container, fresh", strings.Join([]string{me[0], me[1], "999999999", "1", "pid:[1]"}, " "), now, true},
		{"another container, old", strings.Join([]string{me[0], me[1], "999999999", "1", "pid:[1]"}, " "), now.Add(-25 * time.Hour), false},
		{"garbage", "x", now, false},
	}
	for _, c := range cases {
		if got := holderAlive(c.holder, c.created, now); got != c.alive {
			t.Errorf("%s: holderAlive(%q) = %v, want %v", c.name, c.holder, got, c.alive)
		}
	}

	held, _ := f.snap()
	if _, err := f.repo.db.AddHolds(f.ctx, []catalog.Hold{{SnapshotID: held, Reason: "restore", Holder: cases[1].holder, PID: os.Getpid(), Created: now}}); err != nil {
		t.Fatal(err)
	}
	_, forgotten := f.snap()
	if !slices.Contains(forgotten, held) {
		t.Errorf("a dead holder's hold kept snapshot %d (forgotten: %v)", held, forgotten)
	}
	if holds, err := f.repo.db.Holds(f.ctx, 0); err != nil || len(holds) != 0 {
		t.Errorf("holds left after the policy run: %v, %v", holds, err)
	}
}

// TestStatesAfterForget: whether a snapshot has the same content as the
// one before it stays right after the snapshots between them are
// forgotten, including the newest one, whose live versions remain.
func TestStatesAfterForget(t *testing.T) {
	ctx := context.Background()
	repo, err := Open(ctx, filepath.Join(t.TempDir(), "repo"), Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	defer repo.Close()
	src := t.TempDir()
	if err := repo.SetPolicy(ctx, src, retention.Policy{}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"a", "b"} {
		if err := os.WriteFile(filepath.Join(src, name), []byte(name), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	snap := func() int64 {
		t.Helper()
		res, err := repo.Snapshot(ctx, src, snapshot.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return res.ID
	}
	states := func() map[int64]int64 {
		t.Helper()
		s, err := repo.db.SnapshotStates(ctx, 1)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	a := snap()
	a2 := snap()
	if err := os.Remove(filepath.Join(src, "b")); err != nil {
		t.Fatal(err)
	}
	b := snap() // b removed: a new state
	if _, err := repo.Forget(ctx, ForgetOptions{IDs: []int64{b}}); err != nil {
		t.Fatal(err)
	}
	c := snap() // unchanged since b, which is gone: still not a's state
	st := states()
	if st[a] != st[a2] {
		t.Errorf("unchanged snapshot %d has state %d, its predecessor %d has %d", a2, st[a2], a, st[a])
	}
	if st[c] == st[a] {
		t.Errorf("snapshot %d (without b) has the state of %d (with b) after %d was forgotten", c, a, b)
	}
	d := snap() // unchanged since c
	if _, err := repo.Forget(ctx, ForgetOptions{IDs: []int64{c}}); err != nil {
		t.Fatal(err)
	}
	if after := states(); after[d] != st[c] {
		t.Errorf("after forgetting %d, unchanged %d has state %d, want %d (that of %d)", c, d, after[d], st[c], c)
	}
}

// TestHoldOfAnotherProcess: a hold taken by another process protects while
// that process runs and lapses when it is killed (it never released it).
func TestHoldOfAnotherProcess(t *testing.T) {
	if procid.StartTicks(os.Getpid()) == "" {
		t.Skip("no /proc")
	}
	f := newHoldFixture(t)
	child := exec.Command("sleep", "60")
	if err := child.Start(); err != nil {
		t.Skip("cannot start sleep:", err)
	}
	defer child.Process.Kill()
	held, _ := f.snap()
	holder := processHolder(child.Process.Pid)
	if _, err := f.repo.db.AddHolds(f.ctx, []catalog.Hold{{SnapshotID: held, Reason: "restore", Holder: holder, PID: child.Process.Pid, Created: f.repo.now()}}); err != nil {
		t.Fatal(err)
	}
	if _, forgotten := f.snap(); slices.Contains(forgotten, held) {
		t.Fatalf("snapshot %d, held by running pid %d, was forgotten", held, child.Process.Pid)
	}
	if err := child.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	child.Wait()
	if _, forgotten := f.snap(); !slices.Contains(forgotten, held) {
		t.Errorf("snapshot %d still kept after its holder was killed (forgotten: %v)", held, forgotten)
	}
	if holds, err := f.repo.db.Holds(f.ctx, 0); err != nil || len(holds) != 0 {
		t.Errorf("the killed holder's hold is still there: %v, %v", holds, err)
	}
}

// writerFunc is an io.Writer that runs a function on every write.
type writerFunc func([]byte) (int, error)

func (w writerFunc) Write(p []byte) (int, error) { return w(p) }

// TestCatHoldsItsSnapshot: while Cat writes a file of a snapshot, a
// snapshot taken meanwhile (whose retention run would forget the one being
// read) forgets nothing, as with Restore.
func TestCatHoldsItsSnapshot(t *testing.T) {
	f := newHoldFixture(t)
	first, _ := f.snap()
	req, _, err := f.repo.Resolve(f.ctx, filepath.Join(f.src, "state.json"), first, false)
	if err != nil {
		t.Fatal(err)
	}
	var forgotten []int64
	var got []byte
	err = f.repo.Cat(f.ctx, req, writerFunc(func(p []byte) (int, error) {
		if forgotten == nil {
			_, forgotten = f.snap()
			forgotten = append(forgotten, 0) // taken once
		}
		got = append(got, p...)
		return len(p), nil
	}))
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(forgotten, first) {
		t.Errorf("a snapshot taken during cat forgot %d, the snapshot cat reads", first)
	}
	if string(got) != "x" {
		t.Errorf("cat = %q, want %q", got, "x")
	}
	if holds, err := f.repo.db.Holds(f.ctx, 0); err != nil || len(holds) != 0 {
		t.Errorf("holds after cat: %v, %v; want none", holds, err)
	}
}

// TestReadOnlyOpenReads: Options.ReadOnly opens an existing repository
// without writing to it; reads, cat and restore --to work (a hold would
// need a write, and no policy can forget anything there anyway), while a
// snapshot is refused with ErrReadOnly.
func TestReadOnlyOpenReads(t *testing.T) {
	f := newHoldFixture(t)
	first, _ := f.snap()
	f.repo.Close()
	ro, err := Open(f.ctx, f.repo.Dir, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	req, _, err := ro.Resolve(f.ctx, filepath.Join(f.src, "state.json"), first, false)
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	if err := ro.Cat(f.ctx, req, &out); err != nil || out.String() != "x" {
		t.Errorf("cat from a read-only repository: %q, %v", out.String(), err)
	}
	to := t.TempDir()
	if _, err := ro.Restore(f.ctx, []Request{req}, RestoreOptions{To: to}); err != nil {
		t.Errorf("restore --to from a read-only repository: %v", err)
	}
	if _, err := ro.Snapshot(f.ctx, f.src, SnapshotOptions{}); !errors.Is(err, ErrReadOnly) {
		t.Errorf("snapshot into a read-only repository: %v, want ErrReadOnly", err)
	}
	if _, err := Open(f.ctx, t.TempDir(), Options{Create: true, ReadOnly: true}); !errors.Is(err, ErrReadOnly) {
		t.Errorf("create read-only: %v, want ErrReadOnly", err)
	}
}
