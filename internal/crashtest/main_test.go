package crashtest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// cairnBin is the binary under test, built once by TestMain.
var cairnBin string

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) != "" {
		os.Exit(helperMain())
	}
	dir, err := os.MkdirTemp("", "cairn-crashtest-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "crashtest:", err)
		os.Exit(1)
	}
	code := func() int {
		defer os.RemoveAll(dir)
		root, err := moduleRoot()
		if err != nil {
			fmt.Fprintln(os.Stderr, "crashtest: find module root:", err)
			return 1
		}
		cairnBin = filepath.Join(dir, "cairn")
		// The same build as `make build`, without -race: the binary under
		// test should be the one users run, and fast.
		build := exec.Command("go", "build", "-o", cairnBin, "./cmd/cairn")
		build.Dir = root
		if out, err := build.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "crashtest: go build ./cmd/cairn: %v\n%s", err, out)
			return 1
		}
		return m.Run()
	}()
	os.Exit(code)
}

func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", err
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("not inside a module")
	}
	return filepath.Dir(gomod), nil
}

// ---- helper process -------------------------------------------------------

// helperEnv makes the test binary act as a lock holder instead of running
// tests; it is started with argv "cairn gc" so that cairn's "waiting for"
// line names it like a real gc.
const helperEnv = "CAIRN_CRASHTEST_HELPER"

// helperMain takes flock(2) locks on the files in CAIRN_CRASHTEST_LOCKS
// (list separated by the OS path list separator), exclusively unless
// CAIRN_CRASHTEST_SHARED is set, prints "locked", then holds them for
// CAIRN_CRASHTEST_HOLD (a duration; forever if unset) and exits.
func helperMain() int {
	how := syscall.LOCK_EX
	if os.Getenv("CAIRN_CRASHTEST_SHARED") != "" {
		how = syscall.LOCK_SH
	}
	var files []*os.File
	for _, p := range filepath.SplitList(os.Getenv("CAIRN_CRASHTEST_LOCKS")) {
		f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			fmt.Fprintln(os.Stderr, "helper:", err)
			return 1
		}
		if err := syscall.Flock(int(f.Fd()), how); err != nil {
			fmt.Fprintln(os.Stderr, "helper: flock:", err)
			return 1
		}
		files = append(files, f)
	}
	fmt.Println("locked")
	if d, err := time.ParseDuration(os.Getenv("CAIRN_CRASHTEST_HOLD")); err == nil {
		time.Sleep(d)
		return 0
	}
	for {
		time.Sleep(time.Hour) // until killed
	}
}

// holder is a running lock-holding helper.
type holder struct {
	cmd  *exec.Cmd
	done chan struct{}
}

