package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/cairn-dev/cairn"
)

func (a *app) recoverCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "recover",
		Short: "Make a working catalog on this machine from a repository (or replica) and its password",
		Long: `Rebuild this machine's catalog of the repository at --repo from the
repository's own checkpoint and log: on a new machine, after the cache
was cleared, or from a replica (cairn replicate). All it needs is the
repository and its password or key file; for an s3://bucket/prefix
repository the catalog goes to $XDG_CACHE_HOME/cairn/<repository id>/.
This installation then writes to the repository as a host of its own
(or continues the log of the writer with this host's name, CAIRN_HOST);
cairn adopt continues a lost host's histories. An existing catalog is
moved aside, never deleted.`,
		Example: `  CAIRN_PASSWORD_FILE=~/.cairn-pw cairn recover --repo s3://backups/laptop --s3-endpoint https://s3.example.com
  cairn restore ~/.agent --repo s3://backups/laptop`,
		Args: cobra.NoArgs,
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
			fmt.Fprintf(a.stdout, "recovered %s: %s, up to record %d of its log\n", displayPath(dir), plural(rep.Snapshots, "snapshot"), rep.Applied)
			fmt.Fprintf(a.stdout, "catalog: %s\n", displayPath(rep.Catalog))
			if rep.Aside != "" {
				fmt.Fprintf(a.stdout, "the old catalog is %s\n", displayPath(rep.Aside))
			}
			return nil
		},
	}
}
