package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/cairn-dev/cairn"
)

func (a *app) sqlCommand() *cobra.Command {
	var format string
	var timeout time.Duration
	c := &cobra.Command{
		Use:   "sql QUERY",
		Short: "Query the catalog with SQL (read-only)",
		Long: `Run one read-only SQL statement on the catalog. The documented views are
snapshots, files, versions and warnings (see docs/sql.md). Statements that
write, ATTACH a database, change settings or load extensions are refused,
and so is a query string with more than one statement.

Rows are printed as SQLite produces them, so memory stays small however many
rows there are. The table format aligns its columns to the first 1000 rows; a
longer cell further down widens its column from there on (use --format csv
or json for exact output).`,
		Example: `  cairn sql "SELECT id, started_at, file_count FROM snapshots"
  cairn sql "SELECT path, size FROM files WHERE snapshot_id = 42 ORDER BY size DESC LIMIT 10"
  cairn sql --format csv "SELECT * FROM versions WHERE path = 'cron/jobs.json'"`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			newWriter, ok := rowWriters[format]
			if !ok {
				return usageError{fmt.Errorf("--format %q: want table, csv or json", format)}
			}
			repo, err := a.open(cmd.Context(), false)
			if err != nil {
				return err
			}
			out := bufio.NewWriterSize(a.stdout, 64<<10)
			w := newWriter(out)
			err = repo.Query(cmd.Context(), args[0], timeout, w.row)
			if err == nil {
				err = w.finish()
			}
			// What was printed before an error stays printed (a JSON
			// array is then left open, so it cannot pass for complete).
			if ferr := out.Flush(); err == nil {
				err = ferr
			}
			if errors.Is(err, cairn.ErrQueryWrites) {
				// The library's sentinel, in the command's words.
				return errors.New(strings.Replace(err.Error(), cairn.ErrQueryWrites.Error(), "cairn sql runs read-only queries", 1))
			}
			if errors.Is(err, context.DeadlineExceeded) && cmd.Context().Err() == nil {
				return fmt.Errorf("the query ran longer than --timeout %v; give it a longer --timeout", timeout)
			}
			return err
		},
	}
	c.Flags().StringVar(&format, "format", "table", "output format: table, csv or json")
	c.Flags().DurationVar(&timeout, "timeout", 30*time.Second, "stop a query that keeps SQLite busy longer (time spent writing output does not count; 0: no limit)")
	return c
}

// A rowWriter prints a query's rows as they come: row receives the
// columns with a nil row first, then each row (catalog.RowFunc), and
// finish ends the output.
type rowWriter interface {
	row(cols []string, row []any) error
	finish() error
}

var rowWriters = map[string]func(w io.Writer) rowWriter{
	"table": func(w io.Writer) rowWriter { return &tableWriter{w: w} },
	"csv":   func(w io.Writer) rowWriter { return &csvWriter{w: csv.NewWriter(w)} },
	"json":  func(w io.Writer) rowWriter { return &jsonWriter{w: w} },
}

func cell(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case []byte:
		return hex.EncodeToString(x)
	case string:
		return x
	case int64:
		return strconv.FormatInt(x, 10)
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	}
	return fmt.Sprint(v)
}

type csvWriter struct {
	w   *csv.Writer
	rec []string
}

func (c *csvWriter) row(cols []string, row []any) error {
	if row == nil {
		c.rec = make([]string, len(cols))
		return c.w.Write(cols)
	}
	for i, v := range row {
		c.rec[i] = cell(v)
	}
	return c.w.Write(c.rec)
}

func (c *csvWriter) finish() error {
	c.w.Flush()
	return c.w.Error()
}

// jsonWriter prints an array of objects, one per row, written as the
// rows come and formatted exactly as encoding/json indents a slice of
// maps (keys sorted; a repeated column name keeps its last value), which
// is what --format json printed when it held every row in memory.
type jsonWriter struct {
	w     io.Writer
	keys  [][]byte // the encoded key of each output field
	index []int    // the column each output field takes its value from
	rows  int
	buf   bytes.Buffer
}