// startHolder starts a helper that looks like "cairn gc" and returns once
// it holds every lock in paths.
func startHolder(t *testing.T, hold time.Duration, shared bool, paths ...string) *holder {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := &exec.Cmd{Path: self, Args: []string{"cairn", "gc"}}
	cmd.Env = append(os.Environ(), helperEnv+"=1", "CAIRN_CRASHTEST_LOCKS="+strings.Join(paths, string(os.PathListSeparator)))
	if hold > 0 {
		cmd.Env = append(cmd.Env, "CAIRN_CRASHTEST_HOLD="+hold.String())
	}
	if shared {
		cmd.Env = append(cmd.Env, "CAIRN_CRASHTEST_SHARED=1")
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	h := &holder{cmd: cmd, done: make(chan struct{})}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || line != "locked\n" {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("lock holder did not start: %q %v", line, err)
	}
	go func() { cmd.Wait(); close(h.done) }()
	t.Cleanup(func() { h.kill() })
	return h
}

func (h *holder) pid() int { return h.cmd.Process.Pid }

func (h *holder) kill() {
	select {
	case <-h.done:
		return
	default:
	}
	h.cmd.Process.Signal(syscall.SIGKILL)
	<-h.done
}

// ---- running cairn ----------------------------------------------------------

// env is one test's world: base holds exactly the source and the
// repository (so a stray file is easy to spot), scratch everything else.
type env struct {
	t       *testing.T
	base    string
	src     string
	repo    string
	scratch string
	nscr    int
	// extraEnv is added to every command's environment (a test hook).
	extraEnv []string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	traceTotals(t)
	e := &env{t: t, base: realTempDir(t), scratch: realTempDir(t)}
	e.src = filepath.Join(e.base, "src")
	e.repo = filepath.Join(e.base, "repo")
	if err := os.Mkdir(e.src, 0o755); err != nil {
		t.Fatal(err)
	}
	return e
}

// realTempDir is t.TempDir with symlinks resolved, so paths compare equal
// to the canonical source paths cairn records.
func realTempDir(t *testing.T) string {
	d, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// fresh returns a new directory name under scratch that does not exist.
func (e *env) fresh(prefix string) string {
	e.nscr++
	return filepath.Join(e.scratch, fmt.Sprintf("%s-%d", prefix, e.nscr))
}

// result is one finished cairn command.
type result struct {
	args           []string
	code           int // -1 when killed by a signal
	killed         bool
	stdout, stderr string
	dur            time.Duration
}

func (r result) String() string {
	return fmt.Sprintf("cairn %s: exit %d after %v\nstdout: %s\nstderr: %s", strings.Join(r.args, " "), r.code,
		r.dur.Round(time.Millisecond), clip(r.stdout), clip(r.stderr))
}

func clip(s string) string {
	if len(s) > 3000 {
		return s[:3000] + "...(clipped)"
	}
	return s
}

// proc is a cairn command running in the background.
type proc struct {
	cmd            *exec.Cmd
	cancel         context.CancelFunc
	stdout, stderr lockedBuffer
	start          time.Time
	done           chan struct{}
	res            result
}

// lockedBuffer collects a command's output while a test may read it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// cmdTimeout bounds every command, so a hang fails the test instead of
// stalling the run.
const cmdTimeout = 2 * time.Minute

func (e *env) start(args ...string) *proc {
	return e.startIn(e.repo, args...)
}

func (e *env) startIn(repo string, args ...string) *proc {
	e.t.Helper()
	full := append([]string{"--repo", repo}, args...)
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	p := &proc{cancel: cancel, done: make(chan struct{})}
	p.cmd = exec.CommandContext(ctx, cairnBin, full...)
	p.cmd.Env = append(os.Environ(), "HOME="+e.scratch, "XDG_DATA_HOME="+e.scratch, "CAIRN_REPO=")
	p.cmd.Env = append(p.cmd.Env, e.extraEnv...)
	p.cmd.Dir = e.scratch
	p.cmd.Stdout, p.cmd.Stderr = &p.stdout, &p.stderr
	p.res.args = args
	p.start = time.Now()
	if err := p.cmd.Start(); err != nil {
		cancel()
		e.t.Fatalf("start cairn %v: %v", args, err)
	}
	go func() {
		err := p.cmd.Wait()
		p.res.dur = time.Since(p.start)
		p.res.stdout, p.res.stderr = p.stdout.String(), p.stderr.String()
		p.res.code = p.cmd.ProcessState.ExitCode()
		if ws, ok := p.cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			p.res.killed = ws.Signal() == syscall.SIGKILL
		}
		if err != nil && ctx.Err() != nil {
			p.res.stderr += "\n(crashtest: timed out after " + cmdTimeout.String() + ")"
		}
		cancel()
		close(p.done)
	}()
	return p
}

func (p *proc) wait() result {
	<-p.done
	cmdTime.Add(int64(p.res.dur))
	if trace {
		fmt.Fprintf(os.Stderr, "crashtest: cairn %s: exit %d in %v\n", strings.Join(p.res.args, " "), p.res.code, p.res.dur.Round(time.Millisecond))
	}
	return p.res
}

// cmdTime adds up how long cairn commands ran, for the trace.
var cmdTime atomic.Int64

// trace (CAIRN_CRASHTEST_TRACE=1) prints every command and its duration.
var trace = os.Getenv("CAIRN_CRASHTEST_TRACE") != ""

// killAfter sends SIGKILL after d unless the command has exited by then.
func (p *proc) killAfter(d time.Duration) result {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-p.done:
	case <-timer.C:
		p.cmd.Process.Signal(syscall.SIGKILL)
	}
	return p.wait()
}

func (e *env) run(args ...string) result {
	e.t.Helper()
	r := e.start(args...).wait()
	assertNoPanic(e.t, r)
	return r
}

func (e *env) runIn(repo string, args ...string) result {
	e.t.Helper()
	r := e.startIn(repo, args...).wait()
	assertNoPanic(e.t, r)
	return r
}

// must runs a command that has to succeed.
func (e *env) must(args ...string) result {
	e.t.Helper()
	r := e.run(args...)
	if r.code != 0 {
		e.t.Fatalf("unexpected failure: %v", r)
	}
	return r
}

// ---- assertions -------------------------------------------------------------

