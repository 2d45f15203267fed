package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

func (a *app) initCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "init",
		Short: "Create a repository (cairn snap also creates one on first use)",
		Example: `  cairn init --repo /backup/cairn
  CAIRN_REPO=/backup/cairn cairn init`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			repo, err := a.open(cmd.Context(), true)
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "repository %s (chunker %s)\n", displayPath(repo.Dir), repo.Params)
			return nil
		},
	}
}

func (a *app) versionCommand() *cobra.Command {
	return &cobra.Command{
		Use:     "version",
		Short:   "Print cairn's version",
		Example: "  cairn version",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			fmt.Fprintf(a.stdout, "cairn %s\n", version)
			return nil
		},
	}
}
