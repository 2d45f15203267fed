package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/cairn-dev/cairn"
)

// snapRef is a snapshot as the user names it: an id, "latest" or
// "latest~N" (the Nth before the newest of a source, as git's HEAD~N).
// One parser serves every command and flag that takes a snapshot.
type snapRef struct {
	id   int64  // > 0: this snapshot (of host, when set)
	back int    // with id == 0: how many before the newest
	host string // "HOST:N": snapshot N of another writer (a host name or writer id)
}

func (r snapRef) latest() bool { return r.id == 0 }

func (r snapRef) String() string {
	switch {
	case r.host != "":
		return r.host + ":" + strconv.FormatInt(r.id, 10)
	case r.id > 0:
		return strconv.FormatInt(r.id, 10)
	case r.back == 0:
		return "latest"
	}
	return "latest~" + strconv.Itoa(r.back)
}

// parseSnapRef reads a snapshot id, "HOST:N", "latest" or "latest~N"; ""
// is latest.
func parseSnapRef(s string) (snapRef, error) {
	// The number follows the last colon: a host name may hold one.
	if i := strings.LastIndex(strings.TrimSpace(s), ":"); i >= 0 {
		host, n := strings.TrimSpace(s)[:i], strings.TrimSpace(s)[i+1:]
		id, err := strconv.ParseInt(n, 10, 64)
		if host == "" || err != nil || id <= 0 {
			return snapRef{}, fmt.Errorf("%q is not a snapshot: want an id, \"latest\", \"latest~N\" or HOST:N", s)
		}
		return snapRef{id: id, host: host}, nil
	}
	t := strings.ToLower(strings.TrimSpace(s))
	if t == "" || t == "latest" {
		return snapRef{}, nil
	}
	if n, ok := strings.CutPrefix(t, "latest~"); ok {
		back, err := strconv.Atoi(n)
		if err != nil || back < 0 {
			return snapRef{}, fmt.Errorf("%q is not a snapshot: want an id, \"latest\" or \"latest~N\"", s)
		}
		return snapRef{back: back}, nil
	}
	id, err := strconv.ParseInt(t, 10, 64)
	if err != nil || id <= 0 {
		return snapRef{}, fmt.Errorf("%q is not a snapshot: want an id, \"latest\" or \"latest~N\"", s)
	}
	return snapRef{id: id}, nil
}

// parseSnapshot reads a --snapshot value.
func parseSnapshot(s string) (snapRef, error) {
	r, err := parseSnapRef(s)
	if err != nil {
		return r, usageError{fmt.Errorf("--snapshot %q: want a snapshot id, \"latest\", \"latest~N\" or HOST:N", s)}
	}
	return r, nil
}

// forPath turns a --snapshot given with a path into the id Resolve takes:
// 0 for plain "latest" (Resolve then picks the newest snapshot that has
// the path), else a snapshot of the path's source.
func (r snapRef) forPath(ctx context.Context, repo *cairn.Repo, userPath string) (int64, error) {
	if r.host != "" {
		return repo.HostSnapshotID(ctx, r.host, r.id)
	}
	if r.id > 0 || r.back == 0 {
		return r.id, nil
	}
	src, _, err := repo.Locate(ctx, userPath)
	if err != nil {
		return 0, err
	}
	return r.inSource(ctx, repo, src.Path)
}

// inSource resolves r among the snapshots of one source (a recorded
// source path); source "" means the source of the repository's newest
// snapshot.
func (r snapRef) inSource(ctx context.Context, repo *cairn.Repo, source string) (int64, error) {
	if r.host != "" {
		return repo.HostSnapshotID(ctx, r.host, r.id)
	}
	if r.id > 0 {
		return r.id, nil
	}
	if source == "" {
		all, err := repo.Snapshots(ctx, cairn.SnapshotFilter{})
		if err != nil {
			return 0, err
		}
		if len(all) == 0 {
			return 0, fmt.Errorf("%s: the repository has no snapshots", r)
		}
		// This host's newest, in a repository shared by several: of its
		// own sources and those it adopted (whose ids are in the adopted
		// host's slot, so the newest is by time, not id).
		own, err := repo.OwnSlots(ctx)
		if err != nil {
			return 0, err
		}
		newest, found := all[len(all)-1], false
		for _, s := range all {
			if own[s.Writer] && (!found || !s.Started.Before(newest.Started)) {
				newest, found = s, true
			}
		}
		source = newest.Source
	}
	snaps, err := repo.Snapshots(ctx, cairn.SnapshotFilter{Source: source})
	if err != nil {
		return 0, err
	}
	if r.back >= len(snaps) {
		return 0, fmt.Errorf("%s: %s has %s", r, displayPath(source), plural(len(snaps), "snapshot"))
	}
	return snaps[len(snaps)-1-r.back].ID, nil
}

// snapshotUsage is the help text of every --snapshot flag.
const snapshotUsage = `snapshot id, "latest", "latest~N" or HOST:N (another host's)`
