-- 0003: incomplete snapshots. A snapshot that could not read some files is
-- still committed (what it did read is worth keeping), but it must say so:
-- unreadable counts the paths it could not read (each has a warning of kind
-- 'unreadable'); their previous versions, if any, continue into it.
ALTER TABLE snapshot ADD COLUMN unreadable INTEGER NOT NULL DEFAULT 0;

-- The public view gains incomplete (0/1) and unreadable; views cannot be
-- altered, so it is made again with the same columns first.
DROP VIEW snapshots;
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
       s.unreadable
FROM snapshot s JOIN source src ON src.id = s.source_id;