// assertNoPanic fails on any sign of a Go panic or runtime crash.
func assertNoPanic(t *testing.T, r result) {
	t.Helper()
	for _, s := range []string{r.stdout, r.stderr} {
		for _, bad := range []string{"panic:", "goroutine ", "fatal error:", "SIGSEGV"} {
			if strings.Contains(s, bad) {
				t.Fatalf("output contains %q: %v", bad, r)
			}
		}
	}
}

// assertOneLineError checks a failed command: the given exit code, every
// stderr line a "cairn: " or "warning: " line (an error never spills over
// several lines), the last one the error, containing each of want
// (case-insensitive).
func assertOneLineError(t *testing.T, r result, code int, want ...string) {
	t.Helper()
	assertNoPanic(t, r)
	if r.code != code {
		t.Fatalf("want exit %d: %v", code, r)
	}
	lines := strings.Split(strings.TrimRight(r.stderr, "\n"), "\n")
	for _, l := range lines {
		if !strings.HasPrefix(l, "cairn: ") && !strings.HasPrefix(l, "warning: ") {
			t.Fatalf("stderr line %q is not a one-line message: %v", l, r)
		}
	}
	last := lines[len(lines)-1]
	if !strings.HasPrefix(last, "cairn: ") {
		t.Fatalf("the last stderr line is not the error: %v", r)
	}
	for _, w := range want {
		if !strings.Contains(strings.ToLower(last), strings.ToLower(w)) {
			t.Fatalf("error line %q does not mention %q", last, w)
		}
	}
}

// assertSomeLine requires one stderr line that mentions everything in want.
func assertSomeLine(t *testing.T, r result, want ...string) {
	t.Helper()
	for _, l := range strings.Split(r.stderr, "\n") {
		all := true
		for _, w := range want {
			all = all && strings.Contains(strings.ToLower(l), strings.ToLower(w))
		}
		if all {
			return
		}
	}
	t.Fatalf("no stderr line mentions all of %q: %v", want, r)
}

// ---- repository queries -------------------------------------------------------

type snapInfo struct {
	ID     int64  `json:"id"`
	Source string `json:"source"`
	Label  string `json:"label"`
}

func (e *env) snapshots() []snapInfo {
	e.t.Helper()
	r := e.must("snapshots", "--json")
	var out []snapInfo
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		e.t.Fatalf("snapshots --json: %v: %v", err, r)
	}
	return out
}

var unreferencedRE = regexp.MustCompile(`(\d+) packs? not in the catalog`)

// checkData runs check --read-data, which must find no damage; it returns
// the number of unreferenced (orphan) packs it reported, which are allowed.
func (e *env) checkData() int {
	e.t.Helper()
	r := e.run("check", "--read-data")
	if r.code != 0 {
		e.t.Fatalf("check --read-data found damage: %v", r)
	}
	if m := unreferencedRE.FindStringSubmatch(r.stdout); m != nil {
		n, _ := strconv.Atoi(m[1])
		return n
	}
	return 0
}

// history tracks the manifest recorded when each snapshot committed.
type history map[int64]manifest

// adopt brings h up to date with the repository's snapshots of e.src:
// those that appeared get the manifest state (what the source held while
// they ran), those forgotten are dropped. It returns the new ids.
func (e *env) adopt(h history, state manifest) []int64 {
	e.t.Helper()
	return e.adoptFor(e.src, h, state)
}

func (e *env) adoptFor(src string, h history, state manifest) []int64 {
	e.t.Helper()
	var added []int64
	seen := map[int64]bool{}
	for _, s := range e.snapshots() {
		if s.Source != src {
			continue
		}
		seen[s.ID] = true
		if _, ok := h[s.ID]; !ok {
			h[s.ID] = state
			added = append(added, s.ID)
		}
	}
	for id := range h {
		if !seen[id] {
			delete(h, id)
		}
	}
	return added
}

// verifySnapshot restores snapshot id of src to a fresh directory and
// compares it with want, byte for byte.
func (e *env) verifySnapshot(id int64, src string, want manifest) {
	e.t.Helper()
	dir := e.fresh("verify")
	r := e.run("restore", "--snapshot", strconv.FormatInt(id, 10), "--to", dir, src)
	if r.code != 0 {
		e.t.Fatalf("snapshot %d does not restore: %v", id, r)
	}
	got := scan(e.t, dir)
	if d := diffManifest(want, got, true); len(d) > 0 {
		e.t.Fatalf("snapshot %d restored differently from what was snapshotted:\n%s", id, strings.Join(d, "\n"))
	}
	os.RemoveAll(dir)
}

