package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/cairn-dev/cairn/internal/s3test"
)

// The remote step (-remote): cairn and restic against one S3 server
// started here, versitygw on 127.0.0.1 (internal/s3test's binary, built by
// `make s3-servers`), on the agent-state corpus, in the same run. Every
// request goes through a counting reverse proxy in this process, so the
// unchanged snapshot's requests are counted for both tools. cairn keeps
// its repository in the bucket (remote-primary, its catalog a cache in
// XDG_CACHE_HOME) and opens it with a key file; two extra steps open it
// with a password instead: the first such command pays argon2id (the key
// cache is cold: the repository is new), the next finds the master key
// in the kernel keyring, as a cron job every few minutes does.
const (
	remoteName = "remote"

	stepRemoteUnchangedPW = "unchanged snapshot, password, repeated (key cached)"
	stepRemoteLocal       = "unchanged snapshot, local repository"
	stepRemoteOpen        = "open only (cairn snapshots)"
	stepRemoteHistory     = "history snapshots (sum)"
	stepRemoteRestoreWarm = "restore one small file, warm cache"
	stepRemoteRecover     = "recover"
)

// stepRemoteUnchangedPWCold is the first command with the password, which
// pays argon2id: the key cache holds nothing for a new repository.
const stepRemoteUnchangedPWCold = "unchanged snapshot, password, first (argon2id)"

var remoteSteps = []string{stepFirst, stepUnchanged, stepRemoteUnchangedPWCold, stepRemoteUnchangedPW, stepRemoteLocal, stepRemoteOpen, stepRestoreOne, stepRemoteRestoreWarm, stepRemoteHistory, stepRemoteRecover}

// remoteMode is -remote: off, on, or auto (on when versitygw is built).
type remoteMode string

func (m *remoteMode) String() string { return string(*m) }
func (m *remoteMode) Set(s string) error {
	switch s {
	case "true", "on":
		*m = "on"
	case "false", "off":
		*m = "off"
	case "auto":
		*m = "auto"
	default:
		return fmt.Errorf("want on, off or auto")
	}
	return nil
}
func (m *remoteMode) IsBoolFlag() bool { return true }

// countingProxy forwards to the S3 server and counts requests by kind
// (GET, PUT, HEAD, DELETE, POST, LIST).
type countingProxy struct {
	mu  sync.Mutex
	n   map[string]int
	rp  *httputil.ReverseProxy
	log io.Writer // every request, one line, after the command that made it (bench.log)
}

func (p *countingProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	k := r.Method
	if k == http.MethodGet && (r.URL.Query().Has("list-type") || r.URL.Query().Has("prefix") || r.URL.Query().Has("delimiter")) {
		k = "LIST"
	}
	p.mu.Lock()
	p.n[k]++
	fmt.Fprintf(p.log, "  S3 %s %s\n", k, r.URL.RequestURI())
	p.mu.Unlock()
	p.rp.ServeHTTP(w, r)
}

// take returns the counts since the last take and resets them.
func (p *countingProxy) take() map[string]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := p.n
	p.n = map[string]int{}
	return n
}

// remoteRun is the server, the proxy and the paths of one remote step.
type remoteRun struct {
	srv      *s3test.Server
	proxy    *countingProxy
	endpoint string // the proxy's URL, what the tools are given
	bucket   string
	keyFile  string
	pwFile   string
	stop     func()
}

