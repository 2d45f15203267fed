package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

func (a *app) checkCommand() *cobra.Command {
	var readData bool
	c := &cobra.Command{
		Use:   "check",
		Short: "Verify the repository",
		Long: `Verify the catalog file in full (SQLite's integrity_check, which also
compares every index with its table) and its invariants, and that every
pack it records exists with its recorded size. With --read-data, also read
every pack's footer (it must agree with the catalog) and read, decompress
and verify every chunk. On damage, lists the damaged packs and the files and
snapshots that depend on them, and exits with status 4.

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
			rep, err := repo.Check(cmd.Context(), readData)
			if err != nil {
				return err
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
				fmt.Fprintf(a.stdout, "%d missing pack(s) recorded: the next cairn snap of each source stores again what its files still hold\n", len(rep.Missing))
			}
			if len(rep.Unreferenced) > 0 {
				fmt.Fprintf(a.stdout, "%d pack(s) not in the catalog (left by an interrupted run; cairn gc removes those that hold nothing a file uses)\n", len(rep.Unreferenced))
			}
			read := ""
			if readData {
				read = fmt.Sprintf(", read %s", size(rep.BytesRead))
			}
			if !rep.OK() {
				fmt.Fprintf(a.stdout, "check: %d problem(s) in %d packs, %d chunks, %d contents%s\n", len(rep.Problems), rep.Packs, rep.Chunks, rep.Contents, read)
				fmt.Fprintf(a.stderr, "cairn: the repository is damaged: %d problem(s); undamaged files still restore\n", len(rep.Problems))
				return errDamaged
			}
			fmt.Fprintf(a.stdout, "check: ok, %d packs, %d chunks, %d contents%s\n", rep.Packs, rep.Chunks, rep.Contents, read)
			return nil
		},
	}
	c.Flags().BoolVar(&readData, "read-data", false, "read and verify every chunk")
	return c
}
