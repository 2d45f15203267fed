// Package mountfs serves a repository's snapshots as a read-only FUSE file
// system (github.com/hanwen/go-fuse/v2), every file read through the
// snapshot's io/fs view (package snapshotfs): bytes stream from the packs
// with ReadAt, verified chunk by chunk, never a whole file in memory.
//
// # Layout
//
// One source (New with a source) is shown at the root:
//
//	snapshots/<id>/...          the tree of each snapshot
//	by-time/<RFC 3339 UTC>      a symlink to ../snapshots/<id>
//	latest                      a symlink to snapshots/<newest id>
//
// Without a source, the root holds one directory per source, named by the
// source's base name (".hermes"), with the same three entries inside. Two
// sources with one base name get their source id after it (".hermes~2"),
// so every name is stable and readable; the full path of each is in
// `cairn snapshots`. The by-time names are seconds in UTC; two snapshots
// in one second get the later one's id after it ("...Z~7").
//
// # Behaviour
//
// Modes, owners, sizes, mtimes and symlink targets are the recorded ones;
// the kernel checks permissions against them (default_permissions), so a
// 0600 secret stays readable by its owner only. Snapshot trees never change
// and are cached by the kernel for an hour; the lists of snapshots are
// looked up again after a second, so snapshots taken (or forgotten) while
// mounted appear (or go). Nothing can be written.
package mountfs
