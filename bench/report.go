package main

import (
	"fmt"
	"math"
	"os"
	"runtime"
	"strings"
	"time"
)

// metric extracts one number from a sample; NaN when it has none.
type metric func(sample) float64

var (
	mWall   metric = func(s sample) float64 { return s.Wall }
	mCPU    metric = func(s sample) float64 { return s.CPU }
	mRSS    metric = func(s sample) float64 { return float64(s.RSS) / 1024 }
	mSize   metric = func(s sample) float64 { return sizeOrNaN(s.Size) }
	mGrowth metric = func(s sample) float64 { return sizeOrNaN(s.Growth) }
	// mLog is in bytes, not MiB: a record is a few hundred bytes.
	mLog metric = func(s sample) float64 {
		if s.LogGrowth < 0 {
			return math.NaN()
		}
		return float64(s.LogGrowth)
	}
)

// maxUnchangedLog is issue 11's limit on the log an unchanged snapshot
// writes.
const maxUnchangedLog = 1024

func sizeOrNaN(n int64) float64 {
	if n < 0 {
		return math.NaN()
	}
	return float64(n) / (1 << 20)
}

func (b *bench) median(corpus, step, tool string, m metric) float64 {
	var xs []float64
	for _, s := range b.results[corpus][step][tool] {
		if s.ok() {
			xs = append(xs, m(s))
		}
	}
	return median(xs)
}

// target is one of cairn's goals, a ratio to restic measured in the same run.
type target struct {
	corpus    string // "" for every corpus
	step      string
	m         metric
	unit      string
	limit     float64
	label     string
	vsFastest bool // against the faster of restic and borg
}

var targets = []target{
	{step: stepFirst, m: mWall, unit: "s", limit: 0.35, label: "first snapshot, wall"},
	{step: stepUnchanged, m: mWall, unit: "s", limit: 0.1, label: "unchanged snapshot, wall"},
	{step: stepMutated, m: mWall, unit: "s", limit: 0.4, label: "snapshot after mutation, wall"},
	{step: stepMutated, m: mGrowth, unit: "MiB", limit: 0.25, label: "repository growth from the mutation"},
	{step: stepRestoreAll, m: mWall, unit: "s", limit: 0.5, label: "full restore, wall"},
	{step: stepRestoreOne, m: mWall, unit: "s", limit: 0.1, label: "restore of one small file, wall"},
	{step: stepHistory, m: mWall, unit: "s", limit: 0.05, label: "history of one file, wall"},
	{step: stepFirst, m: mRSS, unit: "MiB", limit: 0.5, label: "peak RSS, first snapshot"},
	{step: stepFirst, m: mSize, unit: "MiB", limit: 1.0, label: "repository size after first snapshot"},
	{corpus: "big-files", step: stepFirst, m: mWall, unit: "s", limit: 0.6, label: "first snapshot vs the faster of restic and borg, wall", vsFastest: true},
}

func (b *bench) stepLabel(c *corpus, step string) string {
	switch step {
	case stepRestoreBig:
		return c.bigLabel
	case stepHistBuild:
		return fmt.Sprintf("%d snapshots with small changes (sum)", b.histSnapshots)
	case stepHistory:
		return fmt.Sprintf("history of one file over %d snapshots", b.histSnapshots+3)
	case stepRebuild:
		return fmt.Sprintf("rebuild catalog from the log, %d snapshots (cairn only)", b.histSnapshots+3)
	}
	return step
}

// report renders the main report, of every corpus but the scale one
// ("" if only that ran), and the scale section ("" if it did not run).
func (b *bench) report() (main, scale string) {
	var mainCorpora []*corpus
	for _, c := range b.corpora {
		if c.name == scaleName {
			scale = b.scaleSection(c)
		} else {
			mainCorpora = append(mainCorpora, c)
		}
	}
	if len(mainCorpora) > 0 {
		main = b.mainReport(mainCorpora)
	}
	return main, scale
}

