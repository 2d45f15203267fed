package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/cairn-dev/cairn"
)

type fileJSON struct {
	SnapshotID int64  `json:"snapshot_id,omitempty"`
	Source     string `json:"source"`
	Path       string `json:"path"`
	Type       string `json:"type"`
	Mode       string `json:"mode"`
	Size       int64  `json:"size"`
	Mtime      string `json:"mtime"`
	Hash       string `json:"hash,omitempty"`
	LinkTarget string `json:"link_target,omitempty"`
	JSONValid  *bool  `json:"json_valid,omitempty"`
}

func toFileJSON(snap int64, source string, v *cairn.Version) fileJSON {
	f := fileJSON{SnapshotID: snap, Source: source, Path: v.Path, Type: v.Type, Mode: octal(v.Mode), Size: v.Size,
		Mtime: time.Unix(0, v.MtimeNs).UTC().Format(time.RFC3339Nano), LinkTarget: v.LinkTarget}
	if len(v.ContentHash) > 0 {
		f.Hash = fmt.Sprintf("%x", v.ContentHash)
	}
	if v.JSONValid.Valid {
		b := v.JSONValid.Bool
		f.JSONValid = &b
	}
	return f
}

func (a *app) logCommand() *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:     "log PATH",
		Short:   "Show every version of one file, newest first",
		Example: "  cairn log ~/.agent/cron/jobs.json\n  cairn log ./config.yaml --json",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			repo, err := a.open(ctx, false)
			if err != nil {
				return err
			}
			history, err := repo.History(ctx, args[0])
			if err != nil {
				return err
			}
			type versionJSON struct {
				fileJSON
				FirstSnapshotID int64  `json:"first_snapshot_id"`
				LastSnapshotID  int64  `json:"last_snapshot_id"`
				FirstSeen       string `json:"first_seen"`
				LastSeen        string `json:"last_seen"`
			}
			out := []versionJSON{}
			for _, h := range history.Versions {
				out = append(out, versionJSON{toFileJSON(0, history.Source, h.Version), h.FirstSnapshot, h.LastSnapshot,
					rfc3339(h.FirstSeen), rfc3339(h.LastSeen)})
			}
			if len(out) == 0 {
				return fmt.Errorf("%s is in no snapshot of %s", displayPath(args[0]), displayPath(history.Source))
			}
			if asJSON {
				return writeJSON(a.stdout, out)
			}
			tw := newTable(a.stdout)
			fmt.Fprintln(tw, "SNAPSHOTS\tFIRST SEEN\tTYPE\tSIZE\tHASH\tJSON")
			for _, v := range out {
				span := fmt.Sprint(v.FirstSnapshotID)
				if v.LastSnapshotID != v.FirstSnapshotID {
					span = fmt.Sprintf("%d-%d", v.FirstSnapshotID, v.LastSnapshotID)
				}
				valid := "-"
				if v.JSONValid != nil {
					valid = map[bool]string{true: "valid", false: "INVALID"}[*v.JSONValid]
				}
				hash := v.Hash
				if len(hash) > 12 {
					hash = hash[:12]
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\n", span, v.FirstSeen, v.Type, v.Size, hash, valid)
			}
			return tw.Flush()
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print a JSON array, one object per version")
	return c
}