func startRemote(work string, logw io.Writer) (*remoteRun, error) {
	bin, err := s3test.VersityPath()
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(bin); err != nil {
		return nil, fmt.Errorf("%s is missing: run `make s3-servers`", bin)
	}
	dir := filepath.Join(work, "run", remoteName, "server")
	removeAll(dir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	srv, err := s3test.StartVersity(bin, dir)
	if err != nil {
		return nil, err
	}
	target, _ := url.Parse(srv.Endpoint)
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.Transport = &http.Transport{MaxIdleConnsPerHost: 64, DisableCompression: true}
	proxy := &countingProxy{n: map[string]int{}, rp: rp, log: logw}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		srv.Stop()
		return nil, err
	}
	hs := &http.Server{Handler: proxy}
	go hs.Serve(l)
	r := &remoteRun{srv: srv, proxy: proxy, endpoint: "http://" + l.Addr().String(), bucket: "bench",
		keyFile: filepath.Join(work, "run", remoteName, "cairn.key"), pwFile: filepath.Join(work, "run", remoteName, "password")}
	r.stop = func() { hs.Close(); srv.Stop() }
	if err := srv.MakeBucket(context.Background(), r.bucket); err != nil {
		r.stop()
		return nil, err
	}
	key := make([]byte, 32)
	rand.Read(key)
	if err := os.WriteFile(r.keyFile, key, 0o600); err != nil {
		r.stop()
		return nil, err
	}
	if err := os.WriteFile(r.pwFile, []byte("cairn-bench-password\n"), 0o600); err != nil {
		r.stop()
		return nil, err
	}
	return r, nil
}

// remoteState is one tool's repository in the bucket for one repetition.
type remoteState struct {
	t        *tool
	run      *remoteRun
	prefix   string
	cacheDir string
}

func (s *remoteState) env() []string {
	env := []string{"AWS_ACCESS_KEY_ID=" + s.run.srv.AccessKey, "AWS_SECRET_ACCESS_KEY=" + s.run.srv.SecretKey, "AWS_REGION=us-east-1"}
	switch s.t.name {
	case "cairn":
		return append(env, "XDG_CACHE_HOME="+s.cacheDir, "CAIRN_S3_ENDPOINT="+s.run.endpoint, "CAIRN_NO_PROGRESS=1")
	case "restic":
		return append(env, "RESTIC_PASSWORD="+resticPassword, "RESTIC_CACHE_DIR="+s.cacheDir)
	}
	return env
}

func (s *remoteState) repo() string {
	if s.t.name == "cairn" {
		return "s3://" + s.run.bucket + "/" + s.prefix
	}
	return "s3:" + s.run.endpoint + "/" + s.run.bucket + "/" + s.prefix
}

// cmd runs the tool on the repository; cairn opens it with the key file
// unless password is set.
func (s *remoteState) cmd(password bool, args ...string) cmdSpec {
	c := cmdSpec{env: s.env()}
	switch s.t.name {
	case "cairn":
		open := []string{"--key-file", s.run.keyFile}
		if password {
			open = []string{"--password-file", s.run.pwFile}
		}
		c.argv = append(append([]string{s.t.bin, "--repo", s.repo()}, open...), args...)
	case "restic":
		c.argv = append([]string{s.t.bin, "-r", s.repo()}, args...)
	}
	return c
}

func (s *remoteState) snapshot(src string, password bool) cmdSpec {
	if s.t.name == "cairn" {
		return s.cmd(password, "snap", "-q", src)
	}
	return s.cmd(false, "--compression", "auto", "backup", "-q", src)
}

