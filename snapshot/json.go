package snapshot

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
)

// utf8BOM may open a JSON file written by Windows tools. RFC 8259 forbids
// emitting it but lets parsers ignore it, and most do (Python's utf-8-sig,
// .NET, PowerShell write it), so a file with one is valid when what follows
// is.
var utf8BOM = []byte{0xEF, 0xBB, 0xBF}

// checkJSON validates a JSON document and counts its entries for the
// shrink guard (see jsonEntries), in one pass (validJSON).
func checkJSON(data []byte) (valid bool, count int64) {
	return validJSON(bytes.TrimPrefix(data, utf8BOM))
}

// jsonEntries measures how much a valid document holds, in the sense a
// person would notice losing: the element count of a top-level array; for
// a top-level object, the length of its largest array member ({"jobs":
// [...]}) or, with no array member, its member count; 0 for scalars. It is
// one pass over the bytes, so it costs about as much as validation;
// validJSON counts the same while it validates, and this stays as the
// plain statement of the count that tests hold it to.
func jsonEntries(data []byte) int64 {
	// A container's entries are its commas plus one, if anything is in it.
	type frame struct {
		open     byte
		commas   int64
		nonEmpty bool
	}
	count := func(f frame) int64 {
		if !f.nonEmpty {
			return 0
		}
		return f.commas + 1
	}
	var (
		depth             int
		top, inner        frame
		inString, escaped bool
		largest           int64 = -1
	)
	touch := func() {
		switch depth {
		case 1:
			top.nonEmpty = true
		case 2:
			inner.nonEmpty = true
		}
	}
	for _, b := range data {
		if inString {
			switch {
			case escaped:
				escaped = false
			case b == '\\':
				escaped = true
			case b == '"':
				inString = false
			}
			continue
		}
		switch b {
		case ' ', '\t', '\n', '\r':
		case '[', '{':
			touch()
			depth++
			switch depth {
			case 1:
				top = frame{open: b}
			case 2:
				inner = frame{open: b}
			}
		case ']', '}':
			if depth == 2 && top.open == '{' && inner.open == '[' {
				largest = max(largest, count(inner))
			}
			if depth == 1 {
				if top.open == '{' && largest >= 0 {
					return largest
				}
				return count(top)
			}
			depth--
		case ',':
			switch depth {
			case 1:
				top.commas++
			case 2:
				inner.commas++
			}
		case '"':
			touch()
			inString = true
		default:
			touch()
		}
	}
	return 0
}

// streamValid validates a large JSON document, or a JSON Lines file line
// by line, without holding it in memory.
func streamValid(r io.Reader, lines bool) (bool, error) {
	br := bufio.NewReaderSize(r, 1<<20)
	if head, err := br.Peek(len(utf8BOM)); err == nil && bytes.Equal(head, utf8BOM) {
		br.Discard(len(utf8BOM))
	}
	r = br
	if !lines {
		dec := json.NewDecoder(r)
		// Token reports io.EOF between tokens even inside an open array or
		// object, so a torn document ends at depth > 0; and a file is one
		// document, as json.Valid requires.
		depth, docs := 0, 0
		for {
			tok, err := dec.Token()
			if err == io.EOF {
				break
			}
			if err != nil {
				var se *json.SyntaxError
				if errors.As(err, &se) || errors.Is(err, io.ErrUnexpectedEOF) {
					return false, nil
				}
				return false, err
			}
			switch tok {
			case json.Delim('['), json.Delim('{'):
				depth++
			case json.Delim(']'), json.Delim('}'):
				depth--
			}
			if depth == 0 {
				docs++
			}
		}
		return depth == 0 && docs == 1, nil
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 64<<20)
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if ok, _ := validJSON(line); len(line) > 0 && !ok {
			return false, nil
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return false, nil
		}
		return false, err
	}
	return true, nil
}
