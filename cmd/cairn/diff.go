package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/cairn-dev/cairn"
)

func (a *app) diffCommand() *cobra.Command {
	var asJSON, live bool
	c := &cobra.Command{
		Use:   "diff ID1 [ID2] [PATH]",
		Short: "Show what changed between two snapshots, or in one file",
		Long: `Show the paths added (+), removed (-) and changed (M) from snapshot ID1 to
snapshot ID2, both of one source (snapshots of different sources are
refused). A snapshot is an id, "latest" or "latest~N" (the Nth before the
newest of the source).

With one snapshot, diff compares it with the one before it; with --live,
with the source directory as it is now (walked and compared, nothing
stored). With a PATH, diff prints a unified diff of that file's content
between the two snapshots ("binary files differ" for binary content).`,
		Example: `  cairn diff 41 42
  cairn diff latest
  cairn diff latest --live
  cairn diff latest~1 latest ~/.agent/config.yaml
  cairn diff 41 42 --json`,
		Args: cobra.RangeArgs(1, 3),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			var refs []snapRef
			path := ""
			for i, s := range args {
				r, err := parseSnapRef(s)
				switch {
				case err == nil && len(refs) < 2 && path == "":
					refs = append(refs, r)
				case i == len(args)-1 && i > 0 && path == "":
					path = s
				default:
					return usageError{err}
				}
			}
			if live && (len(refs) != 1 || path != "") {
				return usageError{errors.New("--live compares one snapshot with its directory: give one snapshot and no path")}
			}
			repo, err := a.open(ctx, false)
			if err != nil {
				return err
			}
			ids, err := a.diffIDs(ctx, repo, refs, path, live)
			if err != nil {
				return err
			}
			if path != "" {
				return a.diffFile(ctx, repo, path, ids, asJSON)
			}
			var d *cairn.TreeDiff
			if live {
				d, err = repo.DiffLive(ctx, ids[0])
			} else {
				d, err = repo.Diff(ctx, ids[0], ids[1])
			}
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(a.stdout, toDiffJSON(d))
			}
			for _, p := range d.Added {
				fmt.Fprintf(a.stdout, "+ %s\n", displayPath(p))
			}
			for _, p := range d.Removed {
				fmt.Fprintf(a.stdout, "- %s\n", displayPath(p))
			}
			for _, p := range d.Changed {
				fmt.Fprintf(a.stdout, "M %s\n", displayPath(p))
			}
			fmt.Fprintf(a.stdout, "%d added, %d removed, %d changed\n", len(d.Added), len(d.Removed), len(d.Changed))
			return nil
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print {added, removed, changed} as JSON")
	c.Flags().BoolVar(&live, "live", false, "compare the snapshot with its source directory as it is now")
	c.ValidArgsFunction = a.completeSnapshots
	return c
}

// diffIDs resolves diff's snapshots within one source: the path's, else
// that of the snapshot named by id, else that of the newest snapshot. One
// snapshot alone is paired with its predecessor (with --live the second
// id is unused).
func (a *app) diffIDs(ctx context.Context, repo *cairn.Repo, refs []snapRef, path string, live bool) ([2]int64, error) {
	var ids [2]int64
	source := ""
	if path != "" {
		src, _, err := repo.Locate(ctx, path)
		if err != nil {
			return ids, err
		}
		source = src.Path
	} else {
		for _, r := range refs {
			if !r.latest() {
				s, err := repo.SnapshotByID(ctx, r.id)
				if err != nil {
					return ids, err
				}
				source = s.Source
				break
			}
		}
	}
	for i, r := range refs {
		id, err := r.inSource(ctx, repo, source)
		if err != nil {
			return ids, err
		}
		ids[i] = id
	}
	if len(refs) == 1 && !live {
		prev, err := repo.Previous(ctx, ids[0])
		if err != nil {
			return ids, err
		}
		ids[0], ids[1] = prev.ID, ids[0]
	}
	return ids, nil
}

func (a *app) diffFile(ctx context.Context, repo *cairn.Repo, path string, ids [2]int64, asJSON bool) error {
	d, err := repo.DiffFile(ctx, path, ids[0], ids[1])
	if err != nil {
		return err
	}
	if asJSON {
		return writeJSON(a.stdout, fileDiffJSON{d.Path, ids[0], ids[1], d.Equal, d.Binary, d.Unified})
	}
	switch {
	case d.Equal:
		fmt.Fprintf(a.stderr, "cairn: %s is the same in snapshots %d and %d\n", displayPath(path), ids[0], ids[1])
	case d.Binary:
		fmt.Fprintf(a.stdout, "binary files %d/%s and %d/%s differ\n", ids[0], displayPath(d.Path), ids[1], displayPath(d.Path))
	default:
		fmt.Fprint(a.stdout, d.Unified)
	}
	return nil
}
