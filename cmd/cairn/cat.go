package main

import (
	"github.com/spf13/cobra"
)

func (a *app) catCommand() *cobra.Command {
	var snap string
	c := &cobra.Command{
		Use:     "cat PATH",
		Short:   "Write one file of a snapshot to stdout",
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
			req, _, err := repo.Resolve(cmd.Context(), args[0], id, false)
			if err != nil {
				return err
			}
			return repo.Cat(cmd.Context(), req, a.stdout)
		},
	}
	c.Flags().StringVar(&snap, "snapshot", "", "snapshot id or \"latest\" (default: the newest that has the file)")
	return c
}
