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
			rep, err := cairn.RepairCatalog(cmd.Context(), dir, a.options())
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
	var readAllPacks bool
	c := &cobra.Command{
		Use:   "log [--read-all-packs]",
		Short: "Re-base a damaged log on the catalog, or salvage what the log still holds",
		Long: `When cairn check reports the log damaged (a record missing, altered or
moved) but the catalog sound, write a checkpoint of the catalog and remove
every record and older checkpoint it supersedes, damaged ones included:
what they said is in the catalog, so nothing is lost, and the log is whole
again from the new checkpoint on.

With --read-all-packs, the last resort when the catalog is lost or damaged
too: replay checkpoint and log as far as they are sound into a new
catalog, read every pack's footer to count the chunks no surviving record
names, name the snapshots whose records are gone (from an older catalog
file in local/, when one can be read), and re-base the log on what was
saved. The records that could not be replayed are kept in
local/lost-records/, the old catalog file is renamed aside. The next
snapshot takes back from the packs no record names the chunks its files
still have (as it resumes an interrupted snapshot), until gc removes
those packs after its grace period.`,
		Example: "  cairn repair log\n  cairn repair log --read-all-packs",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if readAllPacks {
				return a.salvageLog(cmd)
			}
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
	c.Flags().BoolVar(&readAllPacks, "read-all-packs", false, "salvage a catalog from what the log still holds and read every pack's footer")
	return c
}

func (a *app) salvageLog(cmd *cobra.Command) error {
	dir, err := a.repoDir()
	if err != nil {
		return err
	}
	rep, err := cairn.SalvageLog(cmd.Context(), dir, cairn.Options{
		Waiting: func(msg string) { fmt.Fprintf(a.stderr, "cairn: %s\n", msg) },
	})
	if err != nil {
		return err
	}
	from := "the log"
	if rep.Checkpoint > 0 {
		from = fmt.Sprintf("checkpoint %d and the log", rep.Checkpoint)
	}
	fmt.Fprintf(a.stdout, "salvaged a catalog from %s up to record %d: %s\n", from, rep.Applied, plural(rep.Snapshots, "snapshot"))
	if rep.LostFrom > 0 {
		span := fmt.Sprintf("record %d", rep.LostFrom)
		if rep.LostTo > rep.LostFrom {
			span = fmt.Sprintf("records %d-%d", rep.LostFrom, rep.LostTo)
		}
		fmt.Fprintf(a.stdout, "lost %s (%s); kept in %s\n", span, displayText(rep.Damage.Error()), displayPath(rep.LostDir))
	}
	for _, s := range rep.LostSnapshots {
		fmt.Fprintf(a.stdout, "lost snapshot %d of %s (%s)\n", s.ID, displayPath(s.Source), a.tableTime(s.Started))
	}
	if rep.LostFrom > 0 && len(rep.LostSnapshots) == 0 {
		fmt.Fprintf(a.stdout, "no older catalog file names the snapshots those records held\n")
	}
	fmt.Fprintf(a.stdout, "read %s: %s with %s no surviving record names (the next snapshot takes back the chunks its files still have; cairn gc removes the rest after its grace period)\n",
		plural(rep.Packs, "pack footer"), plural(rep.UnknownPacks, "pack"), plural(rep.UnknownChunks, "chunk"))
	if rep.Aside != "" {
		fmt.Fprintf(a.stdout, "the old catalog is %s\n", displayPath(rep.Aside))
	}
	if rep.LostFrom > 0 || len(rep.LostSnapshots) > 0 {
		return errDamaged // history was lost: said above
	}
	return nil
}
