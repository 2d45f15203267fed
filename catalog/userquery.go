package catalog

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/mattn/go-sqlite3"
)

// ErrReadOnly refuses a user query that would write, attach a database,
// change a setting or load an extension.
var ErrReadOnly = errors.New("catalog: user queries are read-only")

const readOnlyDriver = "sqlite3-cairn-readonly"

// sqliteRecursive is SQLITE_RECURSIVE, which the driver does not export.
const sqliteRecursive = 33

// denied records what the authorizer refused on a connection, so the error
// can say what was wrong instead of SQLite's "not authorized".
var denied sync.Map // *sqlite3.SQLiteConn -> string

func init() {
	sql.Register(readOnlyDriver, &sqlite3.SQLiteDriver{ConnectHook: func(c *sqlite3.SQLiteConn) error {
		c.SetLimit(sqlite3.SQLITE_LIMIT_ATTACHED, 0)
		if _, err := c.Exec("PRAGMA trusted_schema = OFF", nil); err != nil {
			return err
		}
		c.RegisterAuthorizer(func(op int, a1, a2, a3 string) int {
			switch op {
			case sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqliteRecursive:
				return sqlite3.SQLITE_OK
			case sqlite3.SQLITE_FUNCTION:
				if !strings.EqualFold(a2, "load_extension") {
					return sqlite3.SQLITE_OK
				}
			}
			denied.Store(c, actionName(op))
			return sqlite3.SQLITE_DENY
		})
		return nil
	}})
}

func actionName(op int) string {
	switch op {
	case sqlite3.SQLITE_INSERT:
		return "INSERT"
	case sqlite3.SQLITE_UPDATE:
		return "UPDATE"
	case sqlite3.SQLITE_DELETE:
		return "DELETE"
	case sqlite3.SQLITE_ATTACH:
		return "ATTACH"
	case sqlite3.SQLITE_PRAGMA:
		return "PRAGMA"
	case sqlite3.SQLITE_FUNCTION:
		return "load_extension"
	case sqlite3.SQLITE_TRANSACTION:
		return "a transaction statement"
	}
	if op >= sqlite3.SQLITE_CREATE_INDEX && op <= sqlite3.SQLITE_DROP_VIEW || op == sqlite3.SQLITE_ALTER_TABLE {
		return "a schema change"
	}
	return "a statement that is not a query"
}

// ErrSeveralStatements refuses a query string that holds more than one
// statement: the driver would run them all and return only the last one's
// rows, which hides the others from the user.
var ErrSeveralStatements = errors.New("the query holds several statements; run one statement at a time")

// ErrEmptyQuery refuses a query string without a statement.
var ErrEmptyQuery = errors.New("the query is empty")

func refused(what string) error {
	return fmt.Errorf("%w; %s is refused (query the views snapshots, files, versions, warnings)", ErrReadOnly, what)
}

// A RowFunc receives a user query's answer: first the column names with a
// nil row (so that a query without rows still names its columns), then
// each row. row is reused for the next row: copy what must outlive the
// call. An error it returns stops the query and is returned as is.
type RowFunc func(columns []string, row []any) error

// UserQuery runs a user's query, one statement, on a new read-only
// connection and hands each row to fn as SQLite produces it, so memory
// stays bounded whatever the number of rows. The file is opened read-only;
// writes, ATTACH and extensions are refused by an authorizer. limit (0: no
// limit) bounds the time SQLite spends on the query; the time fn takes is
// not counted, so a slow reader (a pager at the end of a pipe) is never cut
// off. ctx can stop the query too.
func (db *DB) UserQuery(ctx context.Context, query string, limit time.Duration, fn RowFunc) error {
	stmt, more := firstStatement(query)
	switch {
	case more && firstKeyword(query) == "CREATE":
		// A trigger's body holds semicolons; any CREATE is refused anyway.
		return refused("CREATE")
	case more:
		return ErrSeveralStatements
	case scanSQL(stmt, false) == len(stmt):
		return ErrEmptyQuery
	}
	ro, err := sql.Open(readOnlyDriver, "file:"+url.PathEscape(db.path)+"?"+ReadOnlyParams(db.path)+"&_query_only=1&_busy_timeout=5000")
	if err != nil {
		return err
	}
	defer ro.Close()
	ro.SetMaxOpenConns(1)
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	conn, err := ro.Conn(ctx)
	if err != nil {
		return fmt.Errorf("open catalog: %w", err)
	}
	defer conn.Close()
	var raw *sqlite3.SQLiteConn
	conn.Raw(func(dc any) error { raw, _ = dc.(*sqlite3.SQLiteConn); return nil })
	defer denied.Delete(raw)
	explain := func(err error) error {
		if what, ok := denied.Load(raw); ok {
			// Name the statement as the user wrote it: the authorizer's
			// first refusal (DROP shows up as a DELETE) would confuse.
			if kw := firstKeyword(query); kw != "" && kw != "SELECT" && kw != "WITH" && kw != "VALUES" {
				what = kw
			}
			return refused(what.(string))
		}
		if ctx.Err() != nil {
			// database/sql reports a cancelled query as context.Canceled;
			// the cause says whether it was the time limit.
			err = context.Cause(ctx)
		}
		return fmt.Errorf("query: %w", err)
	}
	clock := startClock(limit, cancel)
	defer clock.stop()
	rows, err := conn.QueryContext(ctx, stmt)
	if err != nil {
		return explain(err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return explain(err)
	}
	clock.pause()
	err = fn(cols, nil)
	clock.resume()
	if err != nil {
		return err
	}
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return explain(err)
		}
		clock.pause()
		err := fn(cols, vals)
		clock.resume()
		if err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return explain(err)
	}
	if ctx.Err() != nil {
		return explain(ctx.Err())
	}
	return nil
}

