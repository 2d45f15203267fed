-- 0008: the excludes a source remembers (snap --exclude, --exclude-file,
-- --exclude-caches, --exclude-larger-than, --one-file-system), as JSON
-- (snapshot.Excludes); NULL is none. Remembered, a later snapshot without
-- them does not record the excluded files as new.
ALTER TABLE source ADD COLUMN excludes TEXT;
