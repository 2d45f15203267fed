-- A stored blob can hold a run of chunks compressed together (one zstd
-- frame): a chunk is found at chunk.offset/length in its pack, then at
-- plain_offset in that blob's plaintext. Chunks stored before this
-- migration have a blob each, which is plain_offset 0.
ALTER TABLE chunk ADD COLUMN plain_offset INTEGER NOT NULL DEFAULT 0;