func (b *bench) mainReport(corpora []*corpus) string {
	var w strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&w, format, args...) }
	p("# Benchmarks: cairn, restic and borg\n\n")
	p("Written by `make bench` (`go run ./bench`, source in [bench/](../bench/)); do not edit by hand.\n")
	p("Regenerate with `make bench` (10-30 minutes; needs the Debian packages `restic` and `borgbackup`, and root to drop\n")
	p("the page cache). `make bench BENCHFLAGS=-quick` is a smoke run of 2-3 minutes on tiny corpora (its report goes to\n")
	p("bench/_work/benchmarks-quick.md). Flags: `-reps N` (default 3), `-corpora agent-state,source-tree,big-files,scale`,\n")
	p("`-big-size 256MiB` (default 2GiB), `-scale-files N` (default 100000; 1000000 is the issue's 1M-file run, about\n")
	p("10 minutes a repetition on 2 cores), `-history N` (default 200), `-history-corpora`, `-tools cairn,restic,borg`,\n")
	p("`-work DIR` (default bench/_work), `-out FILE`, `-keep`; `go run ./bench -h` lists them. A run of the scale\n")
	p("corpus alone (`go run ./bench -corpora scale`) rewrites only the scale section at the end of this file.\n\n")

	for _, w := range b.warnings {
		p("**Warning: %s.**\n\n", w)
	}
	p("## Machine\n\n")
	p("%s\n\n", b.machine())

	p("## Notes\n\n")
	p("- Every figure is %s. Each repetition generates the corpus afresh (fixed seeds) and gives\n", medianOf(b.reps))
	p("  every tool a new repository; each step runs for every tool before the next step starts, and the tools' order\n")
	p("  rotates from one repetition to the next.\n")
	p("- Wall time is measured around the child process; CPU is its user+system time and peak RSS its `ru_maxrss`, both\n")
	p("  from wait4's rusage. Repository size is the apparent size of every file in the repository directory after the\n")
	p("  step, growth its change during the step; restic's and borg's caches (RESTIC_CACHE_DIR, BORG_BASE_DIR) are kept\n")
	p("  outside the repository and not counted.\n")
	p("- **restic's repositories are encrypted** (always; `--compression auto`), and so are **cairn's** (format 2: sealed\n")
	p("  packs and log, keyed chunk ids; `cairn init` without a password keeps the key in REPO/local/key); **borg's are\n")
	p("  not** (`borg init --encryption none`, `borg create --compression zstd,3`).\n")
	p("- Restores: %s. Snapshot steps run with a warm page cache (the corpus was just written),\n", b.cacheNote)
	p("  after an untimed sync(2) so that no tool pays for the writeback of the previous one's data.\n")
	p("- cairn copies each SQLite database through SQLite's online backup API (a consistent copy, never the -wal/-shm);\n")
	p("  restic and borg copy the database file and its -wal/-shm as they are on disk. For the big-database restore,\n")
	p("  restic and borg restore the database and its -wal, cairn the database (which it checks with integrity_check).\n")
	p("- History: after the last repetition's restores, each tool takes %d more snapshots with small changes between\n", b.histSnapshots)
	p("  them (one file rewritten besides the tracked one), then lists every version of the tracked file: `cairn log PATH`,\n")
	p("  `restic find PATH`, and for borg `borg list --short` followed by `borg list ::ARCHIVE PATH` for every archive\n")
	p("  (%d processes; their times are summed and the largest RSS is taken; borg's listing runs once, not once per\n", b.histSnapshots+4)
	p("  repetition, as it takes minutes and no target depends on it). cairn's retention policy is set to keep\n")
	p("  every snapshot first (its default would thin them). The snapshots' own cost is the \"(sum)\" row, one sample.\n")
	p("- cairn re-reads files modified within 2 s before a snapshot; the harness waits 2.1 s after generating a corpus.\n\n")

	p("## Results\n")
	for _, c := range corpora {
		p("\n### %s\n\n", c.name)
		p("%s: %d files, %s. Mutation: %s.\n\n", c.desc, c.files, mib(c.bytes), c.mutation)
		b.resultTable(&w, c)
		b.logLine(&w, c)
	}
	b.targetTable(&w, corpora, "##")
	b.commandList(&w, corpora, "##")
	return w.String()
}

// logLine says what cairn's snapshots of corpus c wrote to its log, the
// unchanged one against issue 11's limit ("" when cairn did not run).
func (b *bench) logLine(w *strings.Builder, c *corpus) {
	first := b.median(c.name, stepFirst, "cairn", mLog)
	unchanged := b.median(c.name, stepUnchanged, "cairn", mLog)
	if math.IsNaN(unchanged) {
		return
	}
	result := "pass"
	if unchanged > maxUnchangedLog {
		result = "**FAIL**"
	}
	fmt.Fprintf(w, "\ncairn's log (log/ of the repository, medians): the first snapshot wrote %s B of records, the unchanged one %s B (limit %d B: %s).\n",
		num(first, 0), num(unchanged, 0), maxUnchangedLog, result)
}

