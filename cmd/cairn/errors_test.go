package main

import (
	"errors"
	"fmt"
	"testing"

	"github.com/mattn/go-sqlite3"

	"github.com/cairn-dev/cairn"
)

func TestUserMessage(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{&cairn.NoSnapshotError{ID: 999}, "no snapshot 999 (cairn snapshots lists them)"},
		{fmt.Errorf("forget: %w", &cairn.NoSnapshotError{ID: 7}), "forget: no snapshot 7 (cairn snapshots lists them)"},
		{fmt.Errorf("a.txt is in no snapshot of /src: %w", cairn.ErrNotFound), "a.txt is in no snapshot of /src"},
		{fmt.Errorf("/src has no snapshots: %w", cairn.ErrNotFound), "/src has no snapshots"},
		{fmt.Errorf("content 5: %w", cairn.ErrNotFound), "content 5: not in the catalog"},
		// Hints are the CLI's: the library's errors name no command or flag.
		{fmt.Errorf("%w at /r", cairn.ErrNoRepository), "no cairn repository at /r (cairn snap or cairn init creates one)"},
		{fmt.Errorf("/r: %w (it has files but no cairn.repo)", cairn.ErrNotRepository),
			"/r: not a cairn repository (it has files but no cairn.repo); choose another --repo"},
		{fmt.Errorf("x: %w", cairn.ErrNoSource), "x: not inside any snapshotted source (cairn snapshots lists them)"},
		{errors.New("unknown command \"snpa\" for \"cairn\"\n\nDid you mean this?\n\tsnap\n"),
			`unknown command "snpa" for "cairn"; did you mean snap?`},
		{errors.New("unknown command \"s\" for \"cairn\"\n\nDid you mean this?\n\tsnap\n\tls\n\tsql\n"),
			`unknown command "s" for "cairn"; did you mean snap, ls or sql?`},
		{errors.New("open red\x1b[31m\nfile: denied"), `open red\x1b[31m; file: denied`},
		// SQLite stopping on a damaged page: the catalog, most likely,
		// which the log rebuilds.
		{fmt.Errorf("query history: %w", sqlite3.Error{Code: sqlite3.ErrCorrupt}),
			"query history: " + sqlite3.Error{Code: sqlite3.ErrCorrupt}.Error() + "; if that is the catalog, cairn check says so and cairn repair catalog rebuilds it from the log"},
	} {
		if got := userMessage(tc.err); got != tc.want {
			t.Errorf("userMessage(%q) = %q, want %q", tc.err, got, tc.want)
		}
	}
}