// runRemote runs the remote step: b.reps repetitions of first snapshot,
// unchanged snapshot (key file, then password for cairn), an open
// without a snapshot (cairn), restore of one small file; then, on the
// last repetition, -history snapshots into cairn's repository and -reps
// recoveries of it on a fresh cache.
func (b *bench) runRemote(c *corpus) error {
	run, err := startRemote(b.work, b.logw)
	if err != nil {
		return err
	}
	defer run.stop()
	var tools []*tool
	for _, t := range b.tools {
		if t.name == "cairn" || t.name == "restic" {
			tools = append(tools, t)
		}
	}
	dataDir := filepath.Join(b.work, "data", remoteName)
	runDir := filepath.Join(b.work, "run", remoteName)
	b.remoteServer = fmt.Sprintf("versitygw %s (posix backend) on 127.0.0.1, behind a counting proxy in the bench process", s3test.VersityVersion)
	for rep := 0; rep < b.reps; rep++ {
		tag := fmt.Sprintf("[%s %d/%d]", remoteName, rep+1, b.reps)
		progress("%s generating the %s corpus in %s", tag, c.name, dataDir)
		removeAll(dataDir)
		if err := c.gen(dataDir); err != nil {
			return fmt.Errorf("generate: %w", err)
		}
		genDone := time.Now()
		files, err := listFiles(dataDir)
		if err != nil {
			return err
		}
		b.remoteFiles, b.remoteBytes = len(files), dirSize(dataDir)
		var states []*remoteState
		for _, t := range rotate(tools, rep) {
			s := &remoteState{t: t, run: run, prefix: fmt.Sprintf("%s-%d", t.name, rep), cacheDir: filepath.Join(runDir, fmt.Sprintf("%s-cache-%d", t.name, rep))}
			removeAll(s.cacheDir)
			if err := os.MkdirAll(s.cacheDir, 0o755); err != nil {
				return err
			}
			var inits []cmdSpec
			if t.name == "cairn" {
				inits = []cmdSpec{s.cmd(false, "init"), s.cmd(false, "key", "add", "--new-password-file", run.pwFile)}
			} else {
				inits = []cmdSpec{s.cmd(false, "init")}
			}
			for _, spec := range inits {
				if _, _, _, err := runOne(spec, b.logw); err != nil {
					return fmt.Errorf("init %s: %w", t.name, err)
				}
			}
			b.commands["remote|"+t.name+"|init"] = inits[0]
			states = append(states, s)
		}
		time.Sleep(time.Until(genDone.Add(2100 * time.Millisecond)))

		measure := func(step string, s *remoteState, specs []cmdSpec, drop bool) {
			if drop {
				dropCaches()
			} else {
				syscall.Sync()
			}
			run.proxy.take()
			smp := runSteps(specs, b.logw)
			smp.Requests = run.proxy.take()
			smp.Size = dirSize(filepath.Join(run.srv.Dir, run.bucket, s.prefix))
			smp.Growth = -1
			b.recordRemote(tag, step, s, smp, specs)
		}
		for _, s := range states {
			measure(stepFirst, s, []cmdSpec{s.snapshot(dataDir, false)}, false)
		}
		for _, s := range states {
			measure(stepUnchanged, s, []cmdSpec{s.snapshot(dataDir, false)}, false)
		}
		for _, s := range states {
			if s.t.name == "cairn" {
				// The repository is new, so the first command with the
				// password finds no key cached for it (a new repository id).
				measure(stepRemoteUnchangedPWCold, s, []cmdSpec{s.snapshot(dataDir, true)}, false)
				measure(stepRemoteUnchangedPW, s, []cmdSpec{s.snapshot(dataDir, true)}, false)
				measure(stepRemoteOpen, s, []cmdSpec{s.cmd(false, "snapshots", "--json")}, false)
				// The same unchanged snapshot into a repository in a
				// directory: what the bucket adds to it.
				local := filepath.Join(runDir, fmt.Sprintf("cairn-local-%d", rep))
				removeAll(local)
				lc := func(args ...string) cmdSpec {
					spec := s.cmd(false, args...)
					spec.argv[2] = local
					return spec
				}
				for _, spec := range []cmdSpec{lc("init"), lc("snap", "-q", dataDir)} {
					if _, _, _, err := runOne(spec, b.logw); err != nil {
						return fmt.Errorf("local cairn repository: %w", err)
					}
				}
				measure(stepRemoteLocal, s, []cmdSpec{lc("snap", "-q", dataDir)}, false)
				removeAll(local)
			}
		}
		for _, s := range states {
			dst := filepath.Join(runDir, "restore-"+s.t.name)
			removeAll(dst)
			os.MkdirAll(dst, 0o755)
			path := filepath.Join(dataDir, c.oneFile)
			spec := s.cmd(false, "restore", "latest", "--target", dst, "--include", path)
			if s.t.name == "cairn" {
				spec = s.cmd(false, "restore", "--to", dst, path)
			}
			for _, step := range []string{stepRestoreOne, stepRemoteRestoreWarm} {
				measure(step, s, []cmdSpec{spec}, step == stepRestoreOne)
				if err := restoredOne(dst, path, c.oneFile); err != nil {
					b.warnings = append(b.warnings, fmt.Sprintf("remote: %s, %s: %v", s.t.name, step, err))
				}
				removeAll(dst)
				os.MkdirAll(dst, 0o755)
			}
			removeAll(dst)
		}
		if rep == b.reps-1 && b.history > 0 {
			for _, s := range states {
				if s.t.name == "cairn" {
					if err := b.remoteHistory(c, tag, run, s, dataDir); err != nil {
						return err
					}
				}
			}
		}
	}
	return nil
}

