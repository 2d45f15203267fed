package main

import (
	"fmt"
	"sort"

	"github.com/spf13/cobra"
)

func (a *app) checkCommand() *cobra.Command {
	var readData bool
	c := &cobra.Command{
		Use:   "check",
		Short: "Verify the repository",
		Long: `Verify the catalog's invariants and that every pack it records exists with
its recorded size. With --read-data, also read, decompress and verify every
chunk. On damage, lists the damaged packs and the files and snapshots that
depend on them, and exits with status 4.`,
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
			if len(rep.Unreferenced) > 0 {
				fmt.Fprintf(a.stdout, "%d pack(s) not in the catalog (left by an interrupted run; cairn gc removes them)\n", len(rep.Unreferenced))
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

func sortStrings(lists ...[]string) {
	for _, l := range lists {
		sort.Strings(l)
	}
}
