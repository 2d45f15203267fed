// Package textdiff compares two texts line by line (Myers' O(ND)
// algorithm) and renders the difference as a unified diff, the format of
// diff -u and git diff.
package textdiff

import (
	"bytes"
	"fmt"
	"strings"
)

// Op says what an edit does to one line.
type Op byte

// The edits of a line.
const (
	Equal  Op = ' '
	Delete Op = '-'
	Insert Op = '+'
)

// Edit is one line of the script that turns a into b.
type Edit struct {
	Op   Op
	Line string // with its newline, if it had one
}

// Lines splits text after each newline; a last line without one is kept.
func Lines(text []byte) []string {
	var out []string
	for len(text) > 0 {
		i := bytes.IndexByte(text, '\n')
		if i < 0 {
			out = append(out, string(text))
			break
		}
		out = append(out, string(text[:i+1]))
		text = text[i+1:]
	}
	return out
}

// Diff returns a shortest edit script from a to b.
func Diff(a, b []string) []Edit {
	// Common prefix and suffix cost nothing and are the usual case (a
	// config file with one line changed).
	pre := 0
	for pre < len(a) && pre < len(b) && a[pre] == b[pre] {
		pre++
	}
	suf := 0
	for suf < len(a)-pre && suf < len(b)-pre && a[len(a)-1-suf] == b[len(b)-1-suf] {
		suf++
	}
	var out []Edit
	for _, l := range a[:pre] {
		out = append(out, Edit{Equal, l})
	}
	out = append(out, myers(a[pre:len(a)-suf], b[pre:len(b)-suf])...)
	for _, l := range a[len(a)-suf:] {
		out = append(out, Edit{Equal, l})
	}
	return out
}

// myers is Myers' greedy algorithm, keeping each round's furthest points
// to walk the path back.
func myers(a, b []string) []Edit {
	n, m := len(a), len(b)
	max := n + m
	if max == 0 {
		return nil
	}
	off := max + 1
	v := make([]int, 2*max+3)
	var trace [][]int
	for d := 0; d <= max; d++ {
		trace = append(trace, append([]int(nil), v...))
		for k := -d; k <= d; k += 2 {
			var x int
			if k == -d || (k != d && v[off+k-1] < v[off+k+1]) {
				x = v[off+k+1] // down: an insertion
			} else {
				x = v[off+k-1] + 1 // right: a deletion
			}
			y := x - k
			for x < n && y < m && a[x] == b[y] {
				x, y = x+1, y+1
			}
			v[off+k] = x
			if x >= n && y >= m {
				return backtrack(a, b, trace, d, off)
			}
		}
	}
	return nil // not reached: d = n+m always reaches the end
}

func backtrack(a, b []string, trace [][]int, d, off int) []Edit {
	x, y := len(a), len(b)
	var rev []Edit
	for ; d > 0; d-- {
		v := trace[d]
		k := x - y
		var prevK int
		if k == -d || (k != d && v[off+k-1] < v[off+k+1]) {
			prevK = k + 1
		} else {
			prevK = k - 1
		}
		prevX := v[off+prevK]
		prevY := prevX - prevK
		for x > prevX && y > prevY {
			x, y = x-1, y-1
			rev = append(rev, Edit{Equal, a[x]})
		}
		if x == prevX {
			y--
			rev = append(rev, Edit{Insert, b[y]})
		} else {
			x--
			rev = append(rev, Edit{Delete, a[x]})
		}
	}
	for x > 0 && y > 0 {
		x, y = x-1, y-1
		rev = append(rev, Edit{Equal, a[x]})
	}
	out := make([]Edit, len(rev))
	for i, e := range rev {
		out[len(rev)-1-i] = e
	}
	return out
}

// Unified renders the edits from a (named nameA) to b as a unified diff
// with context lines of context around each change; equal texts give "".
func Unified(nameA, nameB string, a, b []byte, context int) string {
	edits := Diff(Lines(a), Lines(b))
	var sb strings.Builder
	changed := false
	for _, e := range edits {
		if e.Op != Equal {
			changed = true
			break
		}
	}
	if !changed {
		return ""
	}
	fmt.Fprintf(&sb, "--- %s\n+++ %s\n", nameA, nameB)
	// Line numbers (1-based) of each edit in a and b.
	ai, bi := make([]int, len(edits)+1), make([]int, len(edits)+1)
	la, lb := 1, 1
	for i, e := range edits {
		ai[i], bi[i] = la, lb
		if e.Op != Insert {
			la++
		}
		if e.Op != Delete {
			lb++
		}
	}
	ai[len(edits)], bi[len(edits)] = la, lb
	for i := 0; i < len(edits); {
		if edits[i].Op == Equal {
			i++
			continue
		}
		// A hunk: from context lines before this change to context lines
		// after the last change that is no more than 2*context away.
		start := max(0, i-context)
		end := i
		for j := i; j < len(edits); j++ {
			if edits[j].Op != Equal {
				end = j + 1
			} else if j-end >= 2*context {
				break
			}
		}
		stop := min(len(edits), end+context)
		na, nb := 0, 0
		for _, e := range edits[start:stop] {
			if e.Op != Insert {
				na++
			}
			if e.Op != Delete {
				nb++
			}
		}
		fmt.Fprintf(&sb, "@@ -%s +%s @@\n", span(ai[start], na), span(bi[start], nb))
		for _, e := range edits[start:stop] {
			sb.WriteByte(byte(e.Op))
			sb.WriteString(e.Line)
			if !strings.HasSuffix(e.Line, "\n") {
				sb.WriteString("\n\\ No newline at end of file\n")
			}
		}
		i = stop
	}
	return sb.String()
}

// span is a hunk range as diff -u writes it: "start,count", "start" for
// one line, and the line before for none.
func span(start, n int) string {
	switch n {
	case 0:
		return fmt.Sprintf("%d,0", start-1)
	case 1:
		return fmt.Sprintf("%d", start)
	}
	return fmt.Sprintf("%d,%d", start, n)
}

// IsBinary reports whether b looks like binary data rather than text: a
// NUL byte in its first 8000 bytes, as git and diff decide.
func IsBinary(b []byte) bool {
	return bytes.IndexByte(b[:min(len(b), 8000)], 0) >= 0
}
