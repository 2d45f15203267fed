// Package ignore matches paths against gitignore-style patterns.
//
// The patterns come from --exclude flags and from a .cairnignore file in the
// source root. Both use the syntax of a .gitignore file (see gitignore(5)) and
// are matched the way git matches them, because users will write them with
// git's behaviour in mind and often copy lines straight out of a .gitignore:
//
//   - Patterns are checked in order and the last one that matches decides, so a
//     "!pattern" line re-includes paths excluded by an earlier line.
//   - A pattern with no "/" (other than a trailing one) matches the last path
//     element at any depth: "*.log" matches "a.log" and "x/y/a.log".
//   - A pattern with a "/" at the start or in the middle is anchored to the root
//     and matched against the whole relative path: "/build" and "doc/*.txt".
//   - A trailing "/" makes the pattern match directories only.
//   - "*" matches any run of bytes except "/", "?" any one byte except "/",
//     "[...]" one byte from a set (ranges "a-z", negation "[!...]" or "[^...]",
//     POSIX classes such as "[[:digit:]]"; never "/").
//   - "**" matches across directories in the forms "**/x", "x/**" and
//     "a/**/b" (which also matches "a/b"); anywhere else it acts like "*".
//   - A backslash makes the next byte literal ("\#", "\!", "\*", "\ ").
//
// Like git, matching is byte-wise and case-sensitive: "?" matches one byte, so
// it does not match a whole multi-byte UTF-8 character (a literal "é" in a
// pattern matches "é" as expected).
//
// Where git silently accepts a pattern that can never match anything (an
// unterminated "[" class, an unknown "[:name:]" class, a trailing backslash),
// New reports an error instead, so a typo does not silently exclude nothing.
package ignore

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
)

// Matcher holds patterns in order; later patterns override earlier ones, as in a .gitignore.
//
// A Matcher is immutable after New and safe for concurrent use. A nil *Matcher
// is valid and matches nothing.
type Matcher struct {
	patterns []pattern
}

// New compiles patterns (each one line of gitignore syntax; blank lines and # comments are skipped). An invalid pattern (e.g. an unterminated [class]) returns an error naming it: `exclude pattern "[a": unterminated character class`.
//
// Each string is treated exactly like a line of a .gitignore file: a "#" in
// the first column starts a comment, unescaped trailing spaces are removed,
// and lines that end up empty (including a lone "!" or "/") match nothing and
// are dropped.
func New(patterns []string) (*Matcher, error) {
	m := &Matcher{}
	for _, line := range patterns {
		if line == "" || line[0] == '#' {
			continue
		}
		p, ok, err := compile(trimTrailingSpaces(line))
		if err != nil {
			return nil, fmt.Errorf("exclude pattern %q: %w", line, err)
		}
		if ok {
			m.patterns = append(m.patterns, p)
		}
	}
	return m, nil
}

// ReadFile reads patterns from a .gitignore-style file (one per line; handles CRLF, trailing unescaped spaces stripped, "\ " and "\#" and "\!" escapes). A missing file returns (nil, nil).
//
// Comment and blank lines are dropped. The returned lines are still in
// gitignore syntax: escapes are kept (so "\#file" stays a pattern rather than
// becoming a comment) and are interpreted by New. A leading UTF-8 byte order
// mark is skipped, as git does.
func ReadFile(path string) ([]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		return nil, err
	}
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	var lines []string
	for len(data) > 0 {
		var line []byte
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line, data = data[:i], data[i+1:]
		} else {
			line, data = data, nil
		}
		// Git strips one CR before the LF (also on a last line without LF),
		// before trimming spaces, so "foo \r\n" yields "foo".
		line = bytes.TrimSuffix(line, []byte("\r"))
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		if s := trimTrailingSpaces(string(line)); s != "" {
			lines = append(lines, s)
		}
	}
	return lines, nil
}

// Match reports whether the path is excluded. rel is relative to the root, '/'-separated, no leading "./" or "/". isDir says whether it names a directory. Callers walk top-down and do not descend into excluded directories, so Match only needs to look at the path itself (as git does for a path whose parents are not excluded).
//
// Consequently a negation cannot re-include a path inside an excluded
// directory: with "logs/" and "!logs/keep.log", Match("logs/keep.log", false)
// reports false, but the walker never gets there because Match("logs", true)
// reports true. This is git's rule too ("It is not possible to re-include a
// file if a parent directory of that file is excluded").
func (m *Matcher) Match(rel string, isDir bool) bool {
	if m == nil || rel == "" {
		return false
	}
	base := rel
	if i := strings.LastIndexByte(rel, '/'); i >= 0 {
		base = rel[i+1:]
	}
	// Scan backwards: the last matching pattern wins, so the first hit from
	// the end decides and the rest need not be looked at.
	for i := len(m.patterns) - 1; i >= 0; i-- {
		p := &m.patterns[i]
		if p.dirOnly && !isDir {
			continue
		}
		s := rel
		if p.basename {
			s = base
		}
		if p.match(s) {
			return !p.negate
		}
	}
	return false
}

