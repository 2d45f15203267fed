-- 0007: meta keys that say which number they hold.
--
-- 'last_snapshot_id' read like the version column of the same name (the
-- last snapshot a version was seen in); it is the highest snapshot id ever
-- issued, kept so ids never repeat after the newest snapshots are
-- forgotten. 'format' was one of three "formats" (repository layout,
-- catalog schema, pack); it is the repository layout's version.
UPDATE meta SET key = 'highest_snapshot_id' WHERE key = 'last_snapshot_id';
UPDATE meta SET key = 'repository_format' WHERE key = 'format';
