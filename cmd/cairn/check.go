package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/cairn-dev/cairn"
)

func (a *app) checkCommand() *cobra.Command {
	var readData, asJSON bool
	c := &cobra.Command{
		Use:   "check",
		Short: "Verify the repository",
		Long: `Verify the catalog file in full (SQLite's integrity_check, which also
compares every index with its table) and its invariants, and that every
pack it records exists with its recorded size. With --read-data, also read
every pack's footer (it must agree with the catalog) and read, decompress
and verify every chunk. On damage, lists the damaged packs and the files and
snapshots that depend on them, and exits with status 4.

In a repository with a log (format 2), also verify the log: every record
and checkpoint authenticates, none is missing, and replaying checkpoint and
log gives the catalog, row for row. A damaged log beside a sound catalog is
re-based on it by cairn repair log; a damaged catalog is rebuilt from the
log by cairn repair catalog.

A pack found missing is recorded in the catalog: the next cairn snap of a
source stores its chunks again from the files that still hold them, which
heals every snapshot that shares those bytes. Files listed as affected after
that are unrecoverable: no source still has their bytes.
`,
		Example: "  cairn check\n  cairn check --read-data",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			repo, err := a.open(cmd.Context(), false)
			if err != nil {
				return err
			}
			p := newProgress(a.stderr)
			rep, err := repo.CheckWith(cmd.Context(), cairn.CheckOptions{ReadData: readData, Progress: p.bytes("check --read-data")})
			p.clear()
			if err != nil {
				return err
			}
			if asJSON {
				if err := writeJSON(a.stdout, toCheckJSON(rep, readData)); err != nil {
					return err
				}
				if !rep.OK() {
					return errDamaged
				}
				return nil
			}
			for _, p := range rep.Problems {
				fmt.Fprintf(a.stdout, "damaged: %s\n", displayText(p))
			}
			for _, af := range rep.Affected {
				span := fmt.Sprint(af.First)
				if af.Last != af.First {
					span = fmt.Sprintf("%d-%d", af.First, af.Last)
				}
				fmt.Fprintf(a.stdout, "affected: %s in snapshots %s\n", displayPath(af.Source+"/"+af.Path), span)
			}
			if len(rep.Missing) > 0 && rep.MissingRecorded {
				fmt.Fprintf(a.stdout, "%s recorded: the next cairn snap of each source stores again what its files still hold\n", plural(len(rep.Missing), "missing pack"))
			}
			if len(rep.Unreferenced) > 0 {
				fmt.Fprintf(a.stdout, "%s not in the catalog (left by an interrupted run: the next snapshot takes what it needs from them; cairn gc removes them after its grace period)\n", plural(len(rep.Unreferenced), "pack"))
			}
			read := ""
			if readData {
				read = fmt.Sprintf(", read %s", size(rep.BytesRead))
			}
			if !rep.OK() {
				fmt.Fprintf(a.stdout, "check: %s in %s, %s, %s%s\n", plural(len(rep.Problems), "problem"), plural(rep.Packs, "pack"), plural(rep.Chunks, "chunk"), plural(rep.Contents, "content"), read)
				hint := ""
				if repo.HasLog() {
					hint = repairHint(rep.Problems)
				}
				fmt.Fprintf(a.stderr, "cairn: the repository is damaged: %s; undamaged files still restore%s\n", plural(len(rep.Problems), "problem"), hint)
				return errDamaged
			}
			fmt.Fprintf(a.stdout, "check: ok, %s, %s, %s%s\n", plural(rep.Packs, "pack"), plural(rep.Chunks, "chunk"), plural(rep.Contents, "content"), read)
			return nil
		},
	}
	c.Flags().BoolVar(&readData, "read-data", false, "read and verify every chunk")
	c.Flags().BoolVar(&asJSON, "json", false, "print the report as JSON (docs/json.md); damage still exits 4")
	return c
}

// repairHint says which repair fits the problems of a repository with a
// log: a damaged log is re-based on the sound catalog, a damaged catalog
// (or one that differs from the log's replay) is rebuilt from the log.
func repairHint(problems []string) string {
	var logDamaged, catalogDamaged bool
	for _, p := range problems {
		switch {
		case strings.HasPrefix(p, "log ") || strings.HasPrefix(p, "checkpoint "):
			logDamaged = true
		case strings.HasPrefix(p, "catalog: damaged") || strings.HasPrefix(p, "the catalog differs"):
			catalogDamaged = true
		}
	}
	switch {
	case logDamaged && catalogDamaged:
		return " (both the catalog and the log are damaged: put back a copy of local/catalog.db if there is one, then cairn repair log)"
	case logDamaged:
		return " (the catalog is sound: cairn repair log re-bases the log on it)"
	case catalogDamaged:
		return " (cairn repair catalog rebuilds the catalog from the log)"
	}
	return ""
}