// resultTable writes the table of every step's medians for corpus c.
func (b *bench) resultTable(w *strings.Builder, c *corpus) {
	p := func(format string, args ...any) { fmt.Fprintf(w, format, args...) }
	{
		p("| step | tool | wall s | CPU s | peak RSS MiB | repo MiB | growth MiB | n |\n")
		p("|---|---|---:|---:|---:|---:|---:|---:|\n")
		var errs []string
		for _, step := range allSteps {
			byTool := b.results[c.name][step]
			if byTool == nil {
				continue
			}
			for _, t := range b.tools {
				ss := byTool[t.name]
				if len(ss) == 0 {
					continue
				}
				okN := 0
				for _, s := range ss {
					if s.ok() {
						okN++
					} else {
						errs = append(errs, fmt.Sprintf("%s, %s: %s", t.name, b.stepLabel(c, step), oneLine(s.Err)))
					}
				}
				if okN == 0 {
					p("| %s | %s | error | | | | | 0 |\n", b.stepLabel(c, step), t.name)
					continue
				}
				p("| %s | %s | %s | %s | %s | %s | %s | %d |\n", b.stepLabel(c, step), t.name,
					num(b.median(c.name, step, t.name, mWall), 2), num(b.median(c.name, step, t.name, mCPU), 2),
					num(b.median(c.name, step, t.name, mRSS), 0), num(b.median(c.name, step, t.name, mSize), 1),
					num(b.median(c.name, step, t.name, mGrowth), 1), okN)
			}
		}
		for _, e := range errs {
			p("\n- error: %s", e)
		}
		if len(errs) > 0 {
			p("\n")
		}
	}
}

// targetTable writes cairn's targets for corpora, as ratios to restic.
func (b *bench) targetTable(w *strings.Builder, corpora []*corpus, h string) {
	p := func(format string, args ...any) { fmt.Fprintf(w, format, args...) }
	p("\n%s Targets\n\n", h)
	p("Ratios of cairn's median to restic's in this run (lower is better); pass when the ratio is at most the limit.\n\n")
	p("| corpus | target | cairn | restic | ratio | limit | result |\n")
	p("|---|---|---:|---:|---:|---:|---|\n")
	for _, c := range corpora {
		ts := targets
		if c.name == scaleName {
			ts = scaleTargets
		}
		for _, t := range ts {
			if t.corpus != "" && t.corpus != c.name || b.results[c.name][t.step] == nil {
				continue
			}
			cv := b.median(c.name, t.step, "cairn", t.m)
			other, otherName := b.median(c.name, t.step, "restic", t.m), "restic"
			if t.vsFastest {
				if bv := b.median(c.name, t.step, "borg", t.m); !math.IsNaN(bv) && (math.IsNaN(other) || bv < other) {
					other, otherName = bv, "borg"
				}
			}
			ratio := cv / other
			result := "n/a"
			switch {
			case math.IsNaN(cv) || math.IsNaN(other):
				result = "n/a (missing measurement)"
			case other <= 0:
				result = "n/a (" + otherName + " is 0)"
			case ratio <= t.limit:
				result = fmt.Sprintf("pass (%.0f%% of the limit)", 100*ratio/t.limit)
			default:
				result = fmt.Sprintf("**FAIL** (%.2fx the limit)", ratio/t.limit)
			}
			otherCell := fmt.Sprintf("%s %s", num(other, 2), t.unit)
			if t.vsFastest {
				otherCell = otherName + " " + otherCell
			}
			p("| %s | %s | %s %s | %s | %s | <= %.2fx | %s |\n", c.name, t.label, num(cv, 2), t.unit, otherCell,
				ratioCell(ratio), t.limit, result)
		}
	}

}

// commandList writes the commands each tool ran for corpora.
func (b *bench) commandList(w *strings.Builder, corpora []*corpus, h string) {
	p := func(format string, args ...any) { fmt.Fprintf(w, format, args...) }
	p("\n%s Commands\n\n", h)
	p("As run for the first corpus; `$WORK` is %s, `$SRC` the corpus directory, `$DST` an empty directory.\n\n", b.work)
	for _, t := range b.tools {
		if !corpora[0].runs(t) {
			continue
		}
		s := &repoState{t: t, repo: "$REPO", cacheDir: "$WORK/run/CORPUS/" + t.name + "-cache"}
		p("**%s** (%s)", t.name, t.version)
		if env := s.env(); len(env) > 0 {
			p(", environment: `%s`", strings.Join(env, " "))
		}
		p("\n\n```\n")
		if c, ok := b.commands[t.name+"|init"]; ok {
			p("%-26s %s\n", "# init (not timed):", b.sub(c.String()))
		}
		for _, step := range allSteps {
			if c, ok := b.commands[t.name+"|"+step]; ok {
				line := b.sub(c.String())
				if t.name == "borg" && step == stepHistory {
					line += "; then for each archive: borg list ::ARCHIVE PATH-WITHOUT-LEADING-SLASH"
				}
				p("%-26s %s\n", "# "+step+":", line)
			}
		}
		p("```\n\n")
	}
}

