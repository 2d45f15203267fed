package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// readmeCommandRows reads README.md's command table: each row's commands
// (the backquoted `cairn ...` of its first cell) and the row's whole text.
func readmeCommandRows(t *testing.T) []readmeRow {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	var rows []readmeRow
	code := regexp.MustCompile("`(cairn [^`]*)`")
	for _, line := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(line, "| `cairn ") {
			continue
		}
		// Cells are split at a "|" that is not escaped.
		first := line[1:]
		for i := 1; i < len(first); i++ {
			if first[i] == '|' && first[i-1] != '\\' {
				first = first[:i]
				break
			}
		}
		var usages []string
		for _, m := range code.FindAllStringSubmatch(first, -1) {
			usages = append(usages, strings.ReplaceAll(m[1], `\|`, "|"))
		}
		rows = append(rows, readmeRow{usages, strings.ReplaceAll(line, `\|`, "|")})
	}
	if len(rows) == 0 {
		t.Fatal("README.md has no command table")
	}
	return rows
}

type readmeRow struct {
	usages []string // "cairn snap DIR... [--label L]", ...
	text   string
}

// expandAlternatives turns "cairn completion bash|zsh" into one usage
// per alternative of its second word.
func expandAlternatives(usage string) []string {
	words := strings.Fields(usage)
	if len(words) < 3 || !strings.Contains(words[2], "|") {
		return []string{usage}
	}
	var out []string
	for _, alt := range strings.Split(words[2], "|") {
		out = append(out, strings.Join(append([]string{words[0], words[1], alt}, words[3:]...), " "))
	}
	return out
}

// commandPath finds the command a usage names, as cobra would: the words
// after "cairn" that are subcommands.
func commandPath(root *cobra.Command, usage string) (*cobra.Command, string) {
	c := root
	words := strings.Fields(usage)[1:]
	for _, w := range words {
		next := (*cobra.Command)(nil)
		for _, sub := range c.Commands() {
			if sub.Name() == w {
				next = sub
			}
		}
		if next == nil {
			break
		}
		c = next
	}
	return c, c.CommandPath()
}

// TestReadmeCommandTable holds README's command table to the commands
// cobra knows: every command (each subcommand of a group) has a row and
// every row names a command; each row mentions every flag its command's
// --help lists, and shows no flag that --help does not; README names the
// global flags.
func TestReadmeCommandTable(t *testing.T) {
	a := &app{stdout: &bytes.Buffer{}, stderr: &bytes.Buffer{}}
	root := a.rootCommand()
	root.InitDefaultCompletionCmd()
	rowOf := map[string]string{}
	for _, r := range readmeCommandRows(t) {
		for _, u := range r.usages {
			for _, u := range expandAlternatives(u) {
				c, path := commandPath(root, u)
				if c == root || c.HasSubCommands() {
					t.Errorf("README's command table names %q, which is not a command of cairn --help", u)
					continue
				}
				rowOf[path] += r.text
				for _, m := range usageFlag.FindAllStringSubmatch(u, -1) {
					if !hasFlag(c, m[1]) {
						t.Errorf("README's command table shows %q with %s, which %s --help does not list", u, m[1], path)
					}
				}
			}
		}
	}
	var walk func(c *cobra.Command)
	var missing []string
	walk = func(c *cobra.Command) {
		for _, sub := range c.Commands() {
			if sub.Hidden || sub.Name() == "help" {
				continue
			}
			if sub.HasSubCommands() {
				walk(sub)
				continue
			}
			row, ok := rowOf[sub.CommandPath()]
			if !ok {
				missing = append(missing, sub.CommandPath())
				continue
			}
			sub.LocalFlags().VisitAll(func(f *pflag.Flag) {
				if f.Hidden || f.Name == "help" {
					return
				}
				if !mentionsFlag(row, f) {
					t.Errorf("%s --help lists --%s, README's command table does not", sub.CommandPath(), f.Name)
				}
			})
		}
	}
	walk(root)
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	root.PersistentFlags().VisitAll(func(f *pflag.Flag) {
		if !mentionsFlag(string(readme), f) {
			t.Errorf("cairn --help lists the global flag --%s, README does not", f.Name)
		}
	})
	sort.Strings(missing)
	for _, m := range missing {
		t.Errorf("README's command table has no row for %q", m)
	}
}