// Empty reports whether there are no patterns (lets callers skip matching).
func (m *Matcher) Empty() bool {
	return m == nil || len(m.patterns) == 0
}

// matchKind selects a fast path; most real patterns ("node_modules",
// "*.log") need no general wildcard matching at all. Git has the same two
// shortcuts (no-wildcard and PATTERN_FLAG_ENDSWITH).
type matchKind uint8

const (
	kindLiteral matchKind = iota // no wildcards: whole-string equality
	kindSuffix                   // "*lit" against a basename: suffix test
	kindWild                     // general matcher over toks
)

type pattern struct {
	negate   bool // "!" prefix: a match means "not excluded"
	dirOnly  bool // trailing "/": only directories match
	basename bool // no "/" in the pattern: match the last path element
	kind     matchKind
	lit      string // the literal for kindLiteral, the suffix for kindSuffix
	toks     []token
}

func (p *pattern) match(s string) bool {
	switch p.kind {
	case kindLiteral:
		return s == p.lit
	case kindSuffix:
		return strings.HasSuffix(s, p.lit)
	}
	return wild(p.toks, s) == wmMatch
}

// Syntax errors. Git accepts these silently but they can never match, so they
// are almost certainly mistakes worth reporting.
var (
	errUnterminatedClass = errors.New("unterminated character class")
	errTrailingBackslash = errors.New("trailing backslash")
)

