// Package catalog is cairn's SQLite catalog: which snapshots exist, every
// version of every path as an interval of snapshots, the bytes of each file
// as a list of chunks, and where each chunk is stored.
//
// All connection settings live in Open: WAL, synchronous=FULL (a committed
// snapshot survives power loss), a busy timeout, foreign keys, one writer
// connection with immediate transactions and a separate read-only pool.
// The schema is in package migrations; its version is PRAGMA user_version
// and PRAGMA application_id marks the file as cairn's, so a foreign or
// newer file is refused before anything is written to it.
//
// History is stored as intervals: a version row holds the first and last
// snapshot of its source that saw it (last is NULL while it is live). A
// snapshot in which nothing changed adds one snapshot row. The public views
// (snapshots, files, versions, warnings) expand the intervals for queries.
//
// For retention, each snapshot carries a state id (equal ids: identical
// content; see state.go), and hold rows keep snapshots from any policy
// while a process reads them or until a warning's hint expires (hold.go).
package catalog
