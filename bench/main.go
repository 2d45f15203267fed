// Command bench compares cairn with restic and borg on the same data in
// the same run, and writes the results to docs/benchmarks.md.
//
// Usage (from the module root):
//
//	make bench                                 # builds bin/cairn, then go run ./bench
//	make bench BENCHFLAGS=-quick               # tiny corpora, 1 repetition: a smoke run of 2-3 minutes
//	go run ./bench -corpora agent-state -reps 5
//	go run ./bench -big-size 256MiB -history 50
//
// Three corpora are generated deterministically (fixed seeds, no network)
// under -work (default bench/_work: ignored by git, and by go ./... since it
// starts with "_", which matters because it holds a copy of GOROOT):
//
//   - agent-state: ~20,000 small JSON/YAML/Markdown files (200 B to 20 KiB)
//     3-4 directories deep, plus two SQLite databases in WAL mode (~200 MiB
//     and ~20 MiB); about 300 MiB.
//   - source-tree: a copy of $(go env GOROOT).
//   - big-files: four files of -big-size in total (default 2 GiB), two of
//     random bytes and two of log text.
//   - scale: -scale-files (default 100,000; 1,000,000 for the 1M-file run)
//     JSON files of 100 bytes, 100 per directory ("tree A" of issue 14),
//     for cairn and restic, first and unchanged snapshot only; -scale-tree B
//     makes "tree B" instead (varied JSON, 60 B to 16 KiB, in 300 x 20
//     directories), a second shape to check a gain on. Its report
//     is a section of its own at the end of -out: a run of this corpus
//     alone replaces that section and keeps the rest of the file.
//
// For each corpus and repetition (-reps, default 3) the corpus is generated
// afresh, each tool gets a new repository, and every step runs for every
// tool before the next step starts, the tools' order rotating between
// repetitions: first snapshot; snapshot with nothing changed; snapshot after
// a mutation (1% of small files changed, 100 added, 50 removed, 1% of the
// big database's rows updated through a connection the harness holds open
// with wal_autocheckpoint off, so the -wal is live); full restore into an
// empty directory; restore of one small file; restore of the big database
// (big-files: of one big file; it has no small file to restore). The page
// cache is dropped before every restore, and sync(2) runs before every
// snapshot step, untimed. On the last repetition of the -history-corpora (default
// agent-state) each tool then takes -history (default 200) snapshots with
// small changes between them, and the history of one file is listed
// (cairn log, restic find, borg list of every archive) -reps times.
//
// Each tool runs as a child process of a small launcher (launch.go: a
// child's ru_maxrss starts at its parent's); wall time is measured around
// it, CPU time (user+system) and peak RSS come from its wait4 rusage. Medians of
// the repetitions are reported in a markdown table, with a second table of
// cairn's targets (ratios to restic) marked pass or fail.
//
// -remote adds the remote step (remote.go): cairn and restic on one S3
// server started here (versitygw on 127.0.0.1, behind a request-counting
// proxy), on the agent-state corpus, reported in docs/benchmarks-remote.md:
// first and unchanged snapshot (with request counts), one-file restore, and
// cairn recover of a repository of -history snapshots. `-remote=auto` (what
// make bench passes) runs it when versitygw is built; `go run ./bench
// -remote -corpora none` runs only it.
//
// Flags: -reps, -work, -corpora (none: no corpus), -quick, -big-size, -scale-files, -scale-tree, -history,
// -history-corpora, -tools, -cairn, -out, -keep, -remote, -remote-out.
package main

import (
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/cairn-dev/cairn/internal/s3test"
)

// Steps, in the order they run.
const (
	stepFirst      = "first snapshot"
	stepUnchanged  = "unchanged snapshot"
	stepMutated    = "snapshot after mutation"
	stepRestoreAll = "full restore"
	stepRestoreOne = "restore one small file"
	stepRestoreBig = "restore big file"
	stepHistBuild  = "history snapshots (sum)"
	stepHistory    = "history of one file"
	stepRebuild    = "rebuild catalog from the log"
)

var allSteps = []string{stepFirst, stepUnchanged, stepMutated, stepRestoreAll, stepRestoreOne, stepRestoreBig, stepHistBuild, stepHistory, stepRebuild}

