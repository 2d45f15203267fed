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
    (default 50%);
  - a replica: where the whole repository is replicated (as cairn
    replicate --to does) after every cairn snap or cairn watch snapshot of
    the source. None by default.`,
		Example: "  cairn policy show\n  cairn policy set ~/.agent --keep-last 50 --keep-daily 30 --runtime registry.json --warn-removed 30%",
	}
	var keep keepFlags
	var runtime []string
	var warnRemoved, replicate string
	var asJSON bool
	set := &cobra.Command{
		Use:   "set DIR",
		Short: "Change the settings of DIR (only those given)",
		Long: `Change the settings of DIR. Only the flags given change: --keep-daily 30
changes that rule and keeps the others of the stored (or default) policy.
A count of 0 removes a rule (--keep-last 0), as do --keep-within 0 and
--keep-tag ''. Removing every rule leaves a policy that keeps everything.

--replicate TARGET (s3://bucket/prefix, with --s3-endpoint or
$CAIRN_S3_ENDPOINT remembered for it, or a directory) replicates the
repository there after every snapshot of DIR, incrementally; --replicate ''
stops it. The repository needs a password or key file (cairn key add). A
replication that fails leaves the snapshot committed: snap prints one
warning naming the target and the command that catches it up, and exits
with 3; the next snapshot's replication copies what was missed.`,
		Example: `  cairn policy set ~/.agent --keep-last 50 --keep-daily 30 --keep-weekly 8
  cairn policy set ~/.agent --keep-within 0 --keep-monthly 24
  cairn policy set ~/.agent --runtime 'sessions/*.json' --runtime registry.json
  cairn policy set ~/.agent --warn-removed 30%
  cairn policy set ~/.agent --replicate s3://backups/laptop --s3-endpoint https://s3.example.com
  cairn policy set ~/.agent --replicate ''`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var s cairn.SettingsChange
			if !keep.given() && !cmd.Flags().Changed("runtime") && warnRemoved == "" && !cmd.Flags().Changed("replicate") {
				return usageError{fmt.Errorf("give at least one of --keep-*, --runtime, --warn-removed, --replicate")}
			}
			if cmd.Flags().Changed("replicate") {
				s.Replica = &cairn.Replica{Target: strings.TrimSpace(replicate), S3Endpoint: a.s3Endpoint}
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
			src, err := repo.Settings(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(a.stdout, toPolicyJSON(src))
			}
			a.showSource(src)
			return nil
		},
	}
	keep.register(set.Flags())
	set.Flags().StringArrayVar(&runtime, "runtime", nil, "a runtime-file pattern restore never writes (repeatable; replaces the list; --runtime '' clears it)")
	set.Flags().StringVar(&warnRemoved, "warn-removed", "", "warn when a snapshot removes more than this share of the files (e.g. 30%)")
	set.Flags().StringVar(&replicate, "replicate", "", "replicate the repository to this s3://bucket/prefix or directory after every snapshot of DIR ('' stops it)")
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
			out := []policyJSON{}
			for _, d := range dirs {
				src, err := repo.Settings(cmd.Context(), d)
				if err != nil {
					return err
				}
				if asJSON {
					out = append(out, toPolicyJSON(src))
					continue
				}
				a.showSource(src)
			}
			if asJSON {
				return writeJSON(a.stdout, out)
			}
			return nil
		},
	}
	set.Flags().BoolVar(&asJSON, "json", false, "print the settings as JSON (docs/json.md)")
	show.Flags().BoolVar(&asJSON, "json", false, "print a JSON array, one object per source (docs/json.md)")
	c.AddCommand(set, show)
	return c
}

func (a *app) showSource(src cairn.Source) {
	note := ""
	if !src.PolicySet {
		note = " (default)"
	}
	fmt.Fprintf(a.stdout, "%s\n  retention: %s%s\n  runtime files (never restored): %s\n  warn when a snapshot removes more than %.0f%% of the files\n",
		displayPath(src.Path), src.Policy, note, strings.Join(src.RuntimePatterns(), ", "), 100*src.MassDeletion)
	if ex := excludesText(src.Excludes); ex != "" {
		fmt.Fprintf(a.stdout, "  excludes (remembered from snap; snap --reset-excludes replaces them): %s\n", ex)
	}
	if rp := src.Replica; rp.Target != "" {
		endpoint := ""
		if rp.S3Endpoint != "" {
			endpoint = " (S3 server " + rp.S3Endpoint + ")"
		}
		fmt.Fprintf(a.stdout, "  replicated after every snapshot to: %s%s\n", displayPath(rp.Target), endpoint)
	}
}

func toPolicyJSON(src cairn.Source) policyJSON {
	return policyJSON{src.Path, src.Policy.String(), !src.PolicySet, nonNil(src.RuntimePatterns()), src.MassDeletion,
		src.Replica.Target, src.Replica.S3Endpoint}
}

// excludesText names what a source's remembered excludes leave out.
func excludesText(e cairn.Excludes) string {
	var parts []string
	for _, p := range e.Patterns {
		parts = append(parts, displayText(p))
	}
	if e.Caches {
		parts = append(parts, "cache directories (CACHEDIR.TAG)")
	}
	if e.LargerThan > 0 {
		parts = append(parts, "files larger than "+size(e.LargerThan))
	}
	if e.OneFileSystem {
		parts = append(parts, "other file systems")
	}
	return strings.Join(parts, ", ")
}
