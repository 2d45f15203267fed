package crashtest

import (
	"encoding/json"

	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestWatch runs `cairn watch` as a user would, with the repository inside
// the watched directory, changes the tree in rounds while it runs (files
// written, rewritten and removed, directories made, renamed and removed),
// stops it with SIGTERM, and restores every snapshot it took: each must be
// a state the tree really had.
func TestWatch(t *testing.T) {
	if testing.Short() {
		t.Skip("watch sessions take seconds; skipped under -short")
	}
	t.Parallel()
	e := newEnv(t)
	repo := filepath.Join(e.src, ".cairn")
	write := func(rel, data string) {
		t.Helper()
		p := filepath.Join(e.src, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	write("notes.txt", "first")
	write("config/app.json", `{"jobs":[1]}`)
	write("deep/a/b/c.txt", "c")

	p := e.startIn(repo, "watch", e.src, "--debounce", "300ms", "--max-interval", "1h")
	defer p.cmd.Process.Kill()
	var states []manifest
	state := func() { states = append(states, scanWithout(t, e.src, ".cairn")) }
	waitLines(t, p, 1)
	state()

	rounds := []func(){
		func() { write("notes.txt", "second, longer"); write("new.txt", "new") },
		func() { must(os.Remove(filepath.Join(e.src, "new.txt"))); write("config/app.json", `{"jobs":[1,2]}`) },
		func() { write("made/x/y/z.txt", "made at once") }, // faster than a watch can be added on made/
		func() { write("made/x/y/later.txt", "seen through the new watches") },
		func() { must(os.Rename(filepath.Join(e.src, "made"), filepath.Join(e.src, "moved"))) },
		func() { write("moved/x/after-rename.txt", "under the new name") },
		func() { must(os.RemoveAll(filepath.Join(e.src, "deep"))) },
		func() { write("deep/again.txt", "back"); must(os.Chmod(filepath.Join(e.src, "notes.txt"), 0o600)) },
	}
	for i, change := range rounds {
		change()
		state()
		waitLines(t, p, i+2)
	}
	// The repository's own writes (inside the source) trigger nothing.
	n := len(snapLines(p))
	time.Sleep(1500 * time.Millisecond)
	if got := len(snapLines(p)); got != n {
		t.Errorf("%d snapshots with nothing changed (the repository's own writes?):\n%s", got-n, p.stdout.String())
	}

	stopped := time.Now()
	must(p.cmd.Process.Signal(syscall.SIGTERM))
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		t.Fatalf("cairn watch still running 10s after SIGTERM:\n%s", p.stderr.String())
	}
	r := p.wait()
	assertNoPanic(t, r)
	if r.code != 0 && r.code != 130 {
		t.Fatalf("cairn watch exited %d after SIGTERM, want 0 or 130: %v", r.code, r)
	}
	t.Logf("stopped %v after SIGTERM; stderr:\n%s", time.Since(stopped).Round(time.Millisecond), r.stderr)

	lines := snapLines(p)
	t.Logf("stdout:\n%s", p.stdout.String())
	for i, l := range lines {
		if i > 0 && !strings.HasSuffix(l, "(changes only)") {
			t.Errorf("snapshot line %d was not a partial snapshot: %s", i, l)
		}
	}
	var snaps []snapInfo
	out := e.runIn(repo, "snapshots", "--json")
	if err := json.Unmarshal([]byte(out.stdout), &snaps); err != nil {
		t.Fatalf("snapshots --json: %v: %v", err, out)
	}
	if len(snaps) != len(lines) {
		t.Errorf("%d snapshots in the repository, %d lines printed", len(snaps), len(lines))
	}
	matched := map[int]bool{}
	for _, s := range snaps {
		dir := e.fresh("restore")
		r := e.runIn(repo, "restore", "--snapshot", strconv.FormatInt(s.ID, 10), "--to", dir, e.src)
		if r.code != 0 {
			t.Fatalf("snapshot %d does not restore: %v", s.ID, r)
		}
		got := scan(t, dir)
		found := -1
		for i, want := range states {
			if len(diffManifest(want, got, true)) == 0 {
				found = i
			}
		}
		if found < 0 {
			t.Errorf("snapshot %d is no state the tree had; against the last:\n%s", s.ID,
				strings.Join(diffManifest(states[len(states)-1], got, true), "\n"))
		}
		matched[found] = true
	}
	for i := range states {
		if !matched[i] {
			t.Errorf("no snapshot has state %d (round %d)", i, i)
		}
	}
}

// TestWatchRescansEveryMaxInterval: with nothing changing, the binary
// still takes a full rescan every --max-interval.
func TestWatchRescansEveryMaxInterval(t *testing.T) {
	if testing.Short() {
		t.Skip("watch sessions take seconds; skipped under -short")
	}
	t.Parallel()
	e := newEnv(t)
	if err := os.WriteFile(filepath.Join(e.src, "a.txt"), []byte("a"), 0o644); err != nil {
		t.Fatal(err)
	}
	p := e.start("watch", e.src, "--max-interval", "700ms")
	defer p.cmd.Process.Kill()
	waitLines(t, p, 3)
	p.cmd.Process.Signal(syscall.SIGINT)
	r := p.wait()
	if r.code != 0 && r.code != 130 {
		t.Fatalf("exit %d after SIGINT: %v", r.code, r)
	}
	for _, l := range snapLines(p) {
		if !strings.HasSuffix(l, "(full)") {
			t.Errorf("not a full rescan: %s", l)
		}
	}
}

// snapLines returns the snapshot lines printed so far.
func snapLines(p *proc) []string {
	var out []string
	for _, l := range strings.Split(p.stdout.String(), "\n") {
		if strings.HasPrefix(l, "snapshot ") {
			out = append(out, l)
		}
	}
	return out
}

// waitLines waits (at most 20s) until n snapshot lines are printed.
func waitLines(t *testing.T, p *proc, n int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for len(snapLines(p)) < n {
		select {
		case <-p.done:
			t.Fatalf("cairn watch ended before snapshot %d: %v", n, p.wait())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("no snapshot %d within 20s; stdout:\n%s\nstderr:\n%s", n, p.stdout.String(), p.stderr.String())
		}
	}
}

// scanWithout is scan leaving out one top-level name (the repository).
func scanWithout(t *testing.T, root, name string) manifest {
	m := scan(t, root)
	for p := range m {
		if p == name || strings.HasPrefix(p, name+"/") {
			delete(m, p)
		}
	}
	return m
}
