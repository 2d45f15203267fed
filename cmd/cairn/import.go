package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/cairn-dev/cairn"
)

func (a *app) importCommand() *cobra.Command {
	var opts cairn.ImportOptions
	var at string
	var asJSON bool
	c := &cobra.Command{
		Use:   "import SOURCE ARCHIVE_OR_DIR...",
		Short: "Bring existing backups into a source's history, each with its original time",
		Long: `import brings backups you already have into the history of SOURCE, each
becoming one snapshot of SOURCE with the backup's own time, oldest first.
SOURCE need not exist on this machine.

What it reads:
  zip, tar, tar.gz/.tgz, tar.zst    one snapshot each (told by content, not name)
  a directory of snapshot dirs      one snapshot per dir or archive, in time
  or of archives                    order, e.g. prompts_snapshots/20260101_120000/
                                    or state-snapshots/<id>/ with a manifest.json
                                    carrying "timestamp" (not itself imported),
                                    or backups/hermes-20260101_120000.zip
  any other directory               one snapshot

A backup's time is --time, else its manifest.json's, else a date and time
in its name (20260101_120000, 2026-01-01T12:00:00Z; local time without a
zone), else the newest mtime in it.

Archives are unpacked into the repository's tmp/ and checked entry by entry:
an absolute or ".." name refuses the whole archive; symlinks pointing
outside it are skipped. Runtime files (*.pid, *.lock, *.sock and the
source's --runtime patterns) are never imported. Modes, mtimes and symlinks
are kept where the archive has them; a zip without Unix modes gives files
0644, and secret-named files (.env, *.key, *.pem, auth.json) 0600. When
everything lies in one directory (such as .hermes/), its contents become the
source's (--keep-wrapper keeps it), unless the source's newest snapshot has
that directory too.

Imported snapshots are labelled "imported" (or --label) and tagged
"imported"; like any labelled snapshot, automatic retention never forgets
them (cairn forget ID does). Backups older than a snapshot SOURCE already
has are refused: a source's history runs in time order, so import old
backups before the first cairn snap of SOURCE.`,
		Example: `  cairn import ~/.hermes hermes-backup-20260101_120000.zip
  cairn import ~/.agent ~/old/prompts_snapshots
  cairn import ~/.agent agent.tar.gz --time 2025-11-30T18:00:00Z
  cairn import ~/.agent backups/*.zip`,
		Args: cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if args[0] == "" {
				return usageError{errors.New(`import "": want a source directory`)}
			}
			if at != "" {
				t, err := cairn.ParseBackupTime(at)
				if err != nil {
					return usageError{fmt.Errorf("--time: %w", err)}
				}
				if len(args) > 2 {
					return usageError{errors.New("--time applies to one backup")}
				}
				opts.Time = t
			}
			repo, err := a.open(cmd.Context(), true)
			if err != nil {
				return err
			}
			done, err := repo.Import(cmd.Context(), args[0], args[1:], opts)
			if asJSON {
				if jerr := writeJSON(a.stdout, importJSON(done)); jerr != nil && err == nil {
					err = jerr
				}
			} else {
				a.printImported(done)
			}
			return err
		},
	}
	f := c.Flags()
	f.StringVar(&at, "time", "", "the backup's time (RFC 3339, or 2026-01-01 12:00:00 local); only with one backup")
	f.StringVar(&opts.Label, "label", "", `label of the imported snapshots (default "imported")`)
	f.StringArrayVar(&opts.Tags, "tag", nil, `a tag besides "imported" (repeatable)`)
	f.BoolVar(&opts.KeepWrapper, "keep-wrapper", false, "keep a single wrapping directory (such as .hermes/) as it is")
	f.BoolVar(&asJSON, "json", false, "print what was imported as JSON")
	return c
}

func (a *app) printImported(done []cairn.Imported) {
	for _, im := range done {
		res := im.Snapshot
		for _, w := range res.Warnings {
			fmt.Fprintf(a.stderr, "warning: %s\n", warningLine(res.Source, w))
		}
		for _, s := range im.Skipped {
			fmt.Fprintf(a.stderr, "skipped %s: %s\n", displayPath(s.Path), s.Reason)
		}
		for _, p := range im.Tightened {
			fmt.Fprintf(a.stderr, "mode 0600 for %s: a secret's name, and the archive records no mode\n", displayPath(p))
		}
		from := displayPath(im.Backup.Path)
		if im.Stripped != "" {
			from += " (inside " + displayPath(im.Stripped) + "/)"
		}
		fmt.Fprintf(a.stdout, "snapshot %d of %s at %s from %s: %s, %s; %d new, %d changed, %d unchanged, %d removed; added %s\n",
			res.ID, displayPath(res.Source), rfc3339(im.Backup.Time), from, plural(int(res.Files), "file"), size(res.TotalBytes),
			res.New, res.Changed, res.Unchanged, res.Removed, size(res.BytesAdded))
		if len(res.Forgotten) > 0 {
			fmt.Fprintf(a.stdout, "retention policy forgot %s (cairn gc reclaims the space)\n", snapshotList(res.Forgotten))
		}
	}
}

func importJSON(done []cairn.Imported) any {
	type skipped struct {
		Path   string `json:"path"`
		Reason string `json:"reason"`
	}
	type item struct {
		Backup    string    `json:"backup"`
		Kind      string    `json:"kind"`
		Time      string    `json:"time"`
		TimeFrom  string    `json:"time_from"`
		Stripped  string    `json:"stripped,omitempty"`
		Skipped   []skipped `json:"skipped"`
		Tightened []string  `json:"tightened"`
		Snapshot  any       `json:"snapshot"`
	}
	out := []item{}
	for _, im := range done {
		it := item{Backup: im.Backup.Path, Kind: im.Backup.Kind.String(), Time: rfc3339(im.Backup.Time),
			TimeFrom: string(im.Backup.From), Stripped: im.Stripped, Skipped: []skipped{}, Tightened: im.Tightened,
			Snapshot: snapJSON(im.Snapshot)}
		for _, s := range im.Skipped {
			it.Skipped = append(it.Skipped, skipped{s.Path, s.Reason})
		}
		if it.Tightened == nil {
			it.Tightened = []string{}
		}
		out = append(out, it)
	}
	return out
}
