// Package snapshot takes a snapshot of one directory (a source): walk,
// compare with the catalog's live versions, capture what changed (SQLite
// through the online backup API, JSON validated), chunk, store new chunks
// in packs, and record everything in one catalog transaction.
//
// # The pipeline, file by file
//
//	walk.go      walk the source beneath its root (never through a symlink),
//	             applying .cairnignore and Options.Excludes; entries sorted
//	             in byte order of their paths
//	snapshot.go  Run
//	compare.go   merge the entries with the live versions streamed from the
//	             catalog in the same order (catalog.LiveInOrder), comparing
//	             each entry's fingerprint (size, mtime, ctime, inode, mode,
//	             owner; a database's -wal too) with its live version:
//	             unchanged entries are not read, their versions' intervals
//	             simply continue, and only what changed is kept (the plan)
//	execute.go   a pool of workers reads what the plan says changed
//	capture.go   read one file (a small one whole, in one read: smallfile.go):
//	             bytes as they are, or a SQLite database
//	             through the online backup API into a scratch copy, in its
//	             committed state even after a crash mid-transaction
//	             (internal/sqlitefile); JSON validated (json.go)
//	store.go     cut the bytes into content-defined chunks, hash them
//	             (BLAKE3), hand the new ones on in frames
//	index.go     which chunks the repository already has; a chunk new in
//	             this snapshot is claimed once, however many files hold it
//	resume.go    chunks in packs an interrupted snapshot sealed and nobody
//	             recorded are taken from there, verified, not stored again
//	pack.go      encoders compress frames (zstd) into packs; a pack is
//	             sealed and fsynced before anything refers to it
//	heal.go      chunks in packs known to be missing are stored again, and
//	             the packs this snapshot reuses are checked to exist
//	guard.go     warnings that no format check gives: a JSON file emptied, a
//	             mass deletion, a secret readable by others
//	execute.go   build the catalog commit: new contents and versions, closed
//	             intervals, warnings; catalog.CommitSnapshot applies it in
//	             one transaction
//
// A crash before the commit leaves at most packs no row names, which the
// next snapshot resumes from and gc removes after its grace period; a
// committed snapshot never points at missing data.
package snapshot
