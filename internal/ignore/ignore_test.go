package ignore

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

type matchCase struct {
	patterns []string
	path     string
	isDir    bool
	want     bool
}

func (c matchCase) String() string {
	kind := "file"
	if c.isDir {
		kind = "dir"
	}
	return fmt.Sprintf("%q %s %q", c.patterns, kind, c.path)
}

const (
	file = false
	dir  = true
)

func p(s ...string) []string { return s }

// matchCases covers every feature; each one is also checked against real git
// in TestMatchAgainstGit unless git would see the path inside an ignored
// directory.
var matchCases = []matchCase{
	// Basename patterns match at any depth.
	{p("*.log"), "debug.log", file, true},
	{p("*.log"), "logs/debug.log", file, true},
	{p("*.log"), "a/b/c/debug.log", file, true},
	{p("*.log"), "debug.log.txt", file, false},
	{p("*.log"), "log", file, false},
	{p("*.log"), "x.log", dir, true},

	// Negation: the last matching pattern wins.
	{p("*.log", "!important.log"), "important.log", file, false},
	{p("*.log", "!important.log"), "sub/important.log", file, false},
	{p("*.log", "!important.log"), "other.log", file, true},
	{p("!important.log", "*.log"), "important.log", file, true},
	{p("*.txt", "!/keep.txt"), "keep.txt", file, false},
	{p("*.txt", "!/keep.txt"), "a/keep.txt", file, true},
	{p("*", "!*.go"), "main.go", file, false},
	{p("*", "!*.go"), "README", file, true},
	{p("*", "!*/"), "dir", dir, false},
	{p("*", "!*/"), "file", file, true},
	// Cannot re-include inside an excluded directory: Match says false for
	// the file, but the walker (and git) never get past "logs".
	{p("logs/", "!logs/keep.log"), "logs", dir, true},
	{p("logs/", "!logs/keep.log"), "logs/keep.log", file, false},
	{p("logs/*", "!logs/keep.log"), "logs/keep.log", file, false},
	{p("logs/*", "!logs/keep.log"), "logs/other.log", file, true},

	// /build vs build/ vs build.
	{p("/build"), "build", dir, true},
	{p("/build"), "build", file, true},
	{p("/build"), "src/build", dir, false},
	{p("build/"), "build", dir, true},
	{p("build/"), "build", file, false},
	{p("build/"), "src/build", dir, true},
	{p("build/"), "src/build", file, false},
	{p("build"), "build", file, true},
	{p("build"), "src/build", dir, true},
	{p("build"), "src/build", file, true},
	{p("build"), "builds", file, false},
	{p("/build/"), "build", dir, true},
	{p("/build/"), "build", file, false},
	{p("foo/bar/"), "foo/bar", dir, true},
	{p("foo/bar/"), "foo/bar", file, false},

	// A slash in the middle anchors.
	{p("doc/*.txt"), "doc/notes.txt", file, true},
	{p("doc/*.txt"), "doc/sub/x.txt", file, false},
	{p("doc/*.txt"), "a/doc/notes.txt", file, false},
	{p("a/b"), "x/a/b", file, false},
	{p("*/b"), "a/b", file, true},
	{p("*/b"), "x/a/b", file, false},
	{p("a/*/b"), "a/x/b", file, true},
	{p("a/*/b"), "a/b", file, false},
	{p("/*.c"), "cat.c", file, true},
	{p("/*.c"), "src/cat.c", file, false},

	// **.
	{p("**/foo"), "foo", file, true},
	{p("**/foo"), "a/b/foo", dir, true},
	{p("**/foo/bar"), "x/foo/bar", file, true},
	{p("**/foo/bar"), "foo/bar", file, true},
	{p("**/logs/*.log"), "a/logs/x.log", file, true},
	{p("foo/**"), "foo/a/b", file, true},
	{p("foo/**"), "foo/x", dir, true},
	{p("foo/**"), "foo", dir, false},
	{p("a/**/b"), "a/b", file, true},
	{p("a/**/b"), "a/x/y/b", file, true},
	{p("a/**/b"), "a/xb", file, false},
	{p("a/**/b"), "x/a/b", file, false},
	{p("**"), "a", file, true},
	{p("**/"), "a", dir, true},
	{p("**/"), "a", file, false},
	{p("/**/x"), "x", file, true},
	{p("x/**a/b"), "x/ca/b", file, true}, // "**" not between slashes: plain "*"
	{p("x/**a/b"), "x/c/da/b", file, false},
	{p("ab**/c"), "abx/y/c", file, true}, // git quirk, see compileTokens
	{p("a**b"), "axxb", file, true},
	{p(`a/**\/b`), "a/x/b", file, true},

	// ? and *.
	{p("?.txt"), "a.txt", file, true},
	{p("?.txt"), "ab.txt", file, false},
	{p("x/a?b"), "x/a/b", file, false},
	{p("x/a?b"), "x/a-b", file, true},
	{p("*"), "anything", file, true},
	{p("*"), "dir", dir, true},
	{p("*"), "a/b", file, true},
	{p("/*"), "top", file, true},
	{p("*a*b*c"), "xaybzc", file, true},
	{p("*a*b*c"), "xaybz", file, false},

	// Character classes.
	{p("[abc].txt"), "b.txt", file, true},
	{p("[abc].txt"), "d.txt", file, false},
	{p("[a-c]x"), "bx", file, true},
	{p("[a-c]x"), "dx", file, false},
	{p("[!a-c]x"), "dx", file, true},
	{p("[!a-c]x"), "ax", file, false},
	{p("[^a]x"), "bx", file, true},
	{p("[^a]x"), "ax", file, false},
	{p("[]a]"), "]", file, true},
	{p("[]a]"), "a", file, true},
	{p("[a-]"), "-", file, true},
	{p(`[\]]`), "]", file, true},
	{p(`[a\-z]`), "b", file, false},
	{p(`[a\-z]`), "-", file, true},
	{p("[[:digit:]]*"), "1abc", file, true},
	{p("[[:digit:]]*"), "abc", file, false},
	{p("[[:upper:]]"), "A", file, true},
	{p("[[:upper:]]"), "a", file, false},
	{p("[[:alpha:][:digit:]]x"), "7x", file, true},
	{p("[[:punct:]]"), "%", file, true},
	{p("a[/]b"), "a/b", file, false},
	{p("a[!x]b"), "a/b", file, false},

	// Backslash escapes.
	{p(`\#file`), "#file", file, true},
	{p("#file"), "#file", file, false}, // a comment
	{p(` #file`), " #file", file, true},
	{p(`\!keep`), "!keep", file, true},
	{p(`\*.txt`), "*.txt", file, true},
	{p(`\*.txt`), "a.txt", file, false},
	{p(`\?`), "?", file, true},
	{p(`\?`), "a", file, false},
	{p(`\\`), `\`, file, true},
	{p(`\a\b`), "ab", file, true},

	// Spaces and unicode.
	{p("my file.txt"), "dir/my file.txt", file, true},
	{p(`trailing\ `), "trailing ", file, true},
	{p("trailing   "), "trailing", file, true},
	{p("trailing   "), "trailing ", file, false},
	{p(" leading"), " leading", file, true},
	{p("héllo.txt"), "héllo.txt", file, true},
	{p("*.日本"), "x/ファイル.日本", file, true},
	{p("[é]"), "é", file, false}, // classes are byte-wise, like git
	{p("caf?"), "café", file, false},
	{p("caf??"), "café", file, true}, // "?" is one byte, like git

	// Case-sensitive, like git with core.ignoreCase=false.
	{p("*.LOG"), "x.log", file, false},

	// Lines that match nothing.
	{p("!"), "a", file, false},
	{p("/"), "a", dir, false},
	{p(""), "a", file, false},
}

func TestMatch(t *testing.T) {
	if len(matchCases) < 50 {
		t.Fatalf("only %d cases", len(matchCases))
	}
	for _, c := range matchCases {
		m, err := New(c.patterns)
		if err != nil {
			t.Errorf("%v: New: %v", c, err)
			continue
		}
		if got := m.Match(c.path, c.isDir); got != c.want {
			t.Errorf("%v: Match = %v, want %v", c, got, c.want)
		}
	}
}

func TestNilAndEmpty(t *testing.T) {
	var m *Matcher
	if m.Match("a", false) || !m.Empty() {
		t.Error("nil Matcher should match nothing and be empty")
	}
	m, err := New([]string{"", "# comment", "   ", "!", "/"})
	if err != nil {
		t.Fatal(err)
	}
	if !m.Empty() || m.Match("a", true) {
		t.Error("Matcher with only no-op lines should be empty")
	}
	m, err = New([]string{"a"})
	if err != nil {
		t.Fatal(err)
	}
	if m.Empty() {
		t.Error("Matcher with a pattern reported Empty")
	}
	if m.Match("", true) {
		t.Error("root should never match")
	}
}

func TestInvalidPattern(t *testing.T) {
	for _, tc := range []struct{ pattern, msg string }{
		{"[a", `exclude pattern "[a": unterminated character class`},
		{"x/[", `exclude pattern "x/[": unterminated character class`},
		{"[!", `exclude pattern "[!": unterminated character class`},
		{"[]", `exclude pattern "[]": unterminated character class`},
		{`[a\`, `exclude pattern "[a\\": unterminated character class`},
		{"[[:alpha:]", `exclude pattern "[[:alpha:]": unterminated character class`},
		{"[[:nope:]]", `exclude pattern "[[:nope:]]": unknown character class [:nope:]`},
		{`foo\`, `exclude pattern "foo\\": trailing backslash`},
		{`!foo[`, `exclude pattern "!foo[": unterminated character class`},
	} {
		m, err := New([]string{"ok", tc.pattern})
		if err == nil {
			t.Errorf("New(%q) = %v, want error", tc.pattern, m)
			continue
		}
		if err.Error() != tc.msg {
			t.Errorf("New(%q) error = %q, want %q", tc.pattern, err, tc.msg)
		}
	}
	// Things that look odd but are valid, as in git.
	for _, s := range []string{"[[:]", "[a-]", "[]]", "[!]]", `[\]]`, "a]", "**", "***/x", `\[a`} {
		if _, err := New([]string{s}); err != nil {
			t.Errorf("New(%q): %v", s, err)
		}
	}
}

func TestReadFile(t *testing.T) {
	dir := t.TempDir()
	name := filepath.Join(dir, ".cairnignore")
	content := "\xef\xbb\xbf# comment\r\n" +
		"\r\n" +
		"*.log\r\n" +
		"\n" +
		"   \n" +
		"  # not a comment\n" +
		`\#file` + "\n" +
		`\!bang` + "\n" +
		"!keep.log\n" +
		"trail   \n" +
		`space\ ` + "\n" +
		`two\  ` + " \r\n" +
		"tab\t\n" +
		"last"
	if err := os.WriteFile(name, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"*.log",
		"  # not a comment",
		`\#file`,
		`\!bang`,
		"!keep.log",
		"trail",
		`space\ `,
		`two\ `,
		"tab\t",
		"last",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("ReadFile =\n%q\nwant\n%q", got, want)
	}

	// The lines feed straight into New with the escapes intact.
	m, err := New(got)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		path string
		want bool
	}{
		{"a.log", true}, {"keep.log", false}, {"#file", true}, {"!bang", true},
		{"trail", true}, {"space ", true}, {"space", false}, {"two ", true},
		{"tab\t", true}, {"last", true}, {"  # not a comment", true},
	} {
		if got := m.Match(c.path, false); got != c.want {
			t.Errorf("Match(%q) = %v, want %v", c.path, got, c.want)
		}
	}

	got, err = ReadFile(filepath.Join(dir, "missing"))
	if got != nil || err != nil {
		t.Errorf("ReadFile(missing) = %q, %v; want nil, nil", got, err)
	}
	if _, err := ReadFile(dir); err == nil {
		t.Error("ReadFile(directory) should fail")
	}
}

func TestTrimTrailingSpaces(t *testing.T) {
	for in, want := range map[string]string{
		"a":       "a",
		"a  ":     "a",
		`a\ `:     `a\ `,
		`a\  `:    `a\ `,
		`a\`:      `a\`,
		`a\\ `:    `a\\`,
		"a b ":    "a b",
		"   ":     "",
		"a\t":     "a\t",
		`\ \ \  `: `\ \ \ `,
	} {
		if got := trimTrailingSpaces(in); got != want {
			t.Errorf("trimTrailingSpaces(%q) = %q, want %q", in, got, want)
		}
	}
}

// gitCase is one path to ask git about, in a case directory of its own or
// shared with other cases that have the same patterns.
type gitCase struct {
	patterns []string
	path     string // relative to the case directory
	isDir    bool
}

// gitCheck lays the cases out in a fresh repository and returns, for each
// case, git's verdict on the path and on each of its ancestors (outermost
// first; the last entry is the path itself). Each case directory holds a
// .gitignore with the case's patterns: git applies those relative to that
// directory exactly as a top-level .gitignore applies to the top, and one
// repository and one git process keep the test fast. With share set, cases
// with equal pattern lists share a directory (their paths must not clash,
// e.g. "x" as both a file and a directory); that saves creating thousands of
// files.
func gitCheck(t *testing.T, cases []gitCase, share bool) [][]bool {
	t.Helper()
	gitPath, err := exec.LookPath("git")
	if err != nil {
		t.Skip("git not found on PATH")
	}
	root := t.TempDir()
	env := append(os.Environ(),
		// Keep the user's and system's config and global excludes out.
		"HOME="+root,
		"XDG_CONFIG_HOME="+root,
		"GIT_CONFIG_NOSYSTEM=1",
		"GIT_CONFIG_GLOBAL="+os.DevNull,
	)
	run := func(stdin []byte, args ...string) []byte {
		cmd := exec.Command(gitPath, args...)
		cmd.Dir = root
		cmd.Env = env
		cmd.Stdin = bytes.NewReader(stdin)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		// check-ignore exits 1 when nothing is ignored; that is fine.
		if ee, ok := err.(*exec.ExitError); err != nil && !(ok && ee.ExitCode() == 1 && stderr.Len() == 0) {
			t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, stderr.Bytes())
		}
		return out
	}
	run(nil, "init", "-q")
	if _, err := os.Stat(filepath.Join(root, ".git")); err != nil {
		t.Fatal(err)
	}

	caseDir := make([]string, len(cases))
	dirFor := map[string]string{} // pattern list -> case directory, if sharing
	var query []string            // paths relative to root, each once
	queried := map[string]bool{}
	for i, c := range cases {
		key := strings.Join(c.patterns, "\n") + "\n"
		cdir, ok := dirFor[key]
		if !ok || !share {
			cdir = fmt.Sprintf("c%05d", i)
			dirFor[key] = cdir
			if err := os.Mkdir(filepath.Join(root, cdir), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(root, cdir, ".gitignore"), []byte(key), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		caseDir[i] = cdir
		// Create each path once, with plain Mkdir rather than MkdirAll:
		// file system calls dominate this test's run time.
		parts := ancestorsAndSelf(c.path)
		for j, q := range parts {
			if q = cdir + "/" + q; !queried[q] {
				queried[q] = true
				query = append(query, q)
				full := filepath.Join(root, filepath.FromSlash(q))
				if j < len(parts)-1 || c.isDir {
					err = os.Mkdir(full, 0o755)
				} else {
					err = os.WriteFile(full, nil, 0o644)
				}
				if err != nil {
					t.Fatalf("%v: %v", c, err)
				}
			}
		}
	}

	in := []byte(strings.Join(query, "\x00") + "\x00")
	out := run(in, "check-ignore", "--no-index", "-v", "-n", "-z", "--stdin")
	// -z -v -n output: source NUL line NUL pattern NUL path NUL, one record
	// per input path, in order; source is empty when nothing matched.
	fields := strings.Split(string(out), "\x00")
	if len(fields) != 4*len(query)+1 {
		t.Fatalf("git check-ignore: got %d fields for %d paths", len(fields), len(query))
	}
	verdict := make(map[string]bool, len(query))
	for i := 0; i+4 <= len(fields); i += 4 {
		source, pat, path := fields[i], fields[i+2], fields[i+3]
		if path != query[i/4] {
			t.Fatalf("git check-ignore answered for %q, expected %q", path, query[i/4])
		}
		verdict[path] = source != "" && !strings.HasPrefix(pat, "!")
	}
	res := make([][]bool, len(cases))
	for i, c := range cases {
		for _, q := range ancestorsAndSelf(c.path) {
			res[i] = append(res[i], verdict[caseDir[i]+"/"+q])
		}
	}
	return res
}

// ancestorsAndSelf returns "a", "a/b", "a/b/c" for "a/b/c".
func ancestorsAndSelf(rel string) []string {
	var out []string
	for i := 0; i < len(rel); i++ {
		if rel[i] == '/' {
			out = append(out, rel[:i])
		}
	}
	return append(out, rel)
}

// crossCheck compares Match with git for every case, walking top-down from
// the first path element like the real walker: ancestors are checked as
// directories, and the walk stops at the first ignored one because git
// reports everything below it as ignored however the patterns read. It
// returns git's verdicts (as gitCheck) and how many (patterns, path) pairs
// were compared.
func crossCheck(t *testing.T, cases []gitCase, share bool) (verdicts [][]bool, compared int) {
	t.Helper()
	verdicts = gitCheck(t, cases, share)
	for i, c := range cases {
		m, err := New(c.patterns)
		if err != nil {
			t.Fatalf("%q: %v", c.patterns, err)
		}
		parts := ancestorsAndSelf(c.path)
		for j, q := range parts {
			isDir := c.isDir || j < len(parts)-1
			got, want := m.Match(q, isDir), verdicts[i][j]
			compared++
			if got != want {
				t.Errorf("disagrees with git: patterns %q, path %q (dir=%v): Match = %v, git says ignored = %v",
					c.patterns, q, isDir, got, want)
			}
			if want {
				break // git would not descend; neither does the walker
			}
		}
	}
	return verdicts, compared
}

func TestMatchAgainstGit(t *testing.T) {
	var cases []gitCase
	for _, c := range matchCases {
		cases = append(cases, gitCase{c.patterns, c.path, c.isDir})
	}
	verdicts, n := crossCheck(t, cases, false)
	// Count separately how many table cases reached their own path (were not
	// cut off by an ignored parent), and check the table's own "want"
	// against git too, so a wrong expectation cannot hide.
	self := 0
	for i, c := range cases {
		reached := true
		for _, v := range verdicts[i][:len(verdicts[i])-1] {
			if v {
				reached = false
			}
		}
		if reached {
			self++
			if got := verdicts[i][len(verdicts[i])-1]; got != matchCases[i].want {
				t.Errorf("table case %v: want %v but git says %v", matchCases[i], matchCases[i].want, got)
			}
		} else {
			t.Logf("not cross-checked (parent ignored by git): %v", c)
		}
	}
	t.Logf("table: %d of %d cases cross-checked against git, %d comparisons including ancestors", self, len(cases), n)
}

// TestRandomAgainstGit compares Match with git on pseudo-random pattern lists
// over a small tree, to find corner cases the table did not think of.
func TestRandomAgainstGit(t *testing.T) {
	// A tree with directories and files at each level; names share letters
	// with the pattern pieces so that matches are frequent.
	var paths []gitCase
	var walk func(prefix string, depth int)
	walk = func(prefix string, depth int) {
		for _, d := range []string{"a", "b"} {
			paths = append(paths, gitCase{path: prefix + d, isDir: true})
			if depth < 3 {
				walk(prefix+d+"/", depth+1)
			}
		}
		for _, f := range []string{"c", "ab", "a.b"} {
			paths = append(paths, gitCase{path: prefix + f})
		}
	}
	walk("", 1)

	pieces := []string{
		"a", "b", "c", "ab", "*", "**", "***", "?", "a*", "*b", "a**", "**b", "*.*", "?*",
		"[ab]", "[!a]", "[a-b]", "[]a]", "[[:alpha:]]", `\a`, `**\/a`, "?b", "*a*", "a.*", "*.b", "**a",
	}
	rng := rand.New(rand.NewPCG(1, 2))
	genPattern := func() string {
		var sb strings.Builder
		if rng.IntN(5) == 0 {
			sb.WriteString("!")
		}
		if rng.IntN(4) == 0 {
			sb.WriteString("/")
		}
		n := 1 + rng.IntN(3)
		for i := 0; i < n; i++ {
			if i > 0 {
				sb.WriteString("/")
			}
			sb.WriteString(pieces[rng.IntN(len(pieces))])
		}
		if rng.IntN(4) == 0 {
			sb.WriteString("/")
		}
		return sb.String()
	}

	const lists = 100
	var cases []gitCase
	for range lists {
		pats := make([]string, 1+rng.IntN(3))
		for i := range pats {
			pats[i] = genPattern()
		}
		// Only leaves need to be listed: crossCheck walks their ancestors.
		for _, pc := range paths {
			cases = append(cases, gitCase{pats, pc.path, pc.isDir})
		}
	}
	_, n := crossCheck(t, cases, true)
	t.Logf("random: %d pattern lists, %d comparisons against git", lists, n)
}

// benchPaths builds a 100,000-path tree shaped roughly like a source tree.
func benchPaths() (rels []string, dirs []bool) {
	exts := []string{".go", ".txt", ".log", ".o", ".md", ".json", ".tmp", ".swp"}
	tops := []string{"src", "build", "doc", "vendor", "node_modules", "testdata", "cmd", "internal", "pkg", "web"}
	for i := 0; len(rels) < 100_000; i++ {
		top := tops[i%len(tops)]
		d := fmt.Sprintf("%s/mod%03d/sub%02d", top, i%1000, i%37)
		rels = append(rels, d)
		dirs = append(dirs, true)
		for j := 0; j < 9 && len(rels) < 100_000; j++ {
			rels = append(rels, fmt.Sprintf("%s/file_%d%s", d, j, exts[(i+j)%len(exts)]))
			dirs = append(dirs, false)
		}
	}
	return rels, dirs
}

var benchPatterns = []string{
	"*.log", "!important.log", "/build/", "node_modules/", "**/testdata/**",
	"doc/*.txt", "*.o", "!keep.o", "[Tt]emp*", "*~", ".git/", "vendor/**/*.go",
	"a/**/b", "*.tmp", "/tmp/", "cache/", "*.sw[op]", ".DS_Store", "coverage.out",
	"web/**/dist",
}

func BenchmarkMatch100k(b *testing.B) {
	rels, dirs := benchPaths()
	m, err := New(benchPatterns)
	if err != nil {
		b.Fatal(err)
	}
	if len(benchPatterns) != 20 || len(rels) != 100_000 {
		b.Fatalf("%d patterns, %d paths", len(benchPatterns), len(rels))
	}
	n := 0
	for b.Loop() {
		for i, r := range rels {
			if m.Match(r, dirs[i]) {
				n++
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(rels)), "ns/path")
	if n == 0 {
		b.Fatal("nothing matched")
	}
}
