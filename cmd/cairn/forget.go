package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/cairn-dev/cairn"
)

func (a *app) forgetCommand() *cobra.Command {
	var keep keepFlags
	var opts cairn.ForgetOptions
	var prune, asJSON bool
	var host string
	c := &cobra.Command{
		Use:   "forget [ID...]",
		Short: "Remove snapshots by retention policy or by id",
		Long: `Remove snapshots. With --keep-* rules, those rules decide (restic's semantics:
calendar buckets in local time, the newest snapshot of each bucket kept, a
snapshot kept by any rule is kept), except that rules count states, not
snapshots: a run of unchanged snapshots is one state, kept through its
newest snapshot. With snapshot ids, exactly those go. With neither, each
source's stored policy applies (see cairn policy); the same policy also runs
after every cairn snap. --prune then reclaims space (cairn gc).

No policy forgets these protected snapshots:
  - a labelled snapshot (snap --label);
  - an undo point (the pre-restore snapshot an in-place restore takes) for
    7 days, so its "undo with" command keeps working;
  - a snapshot a warning named as the one to restore from, for 7 days;
  - a snapshot a running restore reads (held until it ends, or dies).
--include-protected lets the rules forget the first three; a held snapshot
stays even then, and "forget ID" refuses it. "forget ID" removes any other
snapshot, protected or not. Every verdict is printed with its reasons.

--tag limits the rules to snapshots with every tag given; the others are
left alone. --host is accepted for restic's habit. In a
repository shared by several hosts, rules and ids apply to this host's
snapshots only (and those of the hosts it adopted, cairn adopt): another
host's are that host's to forget; --host naming another host matches
nothing.`,
		Example: `  cairn forget --keep-last 20 --keep-daily 7 --keep-weekly 4 --prune
  cairn forget --source ~/.agent --keep-within 7d --dry-run
  cairn forget --keep-last 5 --include-protected --dry-run
  cairn forget 12 13`,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			p, err := keep.policy()
			if err != nil {
				return err
			}
			opts.Policy = p
			var refs []snapRef
			for _, s := range args {
				ref, err := parseSnapRef(s)
				if err != nil || ref.id <= 0 {
					return usageError{fmt.Errorf("%q is not a snapshot id", s)}
				}
				refs = append(refs, ref)
				opts.IDs = append(opts.IDs, ref.id)
			}
			if len(opts.IDs) > 0 && p != nil {
				return usageError{fmt.Errorf("give snapshot ids or --keep-* rules, not both")}
			}
			if len(opts.IDs) > 0 && opts.IncludeProtected {
				return usageError{fmt.Errorf("--include-protected is for rules; forget ID removes a protected snapshot anyway")}
			}
			if len(opts.IDs) > 0 && (len(opts.Tags) > 0 || host != "") {
				return usageError{fmt.Errorf("--tag and --host choose snapshots for rules; forget ID names them already")}
			}
			repo, err := a.open(ctx, false)
			if err != nil {
				return err
			}
			for i, ref := range refs { // HOST:N: an adopted host's snapshot
				if opts.IDs[i], err = ref.inSource(ctx, repo, ""); err != nil {
					return err
				}
			}
			res := &cairn.ForgetResult{}
			// Rules apply to this host's sources (and those of the hosts it
			// adopted); --host naming another host matches nothing.
			if slot, err := repo.HostSlot(ctx, host); host == "" || (err == nil && slot == 0) {
				if res, err = repo.Forget(ctx, opts); err != nil {
					return err
				}
			}
			if asJSON {
				out := toForgetJSON(res, opts.DryRun)
				if prune && !opts.DryRun {
					rep, err := a.gc(cmd, repo, cairn.GCOptions{Grace: cairn.DefaultGrace})
					if err != nil {
						return err
					}
					g := toGCJSON(rep, false)
					out.GC = &g
				}
				return writeJSON(a.stdout, out)
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
					fmt.Fprintf(a.stdout, "  %s %d  %s  %s\n", word, d.Snapshot.ID, a.tableTime(d.Snapshot.Time), reasons(d))
				}
			}
			fmt.Fprintf(a.stdout, "%s %s\n", verb, plural(len(res.Forgotten), "snapshot"))
			if prune && !opts.DryRun {
				return a.runGC(cmd, repo, cairn.GCOptions{Grace: cairn.DefaultGrace}, false)
			}
			return nil
		},
	}
	keep.register(c.Flags())
	c.Flags().StringVar(&opts.Source, "source", "", "only snapshots of this directory")
	c.Flags().BoolVar(&opts.DryRun, "dry-run", false, "show what would be forgotten, change nothing")
	c.Flags().StringArrayVar(&opts.Tags, "tag", nil, "apply the rules only to snapshots with this tag (repeatable: every tag given)")
	c.Flags().StringVar(&host, "host", "", "only snapshots of this host (every snapshot is this host's for now)")
	c.Flags().BoolVar(&asJSON, "json", false, "print the verdicts as JSON (docs/json.md)")
	c.Flags().BoolVar(&prune, "prune", false, "reclaim the space afterwards (cairn gc)")
	c.Flags().BoolVar(&opts.IncludeProtected, "include-protected", false, "let the rules forget labelled snapshots, undo points and snapshots named by warnings")
	return c
}
