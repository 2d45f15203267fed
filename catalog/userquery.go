package catalog

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"

	"github.com/mattn/go-sqlite3"
)

// ErrReadOnly refuses a user query that would write, attach a database,
// change a setting or load an extension.
var ErrReadOnly = errors.New("cairn sql runs read-only queries")

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

// QueryResult is a user query's answer, all rows in memory.
type QueryResult struct {
	Columns []string
	Rows    [][]any
}

// UserQuery runs a user's query on a new read-only connection: the file is
// opened read-only, writes and ATTACH and extensions are refused by an
// authorizer, and ctx bounds how long it runs.
func UserQuery(ctx context.Context, catalogPath, query string) (*QueryResult, error) {
	db, err := sql.Open(readOnlyDriver, "file:"+url.PathEscape(catalogPath)+"?"+ReadOnlyParams(catalogPath)+"&_query_only=1&_busy_timeout=5000")
	if err != nil {
		return nil, err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	conn, err := db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("open catalog: %w", err)
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
			return fmt.Errorf("%w; %s is refused (query the views snapshots, files, versions, warnings)", ErrReadOnly, what)
		}
		return fmt.Errorf("query: %w", err)
	}
	rows, err := conn.QueryContext(ctx, query)
	if err != nil {
		return nil, explain(err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, explain(err)
	}
	res := &QueryResult{Columns: cols}
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, explain(err)
		}
		res.Rows = append(res.Rows, vals)
	}
	if err := rows.Err(); err != nil {
		return nil, explain(err)
	}
	return res, nil
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
