// Package restore puts files from a snapshot back on disk: reassembled from
// verified chunks, written atomically, never outside the target, with the
// recorded mode, mtime and (as root) owner. Databases are checked before
// they replace anything, and their stale -wal/-shm are removed.
//
// A restore is planned once and then executed: NewPlan decides for every
// path what happens (Kind: write, unchanged, mkdir, symlink, delete,
// keep-runtime, refuse) and why, comparing with the disk once; a dry run
// prints the plan, the caller reads it to decide on an undo snapshot
// (UndoNeeds), and Execute carries it out without deciding anything again.
//
// # The pipeline, file by file
//
//	restore.go  Request (one path of one snapshot; the root package's
//	            Resolve picks which), Options, Result, Run
//	plan.go     NewPlan: for every path of every request, compare what the
//	            snapshot recorded with what is on disk, once, and decide a
//	            Kind, or refuse with a sentinel (ErrTornJSON,
//	            ErrDatabaseInUse, ErrDatabaseDamaged, ErrPathInTheWay,
//	            ErrUnsafePath); a torn JSON file in a directory is
//	            substituted by its newest valid copy; UndoNeeds lists what
//	            an undo snapshot must hold; CheckCovered refuses what the
//	            undo snapshot the caller took could not record
//	paths.go    the confinement rules (a catalog path never escapes the
//	            target) and the runtime files never written
//	owner.go    the recorded mode exactly, owners as root, setuid/setgid
//	            dropped where the owner cannot be given
//	delete.go   Options.Delete: what the snapshot lacks, never runtime
//	            files, excluded files or a database's sidecars
//	execute.go  Execute: directories first, then files in parallel (the
//	            next batch's contents looked up while the workers write),
//	            then deletions, then directory modes and times, deepest
//	            first
//	write.go    one file: chunks read and verified (blobstore.Reader),
//	            written to a temp file beside the target (holes for zero
//	            runs; a big file in 1 MiB writes, its write-back started
//	            every 8 MiB), BLAKE3 of what was written checked, fsynced, renamed,
//	            the directory fsynced; a database checked (SchemaCheck
//	            when it passed its check at capture, else integrity_check)
//	            and its stale -wal/-shm removed
//	stage.go    a whole tree --to an empty or new directory: built in a
//	            staging directory inside it, files under their own names,
//	            synced once, the top-level entries renamed into place
//
// The root package wraps this: it holds the snapshots read, takes the undo
// snapshot between planning and executing, and holds the source's lock
// while writing in place.
package restore
