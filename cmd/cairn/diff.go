package main

import (
	"fmt"
	"strconv"

	"github.com/spf13/cobra"
)

func (a *app) diffCommand() *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:     "diff ID1 ID2",
		Short:   "Show paths added, removed and changed between two snapshots",
		Example: "  cairn diff 41 42\n  cairn diff 41 42 --json",
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			var ids [2]int64
			for i, s := range args {
				id, err := strconv.ParseInt(s, 10, 64)
				if err != nil || id <= 0 {
					return usageError{fmt.Errorf("%q is not a snapshot id", s)}
				}
				ids[i] = id
			}
			repo, err := a.open(ctx, false)
			if err != nil {
				return err
			}
			d, err := repo.Diff(ctx, ids[0], ids[1])
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(a.stdout, struct {
					Added   []string `json:"added"`
					Removed []string `json:"removed"`
					Changed []string `json:"changed"`
				}{d.Added, d.Removed, d.Changed})
			}
			for _, p := range d.Added {
				fmt.Fprintf(a.stdout, "+ %s\n", displayPath(p))
			}
			for _, p := range d.Removed {
				fmt.Fprintf(a.stdout, "- %s\n", displayPath(p))
			}
			for _, p := range d.Changed {
				fmt.Fprintf(a.stdout, "M %s\n", displayPath(p))
			}
			fmt.Fprintf(a.stdout, "%d added, %d removed, %d changed\n", len(d.Added), len(d.Removed), len(d.Changed))
			return nil
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print {added, removed, changed} as JSON")
	return c
}
