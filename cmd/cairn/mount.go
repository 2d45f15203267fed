package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/cairn-dev/cairn"
)

func (a *app) mountCommand() *cobra.Command {
	var opts cairn.MountOptions
	c := &cobra.Command{
		Use:   "mount MOUNTPOINT",
		Short: "Browse every snapshot as a read-only file system (FUSE)",
		Long: `mount serves the repository's snapshots at MOUNTPOINT, read-only, through
FUSE, until SIGINT (Ctrl-C) or SIGTERM, then unmounts it (lazily if a shell
still sits inside). Files stream from the packs as they are read, verified
chunk by chunk; modes, owners, mtimes and symlinks are the recorded ones.

With --source, MOUNTPOINT shows that source:
  snapshots/<id>/...       each snapshot's tree
  by-time/<RFC 3339 UTC>   symlinks to ../snapshots/<id>
  latest                   symlink to the newest snapshot
Without it, MOUNTPOINT holds one directory per source, named by its base
name (.hermes; ".hermes~2" when two sources share one), each laid out as above.

gc waits while a mount is up (it would delete data the mount reads).
Needs /dev/fuse and fusermount (package fuse3 or fuse).`,
		Example: `  cairn mount /mnt/cairn --source ~/.agent &
  diff -r /mnt/cairn/latest/ ~/.agent/
  cp /mnt/cairn/by-time/2026-01-01T12:00:00Z/cron/jobs.json /tmp/
  kill %1                                  # unmounts`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if args[0] == "" {
				return usageError{errors.New(`mount "": want a directory`)}
			}
			repo, err := a.open(cmd.Context(), false)
			if err != nil {
				return err
			}
			opts.Ready = func() {
				fmt.Fprintf(a.stderr, "cairn: mounted at %s; Ctrl-C (or SIGTERM) unmounts\n", displayPath(args[0]))
			}
			return repo.Mount(cmd.Context(), args[0], opts)
		},
	}
	c.Flags().StringVar(&opts.Source, "source", "", "show only this source's snapshots")
	return c
}