// usageFlag is a flag in a usage: --name, -x, or a family --keep-* or
// --keep-....
var usageFlag = regexp.MustCompile(`(?:^|[\s\[(|])(--[a-z][a-z-]*(?:\*|\.\.\.)?|-[a-zA-Z]\b)`)

// hasFlag says whether c (or the root) has the flag a usage shows.
func hasFlag(c *cobra.Command, flag string) bool {
	if family, ok := strings.CutSuffix(strings.TrimSuffix(flag, "..."), "*"); ok || strings.HasSuffix(flag, "...") {
		if !ok {
			family = strings.TrimSuffix(flag, "...")
		}
		found := false
		c.Flags().VisitAll(func(f *pflag.Flag) { found = found || strings.HasPrefix("--"+f.Name, family) })
		return found
	}
	if name, ok := strings.CutPrefix(flag, "--"); ok {
		return c.Flags().Lookup(name) != nil || c.InheritedFlags().Lookup(name) != nil
	}
	return c.Flags().ShorthandLookup(strings.TrimPrefix(flag, "-")) != nil
}

// mentionsFlag says whether a README row names a flag: --name, its
// shorthand, or a family written --keep-* or --keep-....
func mentionsFlag(row string, f *pflag.Flag) bool {
	if regexp.MustCompile(`--` + regexp.QuoteMeta(f.Name) + `\b`).MatchString(row) {
		return true
	}
	if f.Shorthand != "" && regexp.MustCompile(`(^|[\s\[|(])-`+regexp.QuoteMeta(f.Shorthand)+`\b`).MatchString(row) {
		return true
	}
	if prefix, _, ok := strings.Cut(f.Name, "-"); ok {
		return strings.Contains(row, "--"+prefix+"-*") || strings.Contains(row, "--"+prefix+"-...")
	}
	return false
}

// tourDir is where README's tour works; the test runs it elsewhere and
// writes this back into what it compares.
const tourDir = "/tmp/tour"

// tourStep is one "$ command" of README's tour and the lines it prints.
type tourStep struct {
	cmd  string
	want string
}

// readmeTour reads the "$ " lines of the indented blocks in README's
// "A tour" section, each with the lines after it up to the next "$ " line
// or the end of the block.
func readmeTour(t *testing.T) []tourStep {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	i := strings.Index(s, "\n## A tour\n")
	if i < 0 {
		t.Fatal("README.md has no section \"A tour\"")
	}
	s = s[i+1:]
	if j := strings.Index(s[3:], "\n## "); j >= 0 {
		s = s[:j+3]
	}
	var steps []tourStep
	var out []string
	flush := func() {
		if len(steps) > 0 {
			steps[len(steps)-1].want = strings.TrimRight(strings.Join(out, "\n"), "\n")
		}
		out = nil
	}
	inStep := false
	for _, line := range strings.Split(s, "\n") {
		switch {
		case strings.HasPrefix(line, "    $ "):
			if inStep {
				flush()
			}
			steps = append(steps, tourStep{cmd: strings.TrimPrefix(line, "    $ ")})
			inStep = true
		case inStep && strings.HasPrefix(line, "    "):
			out = append(out, strings.TrimPrefix(line, "    "))
		case inStep && line == "":
			out = append(out, "")
		default:
			if inStep {
				flush()
			}
			inStep = false
		}
	}
	if inStep {
		flush()
	}
	if len(steps) == 0 {
		t.Fatal("README's tour has no commands")
	}
	return steps
}

var tourTranscript = flag.Bool("tour", false, "print README's tour as the binary runs it (columns as wide as the test's directory needs; run the tour in /tmp/tour for the text to paste)")