// compile parses one line (comment and trailing spaces already handled)
// following git's parse_path_pattern and match_pathname. ok is false for a
// line that can never match anything and can simply be dropped.
func compile(s string) (p pattern, ok bool, err error) {
	if strings.HasPrefix(s, "!") {
		p.negate = true
		s = s[1:]
	}
	if strings.HasSuffix(s, "/") {
		p.dirOnly = true
		s = s[:len(s)-1]
	}
	// Git decides "basename or anchored" after removing the trailing slash
	// only, so "/foo" and "a/b" are anchored and "foo/" is not.
	p.basename = !strings.Contains(s, "/")
	// Length of the wildcard-free prefix, as git's simple_length; needed for
	// the "**" quirk in compileTokens.
	prefix := strings.IndexAny(s, `*?[\`)
	if prefix < 0 {
		prefix = len(s)
	}
	if !p.basename && s[0] == '/' {
		s = s[1:]
		prefix--
	}
	if s == "" {
		return p, false, nil
	}
	p.toks, err = compileTokens(s, prefix)
	if err != nil {
		return p, false, err
	}
	p.kind = kindWild
	switch {
	case len(p.toks) == 1 && p.toks[0].op == opLit:
		p.kind, p.lit = kindLiteral, p.toks[0].lit
	case p.basename && len(p.toks) == 2 && p.toks[0].op == opStar && p.toks[1].op == opLit:
		// Safe only for basenames: they contain no "/" for "*" to trip on.
		p.kind, p.lit = kindSuffix, p.toks[1].lit
	}
	return p, true, nil
}

type opcode uint8

const (
	opLit      opcode = iota // literal bytes
	opAny                    // ?
	opClass                  // [...]
	opStar                   // * (does not match "/")
	opStarStar               // ** in a "/"-delimited position (matches "/")
)

type token struct {
	op opcode
	// zeroDirs is set on an opStarStar followed by "/": "a/**/b" must also
	// match "a/b", so the "**/" may match nothing at all. The "/" is then
	// always a separate one-byte opLit token right after it.
	zeroDirs bool
	lit      string
	set      *byteSet
}

// byteSet is a 256-bit set for [...] classes, precomputed so matching a class
// is a single bit test.
type byteSet [4]uint64

func (s *byteSet) add(c byte)      { s[c>>6] |= 1 << (c & 63) }
func (s *byteSet) has(c byte) bool { return s[c>>6]&(1<<(c&63)) != 0 }
func (s *byteSet) addRange(lo, hi byte) {
	for c := int(lo); c <= int(hi); c++ {
		s.add(byte(c))
	}
}

// compileTokens turns a pattern (without "!", trailing "/" or leading "/")
// into tokens. prefix is the length of its leading wildcard-free part.
func compileTokens(s string, prefix int) ([]token, error) {
	var toks []token
	var buf []byte // pending literal bytes
	flush := func() {
		if len(buf) > 0 {
			toks = append(toks, token{op: opLit, lit: string(buf)})
			buf = buf[:0]
		}
	}
	for i := 0; i < len(s); {
		switch c := s[i]; c {
		case '\\':
			if i+1 == len(s) {
				return nil, errTrailingBackslash
			}
			buf = append(buf, s[i+1])
			i += 2
		case '?':
			flush()
			toks = append(toks, token{op: opAny})
			i++
		case '[':
			set, n, err := parseClass(s[i:])
			if err != nil {
				return nil, err
			}
			flush()
			toks = append(toks, token{op: opClass, set: set})
			i += n
		case '*':
			flush()
			j := i + 1
			for j < len(s) && s[j] == '*' {
				j++
			}
			t := token{op: opStar}
			if j-i >= 2 {
				// As in git's wildmatch: "**" is special only between
				// slashes (or the ends). "Start" also includes the end of
				// the wildcard-free prefix because git's match_pathname
				// strips that prefix before calling wildmatch, so e.g.
				// "ab**/c" matches "abx/y/c"; we replicate that.
				before := i == 0 || s[i-1] == '/' || i == prefix
				after := j == len(s) || s[j] == '/' || (s[j] == '\\' && j+1 < len(s) && s[j+1] == '/')
				if before && after {
					t.op = opStarStar
					// Git only tries the zero-directory shortcut for an
					// unescaped "/" (not for "**\/").
					t.zeroDirs = j < len(s) && s[j] == '/'
				}
			}
			toks = append(toks, t)
			i = j
			if t.zeroDirs {
				toks = append(toks, token{op: opLit, lit: "/"})
				i++
			}
		default:
			buf = append(buf, c)
			i++
		}
	}
	flush()
	return toks, nil
}

// parseClass parses a "[...]" class at the start of s, returning its set and
// length. It follows git's wildmatch byte for byte, including its corner
// cases: a "]" right after "[" or "[!" is a member, "-" is literal at either
// end, a range end may be escaped, and "[:" without a closing ":]" is just a
// literal "[".
func parseClass(s string) (*byteSet, int, error) {
	set := new(byteSet)
	i := 1
	if i >= len(s) {
		return nil, 0, errUnterminatedClass
	}
	negated := s[i] == '!' || s[i] == '^'
	if negated {
		i++
	}
	var prev byte // 0 means "no range start", as prev_ch in git
	for {
		if i >= len(s) {
			return nil, 0, errUnterminatedClass
		}
		c := s[i]
		switch {
		case c == '\\':
			i++
			if i >= len(s) {
				return nil, 0, errUnterminatedClass
			}
			c = s[i]
			set.add(c)
		case c == '-' && prev != 0 && i+1 < len(s) && s[i+1] != ']':
			i++
			c = s[i]
			if c == '\\' {
				i++
				if i >= len(s) {
					return nil, 0, errUnterminatedClass
				}
				c = s[i]
			}
			if prev <= c {
				set.addRange(prev, c)
			}
			c = 0 // a range cannot start another range
		case c == '[' && i+1 < len(s) && s[i+1] == ':':
			start := i + 2
			end := strings.IndexByte(s[start:], ']')
			if end < 0 {
				return nil, 0, errUnterminatedClass
			}
			end += start
			if end-start-1 < 0 || s[end-1] != ':' {
				// No ":]": the "[" is an ordinary member.
				set.add('[')
				break
			}
			name := s[start : end-1]
			if !addNamedClass(set, name) {
				return nil, 0, fmt.Errorf("unknown character class [:%s:]", name)
			}
			i = end
			c = 0
		default:
			set.add(c)
		}
		prev = c
		i++
		if i < len(s) && s[i] == ']' {
			break
		}
	}
	if negated {
		for k := range set {
			set[k] = ^set[k]
		}
	}
	// With WM_PATHNAME a class never matches "/", negated or not. (Basename
	// matching never sees a "/" at all, so this is right there too.)
	set[0] &^= 1 << '/'
	return set, i + 1, nil
}

// addNamedClass adds a POSIX class. Like git's sane_ctype these are ASCII
// only; note git's [:space:] is just space, tab, LF and CR.
func addNamedClass(set *byteSet, name string) bool {
	var f func(c byte) bool
	isAlpha := func(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }
	isDigit := func(c byte) bool { return '0' <= c && c <= '9' }
	isGraph := func(c byte) bool { return 0x21 <= c && c <= 0x7e }
	switch name {
	case "alnum":
		f = func(c byte) bool { return isAlpha(c) || isDigit(c) }
	case "alpha":
		f = isAlpha
	case "blank":
		f = func(c byte) bool { return c == ' ' || c == '\t' }
	case "cntrl":
		f = func(c byte) bool { return c < 0x20 || c == 0x7f }
	case "digit":
		f = isDigit
	case "graph":
		f = isGraph
	case "lower":
		f = func(c byte) bool { return 'a' <= c && c <= 'z' }
	case "print":
		f = func(c byte) bool { return 0x20 <= c && c <= 0x7e }
	case "punct":
		f = func(c byte) bool { return isGraph(c) && !isAlpha(c) && !isDigit(c) }
	case "space":
		f = func(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }
	case "upper":
		f = func(c byte) bool { return 'A' <= c && c <= 'Z' }
	case "xdigit":
		f = func(c byte) bool { return isDigit(c) || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F' }
	default:
		return false
	}
	for c := 0; c < 128; c++ {
		if f(byte(c)) {
			set.add(byte(c))
		}
	}
	return true
}

// Results of wild, as in git's wildmatch. The two abort results prune the
// search: abortAll means the text ran out, so no caller trying a later
// split can succeed either; abortToStarStar means a "*" hit a "/", so only an
// enclosing "**" (which may cross it) can still help. Without them a pattern
// with several stars could take exponential time.
const (
	wmMatch = iota
	wmNoMatch
	wmAbortAll
	wmAbortToStarStar
)

// wild is git's dowild (wildmatch.c, with WM_PATHNAME) over precompiled
// tokens instead of raw pattern bytes.
func wild(toks []token, text string) int {
	for ti := 0; ti < len(toks); ti++ {
		t := &toks[ti]
		if text == "" && t.op != opStar && t.op != opStarStar {
			return wmAbortAll
		}
		switch t.op {
		case opLit:
			if len(text) < len(t.lit) {
				if t.lit[:len(text)] == text {
					return wmAbortAll // text ran out inside the literal
				}
				return wmNoMatch
			}
			if text[:len(t.lit)] != t.lit {
				return wmNoMatch
			}
			text = text[len(t.lit):]
		case opAny:
			if text[0] == '/' {
				return wmNoMatch
			}
			text = text[1:]
		case opClass:
			if !t.set.has(text[0]) {
				return wmNoMatch
			}
			text = text[1:]
		default: // opStar, opStarStar
			matchSlash := t.op == opStarStar
			rest := toks[ti+1:]
			if t.zeroDirs && wild(rest[1:], text) == wmMatch {
				return wmMatch // "**/" matched no directories
			}
			if len(rest) == 0 {
				// Trailing "**" matches everything, trailing "*" only what
				// has no more slashes.
				if !matchSlash && strings.IndexByte(text, '/') >= 0 {
					return wmNoMatch
				}
				return wmMatch
			}
			if !matchSlash && rest[0].op == opLit && rest[0].lit[0] == '/' {
				// "*/": the star must take exactly up to the next slash.
				i := strings.IndexByte(text, '/')
				if i < 0 {
					return wmNoMatch
				}
				text = text[i:]
				continue
			}
			for text != "" {
				if rest[0].op == opLit {
					// Skip straight to the next occurrence of the literal's
					// first byte; a "*" must not look past a "/".
					c := rest[0].lit[0]
					j := 0
					for j < len(text) && text[j] != c && (matchSlash || text[j] != '/') {
						j++
					}
					if j == len(text) || text[j] != c {
						return wmNoMatch
					}
					text = text[j:]
				}
				r := wild(rest, text)
				if r != wmNoMatch {
					if !matchSlash || r != wmAbortToStarStar {
						return r
					}
				} else if !matchSlash && text[0] == '/' {
					return wmAbortToStarStar
				}
				text = text[1:]
			}
			return wmAbortAll
		}
	}
	if text != "" {
		return wmNoMatch
	}
	return wmMatch
}

// trimTrailingSpaces removes unescaped trailing spaces (not tabs), exactly as
// git's trim_trailing_spaces: "foo  " becomes "foo", "foo\ " stays.
func trimTrailingSpaces(s string) string {
	lastSpace := -1
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case ' ':
			if lastSpace < 0 {
				lastSpace = i
			}
		case '\\':
			i++
			if i >= len(s) {
				return s
			}
			lastSpace = -1
		default:
			lastSpace = -1
		}
	}
	if lastSpace >= 0 {
		return s[:lastSpace]
	}
	return s
}
