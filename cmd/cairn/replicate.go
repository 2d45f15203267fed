package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/cairn-dev/cairn"
)

func (a *app) replicateCommand() *cobra.Command {
	var to string
	c := &cobra.Command{
		Use:   "replicate --to TARGET",
		Short: "Copy the repository to an off-site replica (s3://bucket/prefix or a directory), incrementally",
		Long: `Copy everything of the repository but its local directory (the packs,
the log, its checkpoints, the key files, cairn.repo) to TARGET, an
s3://bucket/prefix (--s3-endpoint names its server) or a directory. Only
what TARGET lacks is copied, packs before the log records that name
them, so a replicate that is interrupted leaves a consistent replica and
the next one finishes it. TARGET must be empty or a replica of this same
repository. A replica is opened, on any machine, with the repository's
password: cairn recover --repo TARGET makes its catalog. A repository
whose only key is local/key must get a password first (cairn key add).
Nothing is deleted from TARGET.`,
		Example: `  cairn replicate --to s3://backups/laptop --s3-endpoint https://s3.example.com
  cairn replicate --to /mnt/usb/cairn`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if to == "" {
				return usageError{errors.New("say where to: cairn replicate --to s3://bucket/prefix (or a directory)")}
			}
			repo, err := a.open(cmd.Context(), false)
			if err != nil {
				return err
			}
			rep, err := repo.Replicate(cmd.Context(), to, cairn.ReplicateOptions{S3Endpoint: a.s3Endpoint})
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "replicated to %s: copied %s (%s) and %s (%s); %s and %s were there already\n",
				displayPath(rep.Target), plural(rep.Packs, "pack"), size(rep.PackBytes),
				plural(rep.Objects, "object"), size(rep.ObjectBytes),
				plural(rep.PresentPacks, "pack"), plural(rep.PresentObjects, "object"))
			for _, key := range rep.Replaced {
				fmt.Fprintf(a.stdout, "replaced %s: the target's copy had another size (an upload cut short)\n", key)
			}
			return nil
		},
	}
	c.Flags().StringVar(&to, "to", "", "the replica: s3://bucket/prefix or a directory")
	return c
}
