-- 0001: the first catalog schema.
--
-- Tables are singular and private (their shape may change with a migration);
-- the plural views at the end are the documented interface of `cairn sql`.
-- History is stored as intervals: a version row is valid for every snapshot
-- of its source with first_snapshot_id <= id <= last_snapshot_id (NULL: still
-- live), so an unchanged snapshot writes a constant number of rows.

CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE source (
    id     INTEGER PRIMARY KEY,
    path   TEXT NOT NULL UNIQUE,     -- absolute, cleaned
    policy TEXT,                     -- retention policy (JSON); NULL = the default
    runtime TEXT NOT NULL DEFAULT '', -- extra runtime-file patterns restore never writes, one per line
    mass_deletion REAL               -- share of removed files that warns; NULL = 0.5
);

CREATE TABLE snapshot (
    id          INTEGER PRIMARY KEY,
    source_id   INTEGER NOT NULL REFERENCES source(id),
    started_ns  INTEGER NOT NULL,    -- Unix nanoseconds, UTC
    finished_ns INTEGER NOT NULL,
    label       TEXT NOT NULL DEFAULT '',
    tags        TEXT NOT NULL DEFAULT '',  -- comma separated
    file_count  INTEGER NOT NULL,
    total_bytes INTEGER NOT NULL,
    added_bytes INTEGER NOT NULL
);
CREATE INDEX snapshot_by_source ON snapshot(source_id, id);

-- A pack file in the blob store; rows are written only after the pack is
-- complete and durable.
CREATE TABLE pack (
    id         INTEGER PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE, -- lowercase hex BLAKE3 of the pack
    size       INTEGER NOT NULL,
    created_ns INTEGER NOT NULL
);

CREATE TABLE chunk (
    id      INTEGER PRIMARY KEY,
    hash    BLOB NOT NULL UNIQUE,    -- BLAKE3-256 of the plaintext
    pack_id INTEGER NOT NULL REFERENCES pack(id),
    offset  INTEGER NOT NULL,        -- of the stored blob in the pack
    length  INTEGER NOT NULL,        -- stored bytes (codec byte + payload)
    size    INTEGER NOT NULL         -- plaintext bytes
);
CREATE INDEX chunk_by_pack ON chunk(pack_id);

-- The bytes of a file, shared by every version with the same bytes.
CREATE TABLE content (
    id       INTEGER PRIMARY KEY,
    hash     BLOB NOT NULL UNIQUE,   -- BLAKE3-256 of the whole file
    size     INTEGER NOT NULL,
    chunking TEXT NOT NULL,          -- 'cdc', or 'fixed:N' for page-aligned databases
    chunks   BLOB NOT NULL           -- chunk ids, zigzag-varint deltas (see catalog/chunklist.go)
);

CREATE TABLE version (
    id                INTEGER PRIMARY KEY,
    source_id         INTEGER NOT NULL REFERENCES source(id),
    path              TEXT NOT NULL,     -- relative to the source, '/'-separated; '.' is the root
    type              TEXT NOT NULL CHECK (type IN ('file', 'dir', 'symlink')),
    mode              INTEGER NOT NULL,  -- permission bits (07777)
    size              INTEGER NOT NULL,
    mtime_ns          INTEGER NOT NULL,
    content_id        INTEGER REFERENCES content(id),
    link_target       TEXT,
    capture           TEXT,              -- 'raw', 'sqlite' (online backup), 'sqlite-raw' (unreadable database)
    json_valid        INTEGER,           -- 1, 0, or NULL when not JSON
    json_entries      INTEGER,           -- entries of a valid JSON document (shrink guard); NULL otherwise
    db_check          TEXT,              -- quick_check of a captured database: 'ok' or the problem
    -- Change detection only, not history: what stat said when this version
    -- was last read. fp_ctime_ns = -1 forces a re-read (racy timestamps).
    fp_ctime_ns       INTEGER NOT NULL DEFAULT -1,
    fp_ino            INTEGER NOT NULL DEFAULT 0,
    fp_extra          TEXT NOT NULL DEFAULT '',  -- e.g. the -wal file of a database
    first_snapshot_id INTEGER NOT NULL,
    last_snapshot_id  INTEGER
);
CREATE UNIQUE INDEX version_live ON version(source_id, path) WHERE last_snapshot_id IS NULL;
CREATE INDEX version_by_path ON version(source_id, path, first_snapshot_id);
CREATE INDEX version_by_content ON version(content_id) WHERE content_id IS NOT NULL;

CREATE TABLE warning (
    id          INTEGER PRIMARY KEY,
    snapshot_id INTEGER NOT NULL REFERENCES snapshot(id) ON DELETE CASCADE,
    path        TEXT NOT NULL,
    kind        TEXT NOT NULL,
    message     TEXT NOT NULL
);
CREATE INDEX warning_by_snapshot ON warning(snapshot_id);

-- Public views -------------------------------------------------------------

CREATE VIEW snapshots AS
SELECT s.id,
       src.path AS source,
       strftime('%Y-%m-%dT%H:%M:%SZ', s.started_ns / 1000000000, 'unixepoch') AS started_at,
       strftime('%Y-%m-%dT%H:%M:%SZ', s.finished_ns / 1000000000, 'unixepoch') AS finished_at,
       s.label,
       s.tags,
       s.file_count,
       s.total_bytes,
       s.added_bytes
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

-- first/last are computed from the snapshots that still exist, so they stay
-- true after `cairn forget`.
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
SELECT w.snapshot_id, src.path AS source, w.path, w.kind, w.message
FROM warning w
JOIN snapshot s ON s.id = w.snapshot_id
JOIN source src ON src.id = s.source_id;