// remoteHistory takes b.history more snapshots with small changes into
// cairn's repository, then recovers it -reps times, each on an empty
// cache: a new machine's time to a usable catalog.
func (b *bench) remoteHistory(c *corpus, tag string, run *remoteRun, s *remoteState, src string) error {
	files, err := listFiles(src)
	if err != nil {
		return err
	}
	var small []string
	for _, f := range files {
		if f != c.histFile && strings.HasPrefix(f, "agents/") {
			small = append(small, f)
		}
	}
	if _, _, _, err := runOne(s.cmd(false, "policy", "set", src, "--keep-last", "100000"), b.logw); err != nil {
		return err
	}
	progress("%s taking %d snapshots with small changes into cairn's remote repository", tag, b.history)
	var sum sample
	run.proxy.take()
	for n := 1; n <= b.history; n++ {
		if err := c.histChange(src, n, small); err != nil {
			return err
		}
		smp := runSteps([]cmdSpec{s.snapshot(src, false)}, b.logw)
		sum.Wall += smp.Wall
		sum.CPU += smp.CPU
		sum.RSS = max(sum.RSS, smp.RSS)
		sum.Procs++
		if !smp.ok() && sum.ok() {
			sum.Err = smp.Err
		}
		if n%50 == 0 || n == b.history {
			progress("%s   %d/%d history snapshots", tag, n, b.history)
		}
	}
	sum.Requests = run.proxy.take()
	sum.Size = dirSize(filepath.Join(run.srv.Dir, run.bucket, s.prefix))
	sum.Growth = -1
	b.remoteHist = b.history
	b.recordRemote(tag, stepRemoteHistory, s, sum, []cmdSpec{s.snapshot(src, false)})
	for r := 0; r < b.reps; r++ {
		fresh := *s
		fresh.cacheDir = filepath.Join(filepath.Dir(s.cacheDir), fmt.Sprintf("recover-cache-%d", r))
		removeAll(fresh.cacheDir)
		os.MkdirAll(fresh.cacheDir, 0o755)
		spec := fresh.cmd(false, "recover")
		syscall.Sync()
		run.proxy.take()
		smp := runSteps([]cmdSpec{spec}, b.logw)
		smp.Requests = run.proxy.take()
		smp.Size, smp.Growth = -1, -1
		b.recordRemote(tag, stepRemoteRecover, s, smp, []cmdSpec{spec})
		removeAll(fresh.cacheDir)
	}
	return nil
}

func (b *bench) recordRemote(tag, step string, s *remoteState, smp sample, specs []cmdSpec) {
	if b.results[remoteName] == nil {
		b.results[remoteName] = map[string]map[string][]sample{}
	}
	if b.results[remoteName][step] == nil {
		b.results[remoteName][step] = map[string][]sample{}
	}
	b.results[remoteName][step][s.t.name] = append(b.results[remoteName][step][s.t.name], smp)
	key := "remote|" + s.t.name + "|" + step
	if _, ok := b.commands[key]; !ok && len(specs) > 0 {
		b.commands[key] = specs[0]
	}
	if !smp.ok() {
		progress("%s %-30s %-6s FAILED: %s", tag, step, s.t.name, smp.Err)
		return
	}
	progress("%s %-30s %-6s wall %7.2fs  cpu %7.2fs  rss %6.0f MiB  requests %s", tag, step, s.t.name, smp.Wall, smp.CPU,
		float64(smp.RSS)/1024, requestText(smp.Requests))
}

// requestText is "6 (GET 3, LIST 2, PUT 1)".
func requestText(n map[string]int) string {
	total := 0
	var parts []string
	for _, k := range []string{"GET", "HEAD", "LIST", "PUT", "POST", "DELETE"} {
		if n[k] > 0 {
			total += n[k]
			parts = append(parts, fmt.Sprintf("%s %d", k, n[k]))
		}
	}
	if total == 0 {
		return "0"
	}
	return fmt.Sprintf("%d (%s)", total, strings.Join(parts, ", "))
}