// scaleSection is the report of the scale corpus, between its markers.
func (b *bench) scaleSection(c *corpus) string {
	var w strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&w, format, args...) }
	p("%s\n## Scale: %d small files\n\n", scaleBegin, c.files)
	p("Written by `go run ./bench -corpora scale` (or any run that includes the scale corpus); `-scale-files 1000000`\n")
	p("for the 1M-file run.\n\n%s: %d files, %s.\n\n", c.desc, c.files, mib(c.bytes))
	p("Steps: first snapshot and unchanged snapshot only (per-file costs are what this corpus measures), cairn and\n")
	p("restic only (borg would add minutes for no target).\n\n")
	p("Machine: %s\n\n", b.machine())
	b.resultTable(&w, c)
	b.targetTable(&w, []*corpus{c}, "###")
	b.commandList(&w, []*corpus{c}, "###")
	p("%s\n", scaleEnd)
	return w.String()
}

// sub replaces the work directory's paths by placeholders.
func (b *bench) sub(s string) string {
	for _, c := range b.corpora {
		s = strings.ReplaceAll(s, b.work+"/data/"+c.name, "$SRC")
		s = strings.ReplaceAll(s, strings.TrimPrefix(b.work, "/")+"/data/"+c.name, "${SRC#/}")
		s = strings.ReplaceAll(s, b.work+"/run/"+c.name+"/restore-", "$DST-")
		s = strings.ReplaceAll(s, b.work+"/run/"+c.name+"/", "$WORK/run/CORPUS/")
	}
	for _, t := range b.tools {
		s = strings.ReplaceAll(s, "$WORK/run/CORPUS/"+t.name+"-repo", "$REPO")
		s = strings.ReplaceAll(s, "$DST-"+t.name, "$DST")
	}
	return strings.ReplaceAll(s, b.work, "$WORK")
}

func (b *bench) machine() string {
	cpu := "unknown CPU"
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				cpu = strings.TrimSpace(v)
				break
			}
		}
	}
	mem := "unknown memory"
	if data, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb int64
		if _, err := fmt.Sscanf(string(data), "MemTotal: %d kB", &kb); err == nil {
			mem = fmt.Sprintf("%.1f GiB RAM", float64(kb)/(1<<20))
		}
	}
	kernel := "unknown"
	if data, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		kernel = strings.TrimSpace(string(data))
	}
	var versions []string
	for _, t := range b.tools {
		versions = append(versions, t.name+": "+t.version)
	}
	return fmt.Sprintf("nproc %d, %s, Linux %s, CPU %s; %s; %s; run on %s (%s, took %.0f min, %s).",
		runtime.NumCPU(), mem, kernel, cpu, strings.Join(versions, "; "), goVersion(),
		b.started.UTC().Format("2006-01-02 15:04 UTC"), runtime.GOOS+"/"+runtime.GOARCH, time.Since(b.started).Minutes(), repetitions(b.reps))
}

func repetitions(n int) string {
	if n == 1 {
		return "1 repetition"
	}
	return fmt.Sprintf("%d repetitions", n)
}

// medianOf says what a figure is for n repetitions.
func medianOf(n int) string {
	if n == 1 {
		return "from 1 repetition"
	}
	return fmt.Sprintf("the median of %d repetitions", n)
}

func num(x float64, prec int) string {
	if math.IsNaN(x) {
		return "-"
	}
	return fmt.Sprintf("%.*f", prec, x)
}

func ratioCell(r float64) string {
	if math.IsNaN(r) || math.IsInf(r, 0) {
		return "-"
	}
	if r < 0.01 {
		return fmt.Sprintf("%.4fx", r)
	}
	return fmt.Sprintf("%.2fx", r)
}

func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 300 {
		s = s[:300] + "..."
	}
	return s
}
