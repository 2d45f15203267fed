package main

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/cairn-dev/cairn"
)

func (a *app) tagCommand() *cobra.Command {
	var change cairn.TagChange
	var set []string
	var asJSON bool
	c := &cobra.Command{
		Use:   "tag (--add T | --remove T | --set T)... ID...",
		Short: "Add, remove or set the tags of existing snapshots",
		Long: `Change the tags of each snapshot named (an id, "latest" or "latest~N").
--set replaces them, then --add adds and --remove removes; each is
repeatable. Tags choose snapshots for snapshots --tag and retention's
--keep-tag.`,
		Example: `  cairn tag --add keep 41 42
  cairn tag --remove weekly latest
  cairn tag --set release --set v2 latest~1`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if cmd.Flags().Changed("set") {
				// --set '' clears the tags.
				change.Set = slices.DeleteFunc(slices.Clone(set), func(t string) bool { return t == "" })
				if change.Set == nil {
					change.Set = []string{}
				}
			}
			if change.Set == nil && len(change.Add) == 0 && len(change.Remove) == 0 {
				return usageError{errors.New("tag: give --add, --remove or --set")}
			}
			refs := make([]snapRef, len(args))
			for i, s := range args {
				r, err := parseSnapRef(s)
				if err != nil {
					return usageError{err}
				}
				refs[i] = r
			}
			repo, err := a.open(ctx, false)
			if err != nil {
				return err
			}
			ids := make([]int64, len(refs))
			for i, r := range refs {
				if ids[i], err = r.inSource(ctx, repo, ""); err != nil {
					return err
				}
			}
			snaps, err := repo.Tag(ctx, ids, change)
			if err != nil {
				return err
			}
			if asJSON {
				out := make([]snapshotJSON, 0, len(snaps))
				for _, s := range snaps {
					out = append(out, toSnapshotJSON(s))
				}
				return writeJSON(a.stdout, out)
			}
			for _, s := range snaps {
				tags := "no tags"
				if len(s.Tags) > 0 {
					tags = "tags " + strings.Join(s.Tags, ", ")
				}
				fmt.Fprintf(a.stdout, "snapshot %d: %s\n", s.ID, tags)
			}
			return nil
		},
	}
	c.Flags().StringArrayVar(&change.Add, "add", nil, "add this tag (repeatable)")
	c.Flags().StringArrayVar(&change.Remove, "remove", nil, "remove this tag (repeatable)")
	c.Flags().StringArrayVar(&set, "set", nil, "replace the tags with these (repeatable; --set '' removes all)")
	c.Flags().BoolVar(&asJSON, "json", false, "print the snapshots as snapshots --json does")
	c.ValidArgsFunction = a.completeSnapshots
	return c
}