func totalRequests(n map[string]int) int {
	t := 0
	for _, v := range n {
		t += v
	}
	return t
}

var mRequests metric = func(s sample) float64 {
	if s.Requests == nil {
		return math.NaN()
	}
	return float64(totalRequests(s.Requests))
}

// medianSample is the sample of the median wall time (its request counts
// are shown beside the medians).
func (b *bench) medianSample(step, tool string) (sample, bool) {
	var ok []sample
	for _, s := range b.results[remoteName][step][tool] {
		if s.ok() {
			ok = append(ok, s)
		}
	}
	if len(ok) == 0 {
		return sample{}, false
	}
	for i := 1; i < len(ok); i++ {
		for j := i; j > 0 && ok[j].Wall < ok[j-1].Wall; j-- {
			ok[j], ok[j-1] = ok[j-1], ok[j]
		}
	}
	return ok[(len(ok)-1)/2], true
}

func (b *bench) remoteStepLabel(step string) string {
	switch step {
	case stepRemoteHistory:
		return fmt.Sprintf("%d snapshots with small changes (sum)", b.remoteHist)
	case stepRemoteRecover:
		return fmt.Sprintf("recover, %d snapshots, empty cache", b.remoteHist+3)
	}
	return step
}

// remoteReport renders docs/benchmarks-remote.md.
func (b *bench) remoteReport(c *corpus) string {
	var w strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&w, format, args...) }
	p("# Benchmarks: cairn and restic on S3\n\n")
	p("Written by `go run ./bench -remote -corpora none` (and by `make bench` when versitygw is built: `make s3-servers`);\n")
	p("source in [bench/remote.go](../bench/remote.go); do not edit by hand. `-reps N`, `-history N` and `-quick` apply.\n\n")
	for _, warn := range b.warnings {
		p("**Warning: %s.**\n\n", warn)
	}
	p("## Machine\n\n%s\n\n", b.machine())
	p("## Setup\n\n")
	p("- Server: %s. Both tools talk to the proxy; every request is counted there.\n", b.remoteServer)
	p("- Corpus: %s (%s): %d files, %s, generated afresh for each repetition.\n", c.name, c.desc, b.remoteFiles, mib(b.remoteBytes))
	p("- cairn: a remote-primary repository (`--repo s3://bench/PREFIX`, its catalog a cache in `XDG_CACHE_HOME`), opened\n")
	p("  with a key file (`--key-file`, 32 random bytes); the rows \"unchanged snapshot, password\" open it with a password\n")
	p("  instead: \"first\" is the first command with it (argon2id, t=3, m=64 MiB: the key cache is cold), \"repeated\" the next,\n")
	p("  which finds the master key in the kernel keyring (CAIRN_KEY_CACHE), as a command every few minutes does.\n")
	p("  \"open only\" is `cairn snapshots --json`: what opening costs without a snapshot;\n")
	p("  \"local repository\" is the same unchanged snapshot into a repository in a directory (`--repo DIR`): what the bucket adds.\n")
	p("- restic: `restic -r s3:http://127.0.0.1:PORT/bench/PREFIX`, `--compression auto`, its cache in RESTIC_CACHE_DIR\n")
	p("  (kept between its steps, as on a real machine). Both repositories are encrypted.\n")
	p("- Each figure is %s; wall time around the process, CPU (user+system) and peak RSS from wait4. The page\n", medianOf(b.reps))
	p("  cache is dropped before the restore (the row \"warm cache\" repeats it at once, without). Requests are those of the\n")
	p("  median-wall repetition. Repository size is what the\n")
	p("  server stores under the tool's prefix after the step.\n")
	if b.remoteHist > 0 {
		p("- History: on the last repetition cairn takes %d more snapshots with small changes (one file rewritten besides a\n", b.remoteHist)
		p("  tracked one), then `cairn recover` on an empty cache rebuilds the catalog from the bucket (%s).\n", repetitionsText(b.reps))
	}
	p("\n## Results\n\n")
	p("| step | tool | wall s | CPU s | peak RSS MiB | requests | repo MiB | n |\n")
	p("|---|---|---:|---:|---:|---|---:|---:|\n")
	var errs []string
	for _, step := range remoteSteps {
		for _, t := range b.tools {
			ss := b.results[remoteName][step][t.name]
			if len(ss) == 0 {
				continue
			}
			okN := 0
			for _, s := range ss {
				if s.ok() {
					okN++
				} else {
					errs = append(errs, fmt.Sprintf("%s, %s: %s", t.name, b.remoteStepLabel(step), oneLine(s.Err)))
				}
			}
			if okN == 0 {
				p("| %s | %s | error | | | | | 0 |\n", b.remoteStepLabel(step), t.name)
				continue
			}
			med, _ := b.medianSample(step, t.name)
			p("| %s | %s | %s | %s | %s | %s | %s | %d |\n", b.remoteStepLabel(step), t.name,
				num(b.medianOf(step, t.name, mWall), 2), num(b.medianOf(step, t.name, mCPU), 2),
				num(b.medianOf(step, t.name, mRSS), 0), requestText(med.Requests),
				num(b.medianOf(step, t.name, mSize), 1), okN)
		}
	}
	for _, e := range errs {
		p("\n- error: %s", e)
	}
	if len(errs) > 0 {
		p("\n")
	}
	b.remoteTargets(&w)
	p("\n## Commands\n\n")
	p("`$REPO` is `s3://bench/PREFIX` for cairn (with `CAIRN_S3_ENDPOINT=http://127.0.0.1:PORT`), `s3:http://127.0.0.1:PORT/bench/PREFIX`\n")
	p("for restic; `$SRC` the corpus, `$DST` an empty directory; `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY` are the server's.\n\n")
	for _, t := range b.tools {
		if t.name != "cairn" && t.name != "restic" {
			continue
		}
		p("**%s** (%s)\n\n```\n", t.name, t.version)
		if spec, ok := b.commands["remote|"+t.name+"|init"]; ok {
			p("%-34s %s\n", "# init (not timed):", b.remoteSub(spec.String()))
		}
		for _, step := range remoteSteps {
			if spec, ok := b.commands["remote|"+t.name+"|"+step]; ok {
				p("%-34s %s\n", "# "+b.remoteStepLabel(step)+":", b.remoteSub(spec.String()))
			}
		}
		p("```\n\n")
	}
	return w.String()
}

