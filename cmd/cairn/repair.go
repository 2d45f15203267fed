package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/cairn-dev/cairn"
)

func (a *app) repairCommand() *cobra.Command {
	c := &cobra.Command{
		Use:   "repair",
		Short: "Rebuild what the repository can rebuild: the catalog from the log",
		Long: `Repair a repository from what it holds. The catalog (local/catalog.db) is
a view of the repository's log: cairn rebuilds it by itself when it is
missing or damaged, and cairn repair catalog does so on demand.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return usageError{fmt.Errorf("say what to repair: cairn repair catalog, or cairn repair log")}
		},
	}
	c.AddCommand(a.repairCatalogCommand(), a.repairLogCommand())
	return c
}

func (a *app) repairCatalogCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "catalog",
		Short: "Rebuild catalog.db from the repository's checkpoint and log",
		Long: `Rebuild the catalog (local/catalog.db) from the newest checkpoint of the
repository's log and every record after it. The old catalog file is
renamed aside (its new name is printed), never deleted. Holds (local
only) are not part of the log and start empty. A repository of format 1
(catalog.db at the top, no log) cannot be rebuilt.`,
		Example: "  cairn repair catalog",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			dir, err := a.repoDir()
			if err != nil {
				return err
			}
			rep, err := cairn.RepairCatalog(cmd.Context(), dir, cairn.Options{
				Waiting: func(msg string) { fmt.Fprintf(a.stderr, "cairn: %s\n", msg) },
			})
			if err != nil {
				return err
			}
			for _, e := range rep.Skipped {
				fmt.Fprintf(a.stderr, "warning: %s; started from an older checkpoint\n", displayText(e.Error()))
			}
			from := "the log"
			if rep.Checkpoint > 0 {
				from = fmt.Sprintf("checkpoint %d and the log", rep.Checkpoint)
			}
			fmt.Fprintf(a.stdout, "rebuilt the catalog from %s up to record %d: %s\n", from, rep.Applied, plural(rep.Snapshots, "snapshot"))
			if rep.Aside != "" {
				fmt.Fprintf(a.stdout, "the old catalog is %s\n", displayPath(rep.Aside))
			}
			return nil
		},
	}
}

func (a *app) repairLogCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "log",
		Short: "Re-base a damaged log on the catalog",
		Long: `When cairn check reports the log damaged (a record missing, altered or
moved) but the catalog sound, write a checkpoint of the catalog and remove
every record and older checkpoint it supersedes, damaged ones included:
what they said is in the catalog, so nothing is lost, and the log is whole
again from the new checkpoint on.`,
		Example: "  cairn repair log",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			repo, err := a.open(cmd.Context(), false)
			if err != nil {
				return err
			}
			rep, err := repo.RepairLog(cmd.Context())
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "wrote checkpoint %d from the catalog; removed %s and %s it supersedes\n",
				rep.Checkpoint, plural(rep.Removed.Records, "record"), plural(rep.Removed.Checkpoints, "older checkpoint"))
			return nil
		},
	}
}