// What differs from run to run: times and durations; the width of the
// columns that hold the test's directory instead of /tmp/tour; and the
// bytes packs take, because which new chunks share a compressed frame
// depends on which worker stored them (docs/design.md), so "added", "on
// disk", the deduplication ratio and the bytes check reads vary by a few
// percent; and the count of chunks check reads, since chunk boundaries are
// keyed per repository. Every other number (ids, counts, file sizes) must
// match.
var tourVarying = []struct {
	re   *regexp.Regexp
	with string
}{
	{regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)`), "TIME"},
	{regexp.MustCompile(`\d{4}-\d\d-\d\d \d\d:\d\d UTC`), "TIME"},
	{regexp.MustCompile(` in \d+(\.\d+)?(ns|µs|ms|s)\b`), " in DURATION"},
	{regexp.MustCompile(`[ \t]+`), " "},
	{regexp.MustCompile(`(?m)^(\d+ TIME /\S+ \d+ [\d.]+ \w+) [\d.]+ \w+`), "$1 PACKBYTES"}, // snapshots' ADDED
	{regexp.MustCompile(`added [\d.]+ \w+`), "added PACKBYTES"},
	{regexp.MustCompile(`[\d.]+ \w+ on disk`), "PACKBYTES on disk"},
	{regexp.MustCompile(`deduplication ratio [\d.]+x`), "deduplication ratio RATIO"},
	{regexp.MustCompile(`(?m)^(check: .*, read )[\d.]+ \w+$`), "${1}PACKBYTES"},
	// gc's condemned packs: their size depends on how the chunks fell.
	{regexp.MustCompile(`holds [\d.]+ \w+ more`), "holds PACKBYTES more"},
	{regexp.MustCompile(`packs? \([\d.]+ \w+\) condemned`), "packs (PACKBYTES) condemned"},
	// Chunk boundaries are keyed per repository (format 2 seeds the
	// chunker's gear table from its master key), so memory.jsonl (70 KiB,
	// above the 32 KiB minimum chunk) is one chunk in some repositories
	// and two in others.
	{regexp.MustCompile(`(?m)^(check: ok, \d+ packs?, )\d+ chunks?`), "${1}CHUNKS"},
}

func normalizeTour(s string) string {
	for _, v := range tourVarying {
		s = v.re.ReplaceAllString(s, v.with)
	}
	return s
}

// TestReadmeTour runs README's tour with the real binary in a fresh HOME,
// in a fresh directory standing in for /tmp/tour, and compares what each
// command prints (stdout and stderr, in order) with the README, times and
// durations aside. -tour prints the transcript to paste.
func TestReadmeTour(t *testing.T) {
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("no bash")
	}
	steps := readmeTour(t)
	tmp, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(tmp, "tour")
	home := filepath.Join(tmp, "home")
	if err := os.Mkdir(home, 0o755); err != nil {
		t.Fatal(err)
	}
	const mark = "@@cairn-tour-step"
	var script strings.Builder
	script.WriteString("exec 2>&1\nunset CAIRN_REPO\n")
	for i, st := range steps {
		fmt.Fprintf(&script, "printf '%s %d\\n'\n%s\n", mark, i, strings.ReplaceAll(st.cmd, tourDir, dir))
		fmt.Fprintf(&script, "rc=$?; [ $rc = 0 ] || printf '[exit status %%d]\\n' $rc\n")
	}
	cmd := exec.Command("bash", "--norc", "--noprofile", "-c", script.String())
	cmd.Dir = tmp
	cmd.Env = append(os.Environ(), "HOME="+home, "TZ=UTC", "CAIRN_NO_PROGRESS=1", "XDG_DATA_HOME=", "LC_ALL=C")
	if os.Getenv("GORACE") == "" {
		// A race-enabled binary otherwise sleeps 1s at every exit.
		cmd.Env = append(cmd.Env, "GORACE=atexit_sleep_ms=0")
	}
	got, err := cmd.Output()
	if err != nil {
		t.Fatalf("bash: %v\n%s", err, got)
	}
	parts := strings.Split(strings.ReplaceAll(string(got), dir, tourDir), mark+" ")
	outs := make([]string, len(steps))
	for _, p := range parts[1:] {
		n, rest, _ := strings.Cut(p, "\n")
		var i int
		if _, err := fmt.Sscan(n, &i); err != nil || i >= len(steps) {
			t.Fatalf("bad step marker %q", n)
		}
		outs[i] = strings.TrimRight(rest, "\n")
	}
	if *tourTranscript {
		var b strings.Builder
		for i, st := range steps {
			fmt.Fprintf(&b, "    $ %s\n", st.cmd)
			for _, l := range strings.Split(outs[i], "\n") {
				if outs[i] != "" {
					fmt.Fprintf(&b, "    %s\n", l)
				}
			}
		}
		t.Logf("README's tour as the binary runs it:\n%s", b.String())
	}
	for i, st := range steps {
		if g, w := normalizeTour(outs[i]), normalizeTour(st.want); g != w {
			t.Errorf("README's tour: $ %s\nREADME shows:\n%s\nthe binary prints:\n%s", st.cmd, st.want, outs[i])
		}
	}
}
