package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/cairn-dev/cairn"
)

func (a *app) catCommand() *cobra.Command {
	var snap string
	c := &cobra.Command{
		Use:   "cat PATH",
		Short: "Write one file of a snapshot to stdout",
		Long: `Write one file of a snapshot to stdout, verified.

Without --snapshot, the file comes from the same snapshot restore would
take it from: the newest that has it, and for a JSON file the newest whose
copy is valid JSON (said on stderr). Any copy can be printed with
--snapshot, a torn one or a database damaged at capture included.`,
		Example: "  cairn cat ~/.agent/config.yaml\n  cairn cat --snapshot 41 ~/.agent/config.yaml > /tmp/config-41.yaml",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parseSnapshot(snap)
			if err != nil {
				return err
			}
			repo, err := a.open(cmd.Context(), false)
			if err != nil {
				return err
			}
			req, note, err := repo.Resolve(cmd.Context(), args[0], id, true)
			if errors.Is(err, cairn.ErrTornJSON) {
				// Every copy is torn: cat still prints the newest one.
				req, _, err = repo.Resolve(cmd.Context(), args[0], id, false)
				note = fmt.Sprintf("every stored copy of %s is invalid JSON; printing the newest", args[0])
			}
			if err != nil {
				return err
			}
			if note != "" {
				fmt.Fprintf(a.stderr, "cairn: %s\n", note)
			}
			return repo.Cat(cmd.Context(), req, a.stdout)
		},
	}
	c.Flags().StringVar(&snap, "snapshot", "", "snapshot id or \"latest\" (default: the one restore would use)")
	return c
}
