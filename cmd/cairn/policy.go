package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

func (a *app) policyCommand() *cobra.Command {
	c := &cobra.Command{
		Use:   "policy",
		Short: "Show or set a source's retention policy",
		Long: `Each source has a retention policy that runs after every cairn snap of it.
A source without one uses the default: keep-last 10, keep-hourly 24,
keep-daily 7, keep-weekly 4, keep-monthly 12.`,
		Example: "  cairn policy show\n  cairn policy set ~/.agent --keep-last 50 --keep-daily 30",
	}
	var keep keepFlags
	set := &cobra.Command{
		Use:     "set DIR",
		Short:   "Set the retention policy of DIR",
		Example: "  cairn policy set ~/.agent --keep-last 50 --keep-daily 30 --keep-weekly 8",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := keep.policy()
			if err != nil {
				return err
			}
			if p == nil {
				return usageError{fmt.Errorf("give at least one --keep-* rule")}
			}
			repo, err := a.open(cmd.Context(), true)
			if err != nil {
				return err
			}
			if err := repo.SetPolicy(cmd.Context(), args[0], *p); err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "%s: %s\n", args[0], p)
			return nil
		},
	}
	keep.register(set.Flags())
	show := &cobra.Command{
		Use:     "show [DIR]",
		Short:   "Show the retention policy of DIR, or of every source",
		Example: "  cairn policy show ~/.agent",
		Args:    cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			repo, err := a.open(cmd.Context(), false)
			if err != nil {
				return err
			}
			dirs := args
			if len(dirs) == 0 {
				sources, err := repo.DB.Sources(cmd.Context())
				if err != nil {
					return err
				}
				for _, s := range sources {
					dirs = append(dirs, s.Path)
				}
			}
			for _, d := range dirs {
				p, explicit, err := repo.Policy(cmd.Context(), d)
				if err != nil {
					return err
				}
				note := ""
				if !explicit {
					note = " (default)"
				}
				fmt.Fprintf(a.stdout, "%s: %s%s\n", d, p, note)
			}
			return nil
		},
	}
	c.AddCommand(set, show)
	return c
}