func (j *jsonWriter) row(cols []string, row []any) error {
	if row == nil {
		last := map[string]int{}
		for i, c := range cols {
			last[c] = i
		}
		names := make([]string, 0, len(last))
		for c := range last {
			names = append(names, c)
		}
		sort.Strings(names)
		for _, c := range names {
			k, _ := json.Marshal(c)
			j.keys = append(j.keys, k)
			j.index = append(j.index, last[c])
		}
		return nil
	}
	b := &j.buf
	b.Reset()
	if j.rows == 0 {
		b.WriteString("[\n  {")
	} else {
		b.WriteString(",\n  {")
	}
	j.rows++
	for f, k := range j.keys {
		if f > 0 {
			b.WriteByte(',')
		}
		b.WriteString("\n    ")
		b.Write(k)
		b.WriteString(": ")
		v := row[j.index[f]]
		if x, ok := v.([]byte); ok {
			v = hex.EncodeToString(x)
		}
		enc, err := json.Marshal(v)
		if err != nil {
			return fmt.Errorf("row %d: %w", j.rows, err)
		}
		b.Write(enc)
	}
	if len(j.keys) > 0 {
		b.WriteString("\n  ")
	}
	b.WriteByte('}')
	_, err := j.w.Write(b.Bytes())
	return err
}

func (j *jsonWriter) finish() error {
	end := "\n]\n"
	if j.rows == 0 {
		end = "[]\n"
	}
	_, err := io.WriteString(j.w, end)
	return err
}

// The table format holds back at most this many rows (or bytes of cells)
// to size its columns; past that, rows print as they come.
const (
	tableLookaheadRows  = 1000
	tableLookaheadBytes = 1 << 20
)

// tableWriter aligns columns the way text/tabwriter with two spaces of
// padding does, without holding every row as tabwriter would: it sizes
// the columns from the first rows, then prints each later row at once,
// widening a column from that row on when a cell is longer. Cells that
// could disturb the terminal are quoted (displayPath), which also keeps
// tabs and newlines out of the layout.
type tableWriter struct {
	w       io.Writer
	widths  []int      // rune width of each column but the last
	pending [][]string // rows held back, the header first
	held    int        // bytes in pending
	started bool       // pending has been printed
	line    []byte
}

func (t *tableWriter) row(cols []string, row []any) error {
	var cells []string
	if row == nil {
		cells = make([]string, len(cols))
		for i, c := range cols {
			cells[i] = displayPath(c)
		}
		t.widths = make([]int, max(len(cols)-1, 0))
	} else {
		cells = make([]string, len(row))
		for i, v := range row {
			if s, ok := v.(string); ok {
				cells[i] = displayPath(s)
			} else {
				cells[i] = cell(v)
			}
		}
	}
	if t.started {
		return t.print(cells)
	}
	t.pending = append(t.pending, cells)
	for _, c := range cells {
		t.held += len(c)
	}
	if len(t.pending) > tableLookaheadRows || t.held > tableLookaheadBytes {
		return t.flushPending()
	}
	return nil
}

func (t *tableWriter) flushPending() error {
	t.started = true
	for _, cells := range t.pending {
		for i := range t.widths {
			t.widths[i] = max(t.widths[i], utf8.RuneCountInString(cells[i]))
		}
	}
	for _, cells := range t.pending {
		if err := t.print(cells); err != nil {
			return err
		}
	}
	t.pending, t.held = nil, 0
	return nil
}

// print writes one line: every cell but the last padded to its column's
// width plus two spaces, no trailing spaces.
func (t *tableWriter) print(cells []string) error {
	t.line = t.line[:0]
	for i, c := range cells {
		t.line = append(t.line, c...)
		if i < len(t.widths) {
			n := utf8.RuneCountInString(c)
			t.widths[i] = max(t.widths[i], n)
			for range t.widths[i] - n + 2 {
				t.line = append(t.line, ' ')
			}
		}
	}
	t.line = append(bytes.TrimRight(t.line, " "), '\n')
	_, err := t.w.Write(t.line)
	return err
}

func (t *tableWriter) finish() error {
	if !t.started {
		return t.flushPending()
	}
	return nil
}
