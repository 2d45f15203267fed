package main

import (
	"fmt"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/cairn-dev/cairn"
	"github.com/cairn-dev/cairn/gc"
)

func (a *app) forgetCommand() *cobra.Command {
	var keep keepFlags
	var opts cairn.ForgetOptions
	var prune bool
	c := &cobra.Command{
		Use:   "forget [ID...]",
		Short: "Remove snapshots by retention policy or by id",
		Long: `Remove snapshots. With --keep-* rules, those rules decide (restic's semantics:
calendar buckets in local time, the newest snapshot of each bucket kept, a
snapshot kept by any rule is kept). With snapshot ids, exactly those go.
With neither, each source's stored policy applies (see cairn policy); the
same policy also runs after every cairn snap. --prune then reclaims space
(cairn gc).`,
		Example: `  cairn forget --keep-last 20 --keep-daily 7 --keep-weekly 4 --prune
  cairn forget --source ~/.agent --keep-within 7d --dry-run
  cairn forget 12 13`,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			p, err := keep.policy()
			if err != nil {
				return err
			}
			opts.Policy = p
			for _, s := range args {
				id, err := strconv.ParseInt(s, 10, 64)
				if err != nil || id <= 0 {
					return usageError{fmt.Errorf("%q is not a snapshot id", s)}
				}
				opts.IDs = append(opts.IDs, id)
			}
			if len(opts.IDs) > 0 && p != nil {
				return usageError{fmt.Errorf("give snapshot ids or --keep-* rules, not both")}
			}
			repo, err := a.open(ctx, false)
			if err != nil {
				return err
			}
			res, err := repo.Forget(ctx, opts)
			if err != nil {
				return err
			}
			verb := "forgot"
			if opts.DryRun {
				verb = "would forget"
			}
			for _, s := range res.Sources {
				fmt.Fprintf(a.stdout, "%s: %s\n", displayPath(s.Source), s.Policy)
				for _, d := range s.Decisions {
					word := "keep  "
					if !d.Keep {
						word = "forget"
					}
					fmt.Fprintf(a.stdout, "  %s %d  %s  %s\n", word, d.Snapshot.ID, rfc3339(d.Snapshot.Time), reasons(d))
				}
			}
			fmt.Fprintf(a.stdout, "%s %s\n", verb, plural(len(res.Forgotten), "snapshot"))
			if prune && !opts.DryRun {
				return a.runGC(cmd, repo, gc.Options{MaxUnused: 0.10})
			}
			return nil
		},
	}
	keep.register(c.Flags())
	c.Flags().StringVar(&opts.Source, "source", "", "only snapshots of this directory")
	c.Flags().BoolVar(&opts.DryRun, "dry-run", false, "show what would be forgotten, change nothing")
	c.Flags().BoolVar(&prune, "prune", false, "reclaim the space afterwards (cairn gc)")
	return c
}