// verifyAll restores every snapshot in h.
func (e *env) verifyAll(h history) {
	e.t.Helper()
	for _, id := range sortedIDs(h) {
		e.verifySnapshot(id, e.src, h[id])
	}
}

// verifyNewest restores the newest snapshot in h, of src.
func (e *env) verifyNewest(src string, h history) {
	e.t.Helper()
	ids := sortedIDs(h)
	if len(ids) == 0 {
		e.t.Fatalf("no snapshot of %s to verify", src)
	}
	e.verifySnapshot(ids[len(ids)-1], src, h[ids[len(ids)-1]])
}

func sortedIDs(h history) []int64 {
	ids := make([]int64, 0, len(h))
	for id := range h {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	return ids
}

// trim forgets all but the newest keep snapshots, so verifying every
// committed snapshot stays cheap.
func (e *env) trim(h history, keep int) {
	e.t.Helper()
	ids := sortedIDs(h)
	if len(ids) <= keep {
		return
	}
	args := []string{"forget"}
	for _, id := range ids[:len(ids)-keep] {
		args = append(args, strconv.FormatInt(id, 10))
		delete(h, id)
	}
	e.must(args...)
}

// assertOnly fails if dir holds anything but the named entries.
func assertOnly(t *testing.T, dir string, names ...string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	allowed := map[string]bool{}
	for _, n := range names {
		allowed[n] = true
	}
	for _, en := range entries {
		if !allowed[en.Name()] {
			t.Fatalf("unexpected %s in %s (a command wrote outside its target)", en.Name(), dir)
		}
	}
}

// ---- kill bookkeeping -------------------------------------------------------

// killBudget splits the number of kills (CAIRN_KILLS, default 40) between
// the commands.
func killBudget(t *testing.T) (snap, gc, restoreInPlace, restoreTo int) {
	n := 40
	if s := os.Getenv("CAIRN_KILLS"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 4 {
			t.Fatalf("CAIRN_KILLS=%q: want a number >= 4", s)
		}
		n = v
	}
	snap = n * 4 / 10
	gc = n * 3 / 10
	restoreInPlace = (n - snap - gc) * 2 / 3
	restoreTo = n - snap - gc - restoreInPlace
	return
}

// killStats records where kills landed: by delay as a share of the
// command's typical duration, and by what the kill left behind.
type killStats struct {
	name     string
	buckets  [5]int // delay: <25%, <50%, <75%, <100%, later
	outcomes map[string]int
	kills    int
	finished int
}

func newKillStats(name string) *killStats {
	return &killStats{name: name, outcomes: map[string]int{}}
}

func (k *killStats) add(delay, typical time.Duration, r result, outcome string) {
	if !r.killed {
		k.finished++
		k.outcomes["finished before the kill"]++
		return
	}
	k.kills++
	b := int(4 * float64(delay) / float64(typical))
	k.buckets[min(max(b, 0), 4)]++
	k.outcomes[outcome]++
}

func (k *killStats) log(t *testing.T) {
	var outs []string
	for o, n := range k.outcomes {
		outs = append(outs, fmt.Sprintf("%s: %d", o, n))
	}
	sort.Strings(outs)
	t.Logf("%s: %d kills (%d runs finished first); delay/typical <25%%: %d, <50%%: %d, <75%%: %d, <100%%: %d, later: %d; %s",
		k.name, k.kills, k.finished, k.buckets[0], k.buckets[1], k.buckets[2], k.buckets[3], k.buckets[4], strings.Join(outs, ", "))
}

// tmpFiles counts what interrupted runs left in the repository's tmp/,
// but the markers that make the next snapshot resume (resume-*).
func (e *env) tmpFiles() int {
	entries, _ := os.ReadDir(filepath.Join(e.repo, "local", "tmp"))
	n := 0
	for _, en := range entries {
		if !strings.HasPrefix(en.Name(), "resume-") {
			n++
		}
	}
	return n
}

// traceTotals logs, with CAIRN_CRASHTEST_TRACE, how much of a test's time
// went to cairn commands.
func traceTotals(t *testing.T) {
	if !trace {
		return
	}
	start, before := time.Now(), cmdTime.Load()
	t.Cleanup(func() {
		t.Logf("trace: %v in cairn commands of %v", time.Duration(cmdTime.Load()-before).Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
	})
}

// catalogFile is a repository's catalog.db: REPO/local/catalog.db in
// format 2.
func catalogFile(repo string) string { return filepath.Join(repo, "local", "catalog.db") }