// corpus is one data set and how to change it.
type corpus struct {
	name, desc string
	gen        func(dir string) error
	mutate     func(dir string) (io.Closer, mutation, error)
	oneFile    string
	bigRels    []string // restic and borg restore these for the big-file step (nil: n/a)
	cairnBig   []string // what cairn restores for it
	bigLabel   string
	histFile   string
	histChange func(dir string, i int, files []string) error
	snapOnly   bool            // only the first and the unchanged snapshot
	tools      map[string]bool // the tools it runs (nil: all)

	// filled in while running
	files    int
	bytes    int64
	mutation string
}

type bench struct {
	work, out     string
	reps, history int
	histCorpora   map[string]bool
	keep, quick   bool
	tools         []*tool
	corpora       []*corpus
	results       map[string]map[string]map[string][]sample // corpus, step, tool
	commands      map[string]cmdSpec                        // "tool|step"
	cacheNote     string
	warnings      []string // shown at the top of the report
	started       time.Time
	logw          io.Writer
	histSnapshots int
	// trash is where discard moves big trees (trash.go); trashed counts
	// them, for unique names.
	trash   string
	trashed int

	// the remote step (remote.go)
	remoteServer            string
	remoteFiles, remoteHist int
	remoteBytes             int64
}

func main() {
	if len(os.Args) > 2 && os.Args[1] == launchArg {
		launchMain(os.Args[2:])
	}
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "bench: %v\n", err)
		os.Exit(1)
	}
}