func repetitionsText(n int) string {
	if n == 1 {
		return "once"
	}
	return fmt.Sprintf("%d times, each on a new empty cache", n)
}

func (b *bench) medianOf(step, tool string, m metric) float64 {
	return b.median(remoteName, step, tool, m)
}

// remoteTargets writes issue 12's targets.
func (b *bench) remoteTargets(w *strings.Builder) {
	p := func(format string, args ...any) { fmt.Fprintf(w, format, args...) }
	p("\n## Targets (issue 12)\n\n")
	p("| target | cairn | restic | limit | result |\n")
	p("|---|---:|---:|---|---|\n")
	verdict := func(v, limit float64) string {
		switch {
		case math.IsNaN(v):
			return "n/a (missing measurement)"
		case v <= limit:
			return fmt.Sprintf("pass (%.0f%% of the limit)", 100*v/limit)
		}
		return fmt.Sprintf("**FAIL** (%.2fx the limit)", v/limit)
	}
	abs := func(label string, v, r float64, unit string, prec int, limit float64) {
		rc := "-"
		if !math.IsNaN(r) {
			rc = num(r, prec) + " " + unit
		}
		p("| %s | %s %s | %s | <= %s %s | %s |\n", label, num(v, prec), unit, rc, num(limit, prec), unit, verdict(v, limit))
	}
	ratio := func(label, step string, limit float64) {
		cv, rv := b.medianOf(step, "cairn", mWall), b.medianOf(step, "restic", mWall)
		r := cv / rv
		p("| %s | %s s | %s s | <= %.2fx restic | %s: %s |\n", label, num(cv, 2), num(rv, 2), limit, ratioCell(r), verdict(r, limit))
	}
	abs("unchanged snapshot, wall (key file)", b.medianOf(stepUnchanged, "cairn", mWall), b.medianOf(stepUnchanged, "restic", mWall), "s", 2, 0.15)
	abs("unchanged snapshot, wall (password, key cached)", b.medianOf(stepRemoteUnchangedPW, "cairn", mWall), math.NaN(), "s", 2, 0.15)
	p("| unchanged snapshot, wall (password, first: argon2id) | %s s | - | - | %s |\n", num(b.medianOf(stepRemoteUnchangedPWCold, "cairn", mWall), 2), "no target: paid once per 10 minutes per repository (CAIRN_KEY_CACHE)")
	// (No "requests beyond opening" row: snap opens without reading the
	// other writers' logs, cairn snapshots with, so the difference of the
	// two processes is not what the snapshot sends.)
	un, _ := b.medianSample(stepUnchanged, "cairn")
	rs, _ := b.medianSample(stepUnchanged, "restic")
	rr := math.NaN()
	if rs.Requests != nil {
		rr = float64(totalRequests(rs.Requests))
	}
	abs("unchanged snapshot, requests of the whole process", mRequests(un), rr, "", 0, 2)
	ratio("first snapshot, wall", stepFirst, 0.7)
	ratio("restore of one small file, wall", stepRestoreOne, 0.1)
	ratio("restore of one small file, wall, warm cache", stepRemoteRestoreWarm, 0.1)
	abs(fmt.Sprintf("recover of %d snapshots, wall", b.remoteHist+3), b.medianOf(stepRemoteRecover, "cairn", mWall), math.NaN(), "s", 2, 10)
	peak := math.NaN()
	for _, step := range remoteSteps {
		if step == stepRemoteUnchangedPWCold {
			continue // argon2id's 64 MiB, by design; shown in the table
		}
		if v := b.medianOf(step, "cairn", mRSS); !math.IsNaN(v) && (math.IsNaN(peak) || v > peak) {
			peak = v
		}
	}
	rpeak := math.NaN()
	for _, step := range remoteSteps {
		if v := b.medianOf(step, "restic", mRSS); !math.IsNaN(v) && (math.IsNaN(rpeak) || v > rpeak) {
			rpeak = v
		}
	}
	abs("peak RSS, any step but the first with a password", peak, rpeak, "MiB", 0, 64)
}

