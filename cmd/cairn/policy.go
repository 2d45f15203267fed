package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/cairn-dev/cairn"
)

func (a *app) policyCommand() *cobra.Command {
	c := &cobra.Command{
		Use:   "policy",
		Short: "Show or set a source's retention policy and restore settings",
		Long: `Each source has settings that cairn applies on its own:

  - a retention policy, run after every cairn snap of it. The default,
    keep-within 24h, keep-last 10, keep-hourly 48, keep-daily 14,
    keep-weekly 8, keep-monthly 12, fits a snapshot every few minutes: every
    snapshot of the last 24 hours stays, then one per hour, day, week and
    month. Rules count states, not snapshots: a run of unchanged snapshots
    is one state, so it never pushes older changes out. Whatever the policy,
    it never forgets a labelled snapshot, an undo (pre-restore) snapshot
    younger than 7 days, a snapshot a warning named in the last 7 days, or
    one a running restore reads (see cairn forget --help);
  - runtime-file patterns that restore never writes, besides *.pid, *.lock
    and *.sock (e.g. a process registry);
  - the share of files whose removal in one snapshot prints a warning
    (default 50%).`,
		Example: "  cairn policy show\n  cairn policy set ~/.agent --keep-last 50 --keep-daily 30 --runtime registry.json --warn-removed 30%",
	}
	var keep keepFlags
	var runtime []string
	var warnRemoved string
	set := &cobra.Command{
		Use:   "set DIR",
		Short: "Change the settings of DIR (only those given)",
		Long: `Change the settings of DIR. Only the flags given change: --keep-daily 30
changes that rule and keeps the others of the stored (or default) policy.
A count of 0 removes a rule (--keep-last 0), as do --keep-within 0 and
--keep-tag ''. Removing every rule leaves a policy that keeps everything.`,
		Example: `  cairn policy set ~/.agent --keep-last 50 --keep-daily 30 --keep-weekly 8
  cairn policy set ~/.agent --keep-within 0 --keep-monthly 24
  cairn policy set ~/.agent --runtime 'sessions/*.json' --runtime registry.json
  cairn policy set ~/.agent --warn-removed 30%`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var s cairn.SettingsChange
			if !keep.given() && !cmd.Flags().Changed("runtime") && warnRemoved == "" {
				return usageError{fmt.Errorf("give at least one of --keep-*, --runtime, --warn-removed")}
			}
			if cmd.Flags().Changed("runtime") {
				patterns := []string{}
				for _, r := range runtime {
					if r = strings.TrimSpace(r); r != "" {
						patterns = append(patterns, r)
					}
				}
				s.Runtime = &patterns
			}
			if warnRemoved != "" {
				share, err := parseShare(warnRemoved, "--warn-removed")
				if err != nil {
					return err
				}
				s.MassDeletion = &share
			}
			repo, err := a.open(cmd.Context(), true)
			if err != nil {
				return err
			}
			if keep.given() {
				// Only the rules given change; the others stay as stored
				// (or as the default policy has them).
				stored, err := repo.Settings(cmd.Context(), args[0])
				if err != nil {
					return err
				}
				p, err := keep.merge(stored.Policy)
				if err != nil {
					return err
				}
				s.Policy = &p
			}
			if err := repo.Configure(cmd.Context(), args[0], s); err != nil {
				return err
			}
			return a.showSource(cmd, args[0])
		},
	}
	keep.register(set.Flags())
	set.Flags().StringArrayVar(&runtime, "runtime", nil, "a runtime-file pattern restore never writes (repeatable; replaces the list; --runtime '' clears it)")
	set.Flags().StringVar(&warnRemoved, "warn-removed", "", "warn when a snapshot removes more than this share of the files (e.g. 30%)")
	show := &cobra.Command{
		Use:     "show [DIR]",
		Short:   "Show the settings of DIR, or of every source",
		Example: "  cairn policy show ~/.agent",
		Args:    cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			repo, err := a.open(cmd.Context(), false)
			if err != nil {
				return err
			}
			dirs := args
			if len(dirs) == 0 {
				sources, err := repo.Sources(cmd.Context())
				if err != nil {
					return err
				}
				for _, s := range sources {
					dirs = append(dirs, s.Path)
				}
			}
			for _, d := range dirs {
				if err := a.showSource(cmd, d); err != nil {
					return err
				}
			}
			return nil
		},
	}
	c.AddCommand(set, show)
	return c
}

func (a *app) showSource(cmd *cobra.Command, dir string) error {
	src, err := a.repo.Settings(cmd.Context(), dir)
	if err != nil {
		return err
	}
	note := ""
	if !src.PolicySet {
		note = " (default)"
	}
	fmt.Fprintf(a.stdout, "%s\n  retention: %s%s\n  runtime files (never restored): %s\n  warn when a snapshot removes more than %.0f%% of the files\n",
		displayPath(src.Path), src.Policy, note, strings.Join(src.RuntimePatterns(), ", "), 100*src.MassDeletion)
	return nil
}