func run() error {
	reps := flag.Int("reps", 3, "repetitions of every step (medians are reported)")
	work := flag.String("work", "bench/_work", "work directory for corpora, repositories and restores")
	corporaFlag := flag.String("corpora", "agent-state,source-tree,big-files,scale", "corpora to run, comma-separated")
	scaleFiles := flag.Int("scale-files", 100000, "files in the scale corpus (1000000: the 1M-file run, ~10 min a repetition on 2 cores)")
	scaleTree := flag.String("scale-tree", "A", "shape of the scale corpus: A (100-byte files, 100 per directory) or B (varied JSON, 300 x 20 directories)")
	quick := flag.Bool("quick", false, "smoke run: tiny corpora, 1 repetition, 10 history snapshots, report under -work")
	bigSize := flag.String("big-size", "2GiB", "total size of the big-files corpus (e.g. 256MiB)")
	history := flag.Int("history", 200, "snapshots taken for the history-of-one-file step (0: skip it)")
	histCorpora := flag.String("history-corpora", "agent-state", "corpora that get the history step, comma-separated")
	toolsFlag := flag.String("tools", "cairn,restic,borg", "tools to compare, comma-separated")
	cairnBin := flag.String("cairn", "bin/cairn", "the cairn binary")
	out := flag.String("out", "docs/benchmarks.md", "markdown report to write (\"\" for none)")
	keep := flag.Bool("keep", false, "keep corpora and repositories after the run")
	remote := remoteMode("off")
	flag.Var(&remote, "remote", "the remote step, cairn and restic on versitygw (S3) on the agent-state corpus: on (-remote), off, or auto (on when `make s3-servers` built versitygw; make bench passes it)")
	remoteOut := flag.String("remote-out", "docs/benchmarks-remote.md", "markdown report of the remote step (\"\" for none)")
	flag.Parse()
	set := map[string]bool{}
	flag.Visit(func(f *flag.Flag) { set[f.Name] = true })

	if *quick {
		if !set["reps"] {
			*reps = 1
		}
		if !set["big-size"] {
			*bigSize = "64MiB"
		}
		if !set["history"] {
			*history = 10
		}
		if !set["scale-files"] {
			*scaleFiles = 10000
		}
		if !set["out"] {
			*out = filepath.Join(*work, "benchmarks-quick.md")
		}
		if !set["remote-out"] {
			*remoteOut = filepath.Join(*work, "benchmarks-remote-quick.md")
		}
	}
	if remote == "auto" {
		remote = "off"
		if bin, err := s3test.VersityPath(); err == nil {
			if _, err := os.Stat(bin); err == nil {
				remote = "on"
			}
		}
		if remote == "off" {
			progress("versitygw is not built (make s3-servers): skipping the remote step")
		}
	}
	if *reps < 1 {
		return fmt.Errorf("-reps must be at least 1")
	}
	big, err := parseSize(*bigSize)
	if err != nil {
		return fmt.Errorf("-big-size: %w", err)
	}
	workAbs, err := filepath.Abs(*work)
	if err != nil {
		return err
	}
	tools, err := findTools(splitList(*toolsFlag), *cairnBin)
	if err != nil {
		return err
	}
	goroot := strings.TrimSpace(output("go", "env", "GOROOT"))
	b := &bench{work: workAbs, out: *out, reps: *reps, history: *history, keep: *keep, quick: *quick, tools: tools,
		histCorpora: map[string]bool{}, results: map[string]map[string]map[string][]sample{},
		commands: map[string]cmdSpec{}, started: time.Now()}
	for _, c := range splitList(*histCorpora) {
		b.histCorpora[c] = true
	}
	all := map[string]*corpus{}
	scaleC, err := scaleCorpus(*scaleFiles, *scaleTree)
	if err != nil {
		return err
	}
	for _, c := range append(defineCorpora(*quick, big, goroot), scaleC) {
		all[c.name] = c
	}
	for _, name := range splitList(*corporaFlag) {
		if name == "none" {
			continue
		}
		c, ok := all[name]
		if !ok {
			return fmt.Errorf("unknown corpus %q (want agent-state, source-tree, big-files, scale)", name)
		}
		b.corpora = append(b.corpora, c)
	}
	if err := os.MkdirAll(filepath.Join(workAbs, "logs"), 0o755); err != nil {
		return err
	}
	logf, err := os.Create(filepath.Join(workAbs, "logs", "bench.log"))
	if err != nil {
		return err
	}
	defer logf.Close()
	b.logw = logf
	progress("tools: %s; log of every command: %s", toolList(tools), logf.Name())
	b.trash = filepath.Join(workAbs, "trash")
	removeAll(b.trash) // a killed run's
	defer removeAll(b.trash)
	if err := dropCaches(); err != nil {
		b.cacheNote = fmt.Sprintf("the page cache could NOT be dropped before restores (%v); restores ran with a warm cache", err)
		progress("warning: %s", b.cacheNote)
	} else {
		b.cacheNote = "the page cache was dropped (`sync; echo 1 > /proc/sys/vm/drop_caches`) before every restore step; " + trashNote
	}
	for _, c := range b.corpora {
		if err := b.runCorpus(c); err != nil {
			return fmt.Errorf("%s: %w", c.name, err)
		}
	}
	if remote == "on" {
		if err := b.runRemote(all["agent-state"]); err != nil {
			return fmt.Errorf("remote: %w", err)
		}
	}
	for _, t := range b.tools {
		if binStamp(t.bin) != t.stamp {
			b.warnings = append(b.warnings, fmt.Sprintf("%s was rebuilt or replaced during the run: its figures may mix versions; run again", t.bin))
			progress("warning: %s", b.warnings[len(b.warnings)-1])
		}
	}
	if remote == "on" {
		rep := b.remoteReport(all["agent-state"])
		fmt.Print(rep)
		if *remoteOut != "" {
			if err := os.WriteFile(*remoteOut, []byte(rep), 0o644); err != nil {
				return err
			}
			progress("wrote %s", *remoteOut)
		}
	}
	mainReport, scale := b.report()
	fmt.Print(mainReport, scale)
	if b.out != "" && len(b.corpora) > 0 {
		if err := os.MkdirAll(filepath.Dir(b.out), 0o755); err != nil {
			return err
		}
		old, _ := os.ReadFile(b.out) // a missing report is an empty one
		report := merged(string(old), mainReport, scale, mainReport != "", scale != "")
		if err := os.WriteFile(b.out, []byte(report), 0o644); err != nil {
			return err
		}
		progress("wrote %s", b.out)
	}
	if !b.keep {
		removeAll(filepath.Join(workAbs, "data"))
		removeAll(filepath.Join(workAbs, "run"))
	}
	return nil
}