// remoteSub replaces the run's paths and addresses by placeholders.
func (b *bench) remoteSub(s string) string {
	s = strings.ReplaceAll(s, b.work+"/data/"+remoteName, "$SRC")
	s = strings.ReplaceAll(s, b.work+"/run/"+remoteName+"/restore-cairn", "$DST")
	s = strings.ReplaceAll(s, b.work+"/run/"+remoteName+"/restore-restic", "$DST")
	for _, t := range b.tools {
		for rep := 0; rep < b.reps; rep++ {
			pre := fmt.Sprintf("/bench/%s-%d", t.name, rep)
			if i := strings.Index(s, pre); i >= 0 {
				s = strings.ReplaceAll(s, pre, "/bench/PREFIX")
			}
		}
	}
	if i := strings.Index(s, "s3:http://127.0.0.1:"); i >= 0 {
		j := strings.Index(s[i:], "/bench/")
		if j > 0 {
			s = s[:i] + "s3:http://127.0.0.1:PORT" + s[i+j:]
		}
	}
	return strings.ReplaceAll(s, b.work, "$WORK")
}

// restoredOne checks that a one-file restore into dst holds the file at
// path (rel in the source) byte for byte: cairn puts it at dst/rel,
// restic at dst/path.
func restoredOne(dst, path, rel string) error {
	want, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	for _, p := range []string{filepath.Join(dst, rel), filepath.Join(dst, path), filepath.Join(dst, filepath.Base(rel))} {
		if got, err := os.ReadFile(p); err == nil {
			if !bytes.Equal(got, want) {
				return fmt.Errorf("%s restored with other contents", p)
			}
			return nil
		}
	}
	return fmt.Errorf("%s was not restored under %s", rel, dst)
}
