// Package migrations holds cairn's catalog schema as numbered SQL files,
// embedded in the binary and applied in order by catalog.Open.
//
// A file is named NNNN_what.sql; NNNN is the schema version it leaves the
// catalog at (PRAGMA user_version). Files are never edited once released:
// a change is a new file. The public views (snapshots, files, versions,
// warnings) are an interface users build queries on; changing one needs a
// note in docs/sql.md.
package migrations

import "embed"

// FS holds the migration files.
//
//go:embed *.sql
var FS embed.FS