func defineCorpora(quick bool, bigSize int64, goroot string) []*corpus {
	ap := agentParamsFor(quick)
	sp := sourceParamsFor(quick, goroot)
	agent := &corpus{name: "agent-state", gen: func(dir string) error { return genAgentState(dir, ap) },
		mutate: func(dir string) (io.Closer, mutation, error) {
			w, m, err := mutateAgentState(dir, ap)
			return w, m, err
		},
		oneFile: ap.oneFile, bigRels: []string{ap.bigDBRel, ap.bigDBRel + "-wal"}, cairnBig: []string{ap.bigDBRel},
		bigLabel: "restore big database", histFile: ap.historyFile,
		histChange: func(dir string, i int, files []string) error {
			if err := os.WriteFile(filepath.Join(dir, ap.historyFile), historyState(i), 0o644); err != nil {
				return err
			}
			r := rand.New(rand.NewPCG(31, uint64(i)))
			rel := files[r.IntN(len(files))]
			return os.WriteFile(filepath.Join(dir, rel), smallContent(r, rel), 0o644)
		}}
	agent.desc = fmt.Sprintf("%d small JSON/YAML/Markdown files (200 B-20 KiB, 3-4 levels deep) and two SQLite databases in WAL mode (%s, %s)",
		ap.files, mib(ap.bigDB), mib(ap.smallDB))
	appendLine := func(dir, rel string, i int) error {
		f, err := os.OpenFile(filepath.Join(dir, rel), os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			return err
		}
		fmt.Fprintf(f, "// history %d\n", i)
		return f.Close()
	}
	source := &corpus{name: "source-tree", gen: func(dir string) error { return genSource(dir, sp) },
		mutate: func(dir string) (io.Closer, mutation, error) {
			m, err := mutateSource(dir, sp)
			return nil, m, err
		},
		oneFile: sp.oneFile, histFile: sp.historyFile,
		histChange: func(dir string, i int, files []string) error {
			if err := appendLine(dir, sp.historyFile, i); err != nil {
				return err
			}
			return appendLine(dir, files[rand.New(rand.NewPCG(37, uint64(i))).IntN(len(files))], i)
		}}
	source.desc = "a copy of " + filepath.Join(goroot, sp.sub) + " (" + output("go", "version") + ")"
	bigc := &corpus{name: "big-files", gen: func(dir string) error { return genBig(dir, bigSize) },
		mutate: func(dir string) (io.Closer, mutation, error) {
			m, err := mutateBig(dir)
			return nil, m, err
		},
		bigRels: []string{bigNames[0]}, cairnBig: []string{bigNames[0]},
		bigLabel: "restore one big file (" + bigNames[0] + ")", histFile: bigNames[1],
		histChange: func(dir string, i int, files []string) error { return appendLine(dir, bigNames[1], i) }}
	bigc.desc = fmt.Sprintf("four files, %s in total: two of random bytes (incompressible), two of log text (compressible)", mib(bigSize))
	return []*corpus{agent, source, bigc}
}

// runs reports whether corpus c runs tool t.
func (c *corpus) runs(t *tool) bool { return c.tools == nil || c.tools[t.name] }

func (b *bench) runCorpus(c *corpus) error {
	dataDir := filepath.Join(b.work, "data", c.name)
	runDir := filepath.Join(b.work, "run", c.name)
	var tools []*tool
	for _, t := range b.tools {
		if c.runs(t) {
			tools = append(tools, t)
		}
	}
	for rep := 0; rep < b.reps; rep++ {
		order := rotate(tools, rep)
		tag := fmt.Sprintf("[%s %d/%d]", c.name, rep+1, b.reps)
		progress("%s generating corpus in %s", tag, dataDir)
		if err := b.discard(c, dataDir); err != nil {
			return err
		}
		t0 := time.Now()
		if err := c.gen(dataDir); err != nil {
			return fmt.Errorf("generate: %w", err)
		}
		genDone := time.Now()
		files, err := listFiles(dataDir)
		if err != nil {
			return err
		}
		c.files, c.bytes = len(files), dirSize(dataDir)
		progress("%s corpus: %d files, %s (generated in %.1fs)", tag, c.files, mib(c.bytes), genDone.Sub(t0).Seconds())
		if err := b.discard(c, runDir); err != nil {
			return err
		}
		var states []*repoState
		for _, t := range order {
			s := &repoState{t: t, repo: filepath.Join(runDir, t.name+"-repo"), cacheDir: filepath.Join(runDir, t.name+"-cache")}
			if err := os.MkdirAll(s.cacheDir, 0o755); err != nil {
				return err
			}
			if _, ok := b.commands[t.name+"|init"]; !ok {
				b.commands[t.name+"|init"] = s.initRepo()
			}
			if _, _, _, err := runOne(s.initRepo(), b.logw); err != nil {
				return fmt.Errorf("init %s: %w", t.name, err)
			}
			states = append(states, s)
		}
		// cairn re-reads files modified within 2s of a snapshot's start
		// (racy mtimes); freshly generated data would be read twice.
		time.Sleep(time.Until(genDone.Add(2100 * time.Millisecond)))

		b.snapStep(c, tag, stepFirst, states, dataDir)
		b.snapStep(c, tag, stepUnchanged, states, dataDir)
		if c.snapOnly {
			c.mutation = "none"
			if !b.keep {
				removeAll(runDir)
			}
			continue
		}
		closer, m, err := c.mutate(dataDir)
		if err != nil {
			return fmt.Errorf("mutate: %w", err)
		}
		c.mutation = m.note
		if c.bigRels != nil && len(c.bigRels) > 1 {
			if st, err := os.Stat(filepath.Join(dataDir, c.bigRels[1])); err == nil {
				c.mutation += fmt.Sprintf(" (its -wal: %s while the tools snapshot)", mib(st.Size()))
			} else {
				c.mutation += " (its -wal is MISSING: " + err.Error() + ")"
			}
		}
		progress("%s mutation: %s", tag, c.mutation)
		b.snapStep(c, tag, stepMutated, states, dataDir)

		b.restoreStep(c, tag, stepRestoreAll, states, runDir, func(s *repoState, dst string) []cmdSpec {
			return s.restoreAll(dataDir, dst)
		})
		if c.oneFile != "" {
			b.restoreStep(c, tag, stepRestoreOne, states, runDir, func(s *repoState, dst string) []cmdSpec {
				return s.restorePaths(dataDir, dst, []string{c.oneFile}, []string{c.oneFile})
			})
		}
		if c.bigRels != nil {
			b.restoreStep(c, tag, stepRestoreBig, states, runDir, func(s *repoState, dst string) []cmdSpec {
				return s.restorePaths(dataDir, dst, c.bigRels, c.cairnBig)
			})
		}
		if rep == b.reps-1 && b.history > 0 && b.histCorpora[c.name] {
			if err := b.historyPhase(c, tag, states, dataDir); err != nil {
				return err
			}
		}
		if closer != nil {
			closer.Close()
		}
		if !b.keep {
			b.discard(c, runDir)
		}
	}
	return nil
}

