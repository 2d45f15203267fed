-- foreign_keys: off
-- 0010: several writers (installations) sharing one repository.
--
-- Ids: a row's id is slot<<40 | n, n the counter of the writer that made
-- it and slot that writer's number in this catalog: 0 is this installation
-- (so a catalog with one writer keeps its ids), other writers get 1, 2, ...
-- in the order this catalog first met them (writer.slot). Applying another
-- writer's record maps the slots it names (its own is 0 there) into ours.
--
-- writer: slot <-> writer id, the host name its join record gave, the
-- highest snapshot id it issued in its slot (meta 'highest_snapshot_id'
-- stays slot 0's), and the slot of the writer that adopted its sources.
CREATE TABLE writer (
    slot             INTEGER PRIMARY KEY CHECK (slot >= 0),
    id               TEXT NOT NULL UNIQUE,
    host             TEXT NOT NULL DEFAULT '',
    highest_snapshot INTEGER NOT NULL DEFAULT 0,
    adopted_by       INTEGER
);

-- The highest n each writer has given a pack, chunk or content in its
-- slot: rows of those tables are deleted by any writer (forget, gc), and an
-- id must never be given twice, or a record would name two rows by one id.
CREATE TABLE id_high (
    slot INTEGER NOT NULL,
    tbl  TEXT NOT NULL,
    n    INTEGER NOT NULL,
    PRIMARY KEY (slot, tbl)
) WITHOUT ROWID;

-- A source belongs to the writer that snapshots it: two hosts may both
-- back up /home/me. chunk.hash and content.hash lose UNIQUE: two hosts may
-- store one chunk concurrently (lookups take the lowest id; gc collects
-- the spare). Tables are rebuilt with the same columns (views go first:
-- they name the tables).
DROP VIEW snapshots;
DROP VIEW files;
DROP VIEW versions;
DROP VIEW warnings;

CREATE TABLE source_new (
    id            INTEGER PRIMARY KEY,
    writer        INTEGER NOT NULL DEFAULT 0, -- writer.slot
    path          TEXT NOT NULL,     -- absolute, cleaned
    policy        TEXT,              -- retention policy (JSON); NULL = the default
    runtime       TEXT NOT NULL DEFAULT '', -- extra runtime-file patterns restore never writes, one per line
    mass_deletion REAL,              -- share of removed files that warns; NULL = 0.5
    live_state_id INTEGER,
    excludes      TEXT,
    UNIQUE (writer, path)
);
INSERT INTO source_new(id, writer, path, policy, runtime, mass_deletion, live_state_id, excludes)
    SELECT id, 0, path, policy, runtime, mass_deletion, live_state_id, excludes FROM source;
DROP TABLE source;
ALTER TABLE source_new RENAME TO source;

CREATE TABLE chunk_new (
    id           INTEGER PRIMARY KEY,
    hash         BLOB NOT NULL,      -- BLAKE3-256 of the plaintext (keyed in format 2)
    pack_id      INTEGER NOT NULL REFERENCES pack(id),
    offset       INTEGER NOT NULL,   -- of the stored blob in the pack
    length       INTEGER NOT NULL,   -- stored bytes (codec byte + payload)
    size         INTEGER NOT NULL,   -- plaintext bytes
    plain_offset INTEGER NOT NULL DEFAULT 0
);
INSERT INTO chunk_new(id, hash, pack_id, offset, length, size, plain_offset)
    SELECT id, hash, pack_id, offset, length, size, plain_offset FROM chunk;
DROP TABLE chunk;
ALTER TABLE chunk_new RENAME TO chunk;
CREATE INDEX chunk_by_hash ON chunk(hash, id);
CREATE INDEX chunk_by_pack ON chunk(pack_id);

CREATE TABLE content_new (
    id       INTEGER PRIMARY KEY,
    hash     BLOB NOT NULL,          -- BLAKE3-256 of the whole file
    size     INTEGER NOT NULL,
    chunking TEXT NOT NULL,          -- 'cdc', or 'fixed:N' for page-aligned databases
    chunks   BLOB NOT NULL           -- chunk ids, zigzag-varint deltas (see catalog/chunklist.go)
);
INSERT INTO content_new(id, hash, size, chunking, chunks) SELECT id, hash, size, chunking, chunks FROM content;
DROP TABLE content;
ALTER TABLE content_new RENAME TO content;
CREATE INDEX content_by_hash ON content(hash, id);

-- The public views, as before; snapshots gains host (the writer's host
-- name, '' when unknown).
CREATE VIEW snapshots AS
SELECT s.id,
       src.path AS source,
       strftime('%Y-%m-%dT%H:%M:%SZ', s.started_ns / 1000000000, 'unixepoch') AS started_at,
       strftime('%Y-%m-%dT%H:%M:%SZ', s.finished_ns / 1000000000, 'unixepoch') AS finished_at,
       s.label,
       s.tags,
       s.file_count,
       s.total_bytes,
       s.added_bytes,
       s.unreadable > 0 AS incomplete,
       s.unreadable,
       coalesce((SELECT w.host FROM writer w WHERE w.slot = src.writer), '') AS host
FROM snapshot s JOIN source src ON src.id = s.source_id;

CREATE VIEW files AS
SELECT s.id AS snapshot_id,
       src.path AS source,
       v.path,
       v.type,
       v.mode,
       v.size,
       strftime('%Y-%m-%dT%H:%M:%SZ', v.mtime_ns / 1000000000, 'unixepoch') AS mtime,
       v.mtime_ns,
       CASE WHEN c.hash IS NULL THEN NULL ELSE lower(hex(c.hash)) END AS hash,
       v.link_target,
       v.json_valid,
       v.capture,
       v.db_check
FROM snapshot s
JOIN version v ON v.source_id = s.source_id
              AND v.first_snapshot_id <= s.id
              AND (v.last_snapshot_id IS NULL OR s.id <= v.last_snapshot_id)
JOIN source src ON src.id = s.source_id
LEFT JOIN content c ON c.id = v.content_id;

CREATE VIEW versions AS
SELECT src.path AS source,
       v.path,
       v.type,
       v.mode,
       v.size,
       strftime('%Y-%m-%dT%H:%M:%SZ', v.mtime_ns / 1000000000, 'unixepoch') AS mtime,
       CASE WHEN c.hash IS NULL THEN NULL ELSE lower(hex(c.hash)) END AS hash,
       v.link_target,
       v.json_valid,
       (SELECT min(s.id) FROM snapshot s WHERE s.source_id = v.source_id AND s.id >= v.first_snapshot_id
            AND (v.last_snapshot_id IS NULL OR s.id <= v.last_snapshot_id)) AS first_snapshot_id,
       (SELECT max(s.id) FROM snapshot s WHERE s.source_id = v.source_id AND s.id >= v.first_snapshot_id
            AND (v.last_snapshot_id IS NULL OR s.id <= v.last_snapshot_id)) AS last_snapshot_id
FROM version v
JOIN source src ON src.id = v.source_id
LEFT JOIN content c ON c.id = v.content_id;

CREATE VIEW warnings AS
SELECT w.snapshot_id, src.path AS source, w.path, w.kind, w.message, w.ref_snapshot_id
FROM warning w
JOIN snapshot s ON s.id = w.snapshot_id
JOIN source src ON src.id = s.source_id;
