-- 0004: packs known to be missing from the store.
--
-- check sets missing_ns (Unix nanoseconds) when a recorded pack is not in
-- the store, and a snapshot sets it when a pack it was about to reuse is
-- gone. A chunk in such a pack counts as unknown to the next snapshot:
-- it stores the chunk again from the source and moves the chunk row to
-- the new pack (the row's id, and so every content listing it, stays), and
-- live versions whose contents use such chunks are read again. NULL: the
-- pack was present when last looked at.
ALTER TABLE pack ADD COLUMN missing_ns INTEGER;