// record stores one sample and prints a progress line.
func (b *bench) record(c *corpus, tag, step string, s *repoState, smp sample, specs []cmdSpec, extra string) {
	if b.results[c.name] == nil {
		b.results[c.name] = map[string]map[string][]sample{}
	}
	if b.results[c.name][step] == nil {
		b.results[c.name][step] = map[string][]sample{}
	}
	b.results[c.name][step][s.t.name] = append(b.results[c.name][step][s.t.name], smp)
	key := s.t.name + "|" + step
	if _, ok := b.commands[key]; !ok && len(specs) > 0 {
		b.commands[key] = specs[0]
	}
	if !smp.ok() {
		progress("%s %-24s %-6s FAILED: %s", tag, step, s.t.name, smp.Err)
		return
	}
	progress("%s %-24s %-6s wall %7.2fs  cpu %7.2fs  rss %6.0f MiB%s", tag, step, s.t.name, smp.Wall, smp.CPU,
		float64(smp.RSS)/1024, extra)
}

func (b *bench) snapStep(c *corpus, tag, step string, states []*repoState, src string) {
	for _, s := range states {
		before := dirSize(s.repo)
		logDir := filepath.Join(s.repo, "log")
		logBefore := dirSize(logDir)
		spec := s.snapshot(src)
		syscall.Sync() // the previous step's dirty pages are not this step's cost
		smp := runSteps([]cmdSpec{spec}, b.logw)
		smp.Size = dirSize(s.repo)
		smp.Growth = smp.Size - before
		smp.LogGrowth = -1
		if s.t.name == "cairn" {
			smp.LogGrowth = dirSize(logDir) - logBefore
		}
		b.record(c, tag, step, s, smp, []cmdSpec{spec}, fmt.Sprintf("  repo %s (+%s)", mib(smp.Size), mib(smp.Growth)))
	}
}

func (b *bench) restoreStep(c *corpus, tag, step string, states []*repoState, runDir string, specs func(*repoState, string) []cmdSpec) {
	for _, s := range states {
		dst := filepath.Join(runDir, "restore-"+s.t.name)
		b.discard(c, dst)
		if err := os.MkdirAll(dst, 0o755); err != nil {
			b.record(c, tag, step, s, sample{Err: err.Error()}, nil, "")
			continue
		}
		sp := specs(s, dst)
		dropCaches()
		smp := runSteps(sp, b.logw)
		smp.Size, smp.Growth = -1, -1
		got := dirSize(dst)
		if smp.ok() && got == 0 {
			smp.Err = "nothing was restored"
		}
		b.record(c, tag, step, s, smp, sp, "  restored "+mib(got))
		b.discard(c, dst)
	}
}

