package catalog

import (
	"context"
	"database/sql"
	"strings"
)

// rowsPerInsert is how many rows one INSERT statement carries. One
// statement per row spent more time in database/sql and cgo than in SQLite
// itself: a first snapshot of 21,000 files (47,000 chunks) filled its
// transaction in 0.49 s that way. 256 rather than 64: the commit of a
// first snapshot of 100k small files (BenchmarkCommitFirstSnapshot, four
// alternated pairs on a loaded machine) took 1.62-2.02 CPU s against
// 1.73-2.09, and at 1M files 19.1 and 18.5 against 22.6 and 20.5 (two
// alternated pairs); 1024 gained no more. A versions statement binds 4,864
// values, far under SQLite's limit of 32,766.
const rowsPerInsert = 256

// insertMany inserts n rows of cols values each, rowsPerInsert to a
// statement: head is "INSERT INTO t(a, b) VALUES", tail what follows the
// rows (an ON CONFLICT clause, or ""). row appends the values of row i to
// args; done, if set, hears how many rows each statement inserted.
func insertMany(ctx context.Context, tx *sql.Tx, head, tail string, cols, n int,
	row func(i int, args []any) []any, done func(start, end int, inserted int64) error) error {
	var full *sql.Stmt
	defer func() {
		if full != nil {
			full.Close()
		}
	}()
	args := make([]any, 0, cols*min(n, rowsPerInsert))
	for start := 0; start < n; start += rowsPerInsert {
		end := min(start+rowsPerInsert, n)
		args = args[:0]
		for i := start; i < end; i++ {
			args = row(i, args)
		}
		var st *sql.Stmt
		var err error
		if end-start == rowsPerInsert {
			if full == nil {
				if full, err = tx.PrepareContext(ctx, insertStatement(head, tail, cols, rowsPerInsert)); err != nil {
					return err
				}
			}
			st = full
		} else {
			if st, err = tx.PrepareContext(ctx, insertStatement(head, tail, cols, end-start)); err != nil {
				return err
			}
		}
		if done == nil {
			err = execQuery(ctx, st, args)
		} else {
			var res sql.Result
			if res, err = st.ExecContext(ctx, args...); err == nil {
				var inserted int64
				if inserted, err = res.RowsAffected(); err == nil {
					err = done(start, end, inserted)
				}
			}
		}
		if st != full {
			st.Close()
		}
		if err != nil {
			return &batchError{start: start, end: end, err: err}
		}
	}
	return nil
}

// execQuery runs an insert through Query rather than Exec: the driver
// (mattn/go-sqlite3) binds a query's arguments and takes its first step in
// one cgo call, where Exec makes a call per argument; an insert of 64 rows
// of versions made 1,217. At 1M small files those binds were 2.1 of the
// commit's 21 CPU s. The driver takes that first step eagerly, which runs
// the insert; Next would take it otherwise, and rows.Err reports a failed
// one.
func execQuery(ctx context.Context, st *sql.Stmt, args []any) error {
	rows, err := st.QueryContext(ctx, args...)
	if err != nil {
		return err
	}
	for rows.Next() {
	}
	if err := rows.Err(); err != nil {
		rows.Close()
		return err
	}
	return rows.Close()
}

// batchError is a failed statement of insertMany: which rows it carried.
type batchError struct {
	start, end int
	err        error
}

func (e *batchError) Error() string { return e.err.Error() }
func (e *batchError) Unwrap() error { return e.err }

// insertStatement writes head, rows groups of cols placeholders, and tail.
func insertStatement(head, tail string, cols, rows int) string {
	group := "(?" + strings.Repeat(", ?", cols-1) + ")"
	var b strings.Builder
	b.WriteString(head)
	for i := range rows {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString(" ")
		b.WriteString(group)
	}
	b.WriteString(tail)
	return b.String()
}

// nextID returns the id the next row of table gets, inside a write
// transaction (which no other writer can share), so that rows inserted in
// bulk can be given their ids up front.
func nextID(ctx context.Context, tx *sql.Tx, table string) (int64, error) {
	var id int64
	err := tx.QueryRowContext(ctx, "SELECT coalesce(max(id), 0) + 1 FROM "+table).Scan(&id)
	return id, err
}
