package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"
	"unicode/utf8"
)

// size renders a byte count for people: 1.5 KiB, 20 MiB.
func size(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// tableTime renders a time for a table: RFC 3339 in local time with its
// offset (retention's calendar buckets are local too), or in UTC with
// --utc. JSON always says UTC (jsonTime).
func (a *app) tableTime(t time.Time) string {
	if a.utc {
		return t.UTC().Format(time.RFC3339)
	}
	return t.Local().Format(time.RFC3339)
}

func seconds(d time.Duration) string { return strconv.FormatFloat(d.Seconds(), 'f', 2, 64) + "s" }

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}

func octal(mode uint32) string { return fmt.Sprintf("%04o", mode) }

// displayPath renders a file name for a terminal. A name of printable
// characters (spaces, quotes and any printable Unicode included) prints as
// it is. A name holding a control character, invalid UTF-8 or an invisible
// formatting character (any of which could move the cursor, recolour the
// terminal, or reverse the text after it) is quoted as GNU ls
// --quoting-style=shell-escape does: printable runs inside single quotes,
// the rest as $'\ooo' escapes, so that, pasted into bash or zsh,
//
//	'red'$'\033''[31m'$'\n''x'
//
// names the file exactly. JSON output never goes through here: JSON
// escapes.
func displayPath(s string) string {
	if !needsQuoting(s) {
		return s
	}
	var b strings.Builder
	const (
		bare = iota
		quoted
		escaped
	)
	state := bare
	enter := func(want int) {
		if state == want {
			return
		}
		if state != bare {
			b.WriteByte('\'')
		}
		switch want {
		case quoted:
			b.WriteByte('\'')
		case escaped:
			b.WriteString("$'")
		}
		state = want
	}
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case !displayable(r, n):
			enter(escaped)
			for _, c := range []byte(s[i : i+n]) {
				writeEscape(&b, c)
			}
		case r == '\'':
			enter(bare)
			b.WriteString(`\'`)
		default:
			enter(quoted)
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	enter(bare)
	return b.String()
}

// displayText renders a message (an error, a warning) for a terminal on
// one line: newlines become "; " and other characters displayPath would
// quote become Go escapes (\x1b, \u202e), since a message is not a name
// one pastes.
func displayText(s string) string {
	s = strings.ReplaceAll(strings.TrimSpace(s), "\n", "; ")
	if !needsQuoting(s) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case n == 1 && r == utf8.RuneError:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case !displayable(r, n):
			q := strconv.QuoteRune(r) // '\x1b' or '\u202e'
			b.WriteString(q[1 : len(q)-1])
		default:
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}

func needsQuoting(s string) bool {
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if !displayable(r, n) {
			return true
		}
		i += n
	}
	return false
}

// displayable reports whether a decoded rune (n bytes) may reach a
// terminal as it is: valid UTF-8 and printable in Go's sense (letters,
// marks, numbers, punctuation, symbols and the ASCII space), which leaves
// out control characters and format characters such as U+202E.
func displayable(r rune, n int) bool {
	return !(r == utf8.RuneError && n == 1) && unicode.IsPrint(r)
}

func writeEscape(b *strings.Builder, c byte) {
	if e := strings.IndexByte("\a\b\t\n\v\f\r", c); e >= 0 {
		b.WriteByte('\\')
		b.WriteByte("abtnvfr"[e])
		return
	}
	fmt.Fprintf(b, `\%03o`, c)
}

// newTable aligns columns separated by tabs, two spaces apart. Lines end
// without the padding tabwriter leaves after an empty last cell.
func newTable(w io.Writer) *tabwriter.Writer {
	return tabwriter.NewWriter(&trimTrailing{w: w}, 0, 0, 2, ' ', 0)
}

// trimTrailing drops the spaces before each newline written through it.
type trimTrailing struct {
	w      io.Writer
	spaces int // held back until something other than a newline follows
	buf    []byte
}

func (t *trimTrailing) Write(p []byte) (int, error) {
	t.buf = t.buf[:0]
	for _, c := range p {
		switch c {
		case ' ':
			t.spaces++
			continue
		case '\n':
			t.spaces = 0
		}
		for ; t.spaces > 0; t.spaces-- {
			t.buf = append(t.buf, ' ')
		}
		t.buf = append(t.buf, c)
	}
	if _, err := t.w.Write(t.buf); err != nil {
		return 0, err
	}
	return len(p), nil
}