// queryClock cancels a query once SQLite has spent its time limit on it,
// counting only the time outside the row callback.
type queryClock struct {
	left  time.Duration
	since time.Time
	timer *time.Timer
}

// startClock starts counting; with no limit it returns nil, whose methods
// do nothing.
func startClock(limit time.Duration, cancel context.CancelCauseFunc) *queryClock {
	if limit <= 0 {
		return nil
	}
	cause := fmt.Errorf("ran longer than %v: %w", limit, context.DeadlineExceeded)
	return &queryClock{left: limit, since: time.Now(), timer: time.AfterFunc(limit, func() { cancel(cause) })}
}

func (c *queryClock) pause() {
	if c != nil && c.timer.Stop() {
		c.left -= time.Since(c.since)
	}
}

func (c *queryClock) resume() {
	if c != nil {
		c.since = time.Now()
		c.timer.Reset(max(c.left, 0)) // spent: fire at once
	}
}

func (c *queryClock) stop() {
	if c != nil {
		c.timer.Stop()
	}
}

// firstStatement cuts query after its first statement and reports whether
// another statement follows; a trailing semicolon, whitespace and comments
// do not count. It follows SQLite's tokenizer as far as statement ends go:
// a semicolon inside a string, a quoted identifier or a comment ends
// nothing. It guards no permission (the authorizer does, on whatever is
// prepared); it only keeps a second statement from running unseen.
func firstStatement(query string) (stmt string, more bool) {
	end := scanSQL(query, true)
	if end == len(query) {
		return query, false
	}
	rest := query[end:]
	return query[:end], scanSQL(rest, false) < len(rest)
}

// scanSQL walks q. With stopAtSemicolon it returns the index just past the
// first semicolon outside quotes and comments (len(q) if none); without,
// the index of the first byte that is not whitespace, a comment or a
// semicolon.
func scanSQL(q string, stopAtSemicolon bool) int {
	for i := 0; i < len(q); {
		c := q[i]
		switch {
		case c == '-' && strings.HasPrefix(q[i:], "--"):
			j := strings.IndexByte(q[i:], '\n')
			if j < 0 {
				return len(q)
			}
			i += j + 1
			continue
		case c == '/' && strings.HasPrefix(q[i:], "/*"):
			j := strings.Index(q[i+2:], "*/")
			if j < 0 {
				return len(q)
			}
			i += 2 + j + 2
			continue
		case c == ';':
			if stopAtSemicolon {
				return i + 1
			}
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v':
		case !stopAtSemicolon:
			return i
		case c == '\'' || c == '"' || c == '`' || c == '[':
			closer := c
			if c == '[' {
				closer = ']'
			}
			j := strings.IndexByte(q[i+1:], closer)
			if j < 0 {
				return len(q)
			}
			// A doubled quote ('it''s') reads as two adjacent strings,
			// which ends in the same place.
			i += 1 + j + 1
			continue
		}
		i++
	}
	return len(q)
}

// firstKeyword is the first word of a statement, upper-cased, after any
// leading comments.
func firstKeyword(q string) string {
	for {
		q = strings.TrimSpace(q)
		switch {
		case strings.HasPrefix(q, "--"):
			if i := strings.IndexByte(q, '\n'); i >= 0 {
				q = q[i+1:]
				continue
			}
			return ""
		case strings.HasPrefix(q, "/*"):
			if i := strings.Index(q, "*/"); i >= 0 {
				q = q[i+2:]
				continue
			}
			return ""
		}
		break
	}
	end := strings.IndexFunc(q, func(r rune) bool { return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') })
	if end < 0 {
		end = len(q)
	}
	return strings.ToUpper(q[:end])
}
