-- 0009: which records of the metadata log this catalog has applied.
--
-- In a format-2 repository every change to the replicated tables (meta,
-- source, snapshot, pack, chunk, content, version, warning) is a record in
-- the repository's log (log/<writer>/<seq>), and the catalog is a view of
-- checkpoint + log. seq is the last record of writer applied here, updated
-- in the same transaction as the record's rows, so a record is applied
-- exactly once. writer '' is this installation's own log. The table is
-- local: it is never part of a checkpoint, and a catalog rebuilt from one
-- starts at the checkpoint's seq. Catalogs without a log (format 1) keep
-- seq 0.
CREATE TABLE log_applied (
    writer TEXT PRIMARY KEY,
    seq    INTEGER NOT NULL CHECK (seq >= 0)
) WITHOUT ROWID;
