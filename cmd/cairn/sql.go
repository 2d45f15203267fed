package main

import (
	"context"
	"encoding/csv"
	"encoding/hex"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/cairn-dev/cairn/catalog"
)

func (a *app) sqlCommand() *cobra.Command {
	var format string
	var timeout time.Duration
	c := &cobra.Command{
		Use:   "sql QUERY",
		Short: "Query the catalog with SQL (read-only)",
		Long: `Run a read-only SQL query on the catalog. The documented views are
snapshots, files, versions and warnings (see docs/sql.md). Statements that
write, ATTACH a database, change settings or load extensions are refused.`,
		Example: `  cairn sql "SELECT id, started_at, file_count FROM snapshots"
  cairn sql "SELECT path, size FROM files WHERE snapshot_id = 42 ORDER BY size DESC LIMIT 10"
  cairn sql --format csv "SELECT * FROM versions WHERE path = 'cron/jobs.json'"`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if format != "table" && format != "csv" && format != "json" {
				return usageError{fmt.Errorf("--format %q: want table, csv or json", format)}
			}
			repo, err := a.open(cmd.Context(), false)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			res, err := catalog.UserQuery(ctx, repo.DB.Path(), args[0])
			if err != nil {
				return err
			}
			return writeQuery(a.stdout, format, res)
		},
	}
	c.Flags().StringVar(&format, "format", "table", "output format: table, csv or json")
	c.Flags().DurationVar(&timeout, "timeout", 30*time.Second, "stop a query that runs longer")
	return c
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

func writeQuery(w io.Writer, format string, res *catalog.QueryResult) error {
	switch format {
	case "csv":
		cw := csv.NewWriter(w)
		cw.Write(res.Columns)
		for _, row := range res.Rows {
			rec := make([]string, len(row))
			for i, v := range row {
				rec[i] = cell(v)
			}
			cw.Write(rec)
		}
		cw.Flush()
		return cw.Error()
	case "json":
		out := make([]map[string]any, 0, len(res.Rows))
		for _, row := range res.Rows {
			m := make(map[string]any, len(row))
			for i, v := range row {
				if b, ok := v.([]byte); ok {
					v = hex.EncodeToString(b)
				}
				m[res.Columns[i]] = v
			}
			out = append(out, m)
		}
		return writeJSON(w, out)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for i, c := range res.Columns {
		if i > 0 {
			fmt.Fprint(tw, "\t")
		}
		fmt.Fprint(tw, c)
	}
	fmt.Fprintln(tw)
	for _, row := range res.Rows {
		for i, v := range row {
			if i > 0 {
				fmt.Fprint(tw, "\t")
			}
			fmt.Fprint(tw, cell(v))
		}
		fmt.Fprintln(tw)
	}
	return tw.Flush()
}
