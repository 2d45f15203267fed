-- 0005: retention that never forgets what the user was told to rely on.
--
-- state_id: snapshots of one source with the same state_id have identical
-- content (no version began or ended between them), so retention counts a
-- run of unchanged snapshots as one state. A snapshot that changed
-- something starts a state (state_id = id); an unchanged one continues the
-- state of the source's live versions, kept in source.live_state_id so it
-- stays right after the snapshot before it was forgotten. Snapshots taken
-- before this migration each count as their own state, as they did.
ALTER TABLE snapshot ADD COLUMN state_id INTEGER;
UPDATE snapshot SET state_id = id;
ALTER TABLE source ADD COLUMN live_state_id INTEGER;

-- The snapshot a warning tells the user to restore from (the one before a
-- mass deletion, the newest valid copy of an emptied JSON file). The CLI
-- renders the restore command from it; messages hold no CLI vocabulary.
ALTER TABLE warning ADD COLUMN ref_snapshot_id INTEGER REFERENCES snapshot(id) ON DELETE SET NULL;
CREATE INDEX warning_by_ref ON warning(ref_snapshot_id);

-- A hold keeps a snapshot from being forgotten by a retention policy: while
-- the process that took it lives (holder names the host, boot, pid and
-- process start time, so a killed holder or a reused pid never holds for
-- ever), or until expires_ns. One of the two is always set.
CREATE TABLE hold (
    id          INTEGER PRIMARY KEY,
    snapshot_id INTEGER NOT NULL REFERENCES snapshot(id) ON DELETE CASCADE,
    reason      TEXT NOT NULL,   -- e.g. 'restore', 'warning of snapshot 14'
    holder      TEXT,            -- 'host boot-id pid start-ticks'; NULL = none
    pid         INTEGER,
    created_ns  INTEGER NOT NULL,
    expires_ns  INTEGER,
    CHECK (holder IS NOT NULL OR expires_ns IS NOT NULL)
);
CREATE INDEX hold_by_snapshot ON hold(snapshot_id);

DROP VIEW warnings;
CREATE VIEW warnings AS
SELECT w.snapshot_id, src.path AS source, w.path, w.kind, w.message, w.ref_snapshot_id
FROM warning w
JOIN snapshot s ON s.id = w.snapshot_id
JOIN source src ON src.id = s.source_id;
