// Package metalog keeps a repository's metadata log in its Objects: the
// sealed, immutable records of every catalog mutation of one writer (one
// installation), and the checkpoints that bound their replay. It deals in
// sealed bytes only: what a record means is the catalog's business, and
// this package never imports it.
//
// # Objects
//
//	log/<writer>/<seq>          one record; seq is decimal, zero-padded to 20
//	                            digits, so that key order is seq order
//	checkpoints/<writer>/<seq>  the writer's compacted state after record seq
//
// A record is stored as keys.Set.Seal of one codec byte (0 raw, 1 zstd)
// followed by the record's bytes; a checkpoint the same way, always zstd.
// The associated data of both is the repository id, a zero byte and the
// object's key: a record copied into another repository, renamed to
// another seq, or swapped with another fails to open (keys.ErrAuth).
//
// # Write ordering
//
// packs durable -> record durable (Append returns after PutObject, which
// fsyncs) -> catalog transaction that applies the record and stores its
// seq. A record without a transaction is applied at the next open; a
// transaction never exists without its record.
//
// # Checkpoints and pruning
//
// A checkpoint is written once RecordsPerCheckpoint records have
// accumulated after the newest one, or records of at least
// BytesPerCheckpoint bytes and ReplayFactor times the state's size (Due). Prune keeps the newest two checkpoints and every record after
// the older of them, so that a damaged newest checkpoint still leaves a
// complete chain; it never removes a record that no checkpoint covers.
package metalog