// historyPhase takes b.history snapshots with small changes between them,
// then lists the history of one file b.reps times per tool.
func (b *bench) historyPhase(c *corpus, tag string, states []*repoState, src string) error {
	files, err := listFiles(src)
	if err != nil {
		return err
	}
	var small []string
	for _, f := range files {
		if f != c.histFile && (c.name != "agent-state" || strings.HasPrefix(f, "agents/")) {
			small = append(small, f)
		}
	}
	for _, s := range states {
		for _, spec := range s.keepAll(src) {
			if _, _, _, err := runOne(spec, b.logw); err != nil {
				return err
			}
		}
	}
	progress("%s taking %d snapshots with small changes between them", tag, b.history)
	sums := make([]sample, len(states))
	before := make([]int64, len(states))
	for i, s := range states {
		before[i] = dirSize(s.repo)
	}
	var specs = make([]cmdSpec, len(states))
	for n := 1; n <= b.history; n++ {
		if err := c.histChange(src, n, small); err != nil {
			return err
		}
		for i, s := range states {
			specs[i] = s.snapshot(src)
			syscall.Sync()
			smp := runSteps([]cmdSpec{specs[i]}, b.logw)
			sums[i].Wall += smp.Wall
			sums[i].CPU += smp.CPU
			sums[i].RSS = max(sums[i].RSS, smp.RSS)
			sums[i].Procs++
			if !smp.ok() && sums[i].ok() {
				sums[i].Err = smp.Err
			}
		}
		if n%20 == 0 || n == b.history {
			progress("%s   %d/%d history snapshots", tag, n, b.history)
		}
	}
	b.histSnapshots = b.history
	for i, s := range states {
		sums[i].Size = dirSize(s.repo)
		sums[i].Growth = sums[i].Size - before[i]
		b.record(c, tag, stepHistBuild, s, sums[i], []cmdSpec{specs[i]}, fmt.Sprintf("  repo %s (+%s)", mib(sums[i].Size), mib(sums[i].Growth)))
	}
	for r := 0; r < b.reps; r++ {
		for _, s := range rotate(states, r) {
			if s.t.name == "borg" && r > 0 {
				continue // one process per archive: minutes per run, and no target depends on it
			}
			sp := s.history(src, c.histFile)
			syscall.Sync()
			smp := runSteps(sp, b.logw)
			smp.Size, smp.Growth = -1, -1
			b.record(c, tag, stepHistory, s, smp, sp, fmt.Sprintf("  (%d process(es))", smp.Procs))
		}
	}
	// cairn only: the catalog is a view of the repository's log; this is
	// what losing catalog.db costs (issue 11's target: at most 10 s with
	// the history's snapshots). The other tools keep no such view.
	for _, s := range states {
		if s.t.name != "cairn" {
			continue
		}
		for r := 0; r < b.reps; r++ {
			sp := []cmdSpec{s.cmd("", "repair", "catalog")}
			syscall.Sync()
			smp := runSteps(sp, b.logw)
			smp.Size, smp.Growth = -1, -1
			b.record(c, tag, stepRebuild, s, smp, sp, "")
		}
	}
	return nil
}

func rotate[T any](xs []T, n int) []T {
	if len(xs) == 0 {
		return xs
	}
	n %= len(xs)
	return append(append([]T{}, xs[n:]...), xs[:n]...)
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func toolList(ts []*tool) string {
	var names []string
	for _, t := range ts {
		names = append(names, t.name+" ("+t.version+")")
	}
	return strings.Join(names, ", ")
}

func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

// parseSize reads 2GiB, 256MiB, 64M, 1048576.
func parseSize(s string) (int64, error) {
	t := strings.TrimSuffix(strings.TrimSuffix(strings.ToUpper(strings.TrimSpace(s)), "B"), "I")
	mult := int64(1)
	if t != "" {
		switch t[len(t)-1] {
		case 'K':
			mult = 1 << 10
		case 'M':
			mult = 1 << 20
		case 'G':
			mult = 1 << 30
		}
		if mult > 1 {
			t = t[:len(t)-1]
		}
	}
	n, err := strconv.ParseFloat(t, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("bad size %q", s)
	}
	return int64(n * float64(mult)), nil
}

// goVersion is the toolchain that built cairn (for the machine line).
func goVersion() string {
	if out, err := exec.Command("go", "version").Output(); err == nil {
		return strings.TrimSpace(string(out))
	}
	return "unknown"
}
