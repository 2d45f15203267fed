// Package blobstore stores chunks in immutable, content-addressed pack files.
//
// # Chunk IDs
//
// A chunk is named by the BLAKE3-256 hash of its plaintext (ID, Sum), so
// identical chunks share one ID and are stored once. Every read re-hashes the
// plaintext, which makes the ID the integrity check as well as the name.
//
// # Blobs
//
// A blob is the stored form of a plaintext: one chunk, or a run of chunks
// back to back that compress better together (Encode, Decode):
//
//	codec   1 byte   CodecRaw (0) or CodecZstd (1)
//	payload ...      the plaintext, or one zstd frame of it
//
// Blobs are stored raw when zstd saves less than about 3% or they are
// shorter than 256 bytes (so every zstd frame states its content size, which
// a reader of one chunk in a run needs). zstd frames carry no checksum of
// their own; the BLAKE3 check of each chunk covers them. A Reader keeps the
// last few decompressed blobs, so reading a run's chunks in order
// decompresses it once.
//
// # Packs
//
// Blobs are appended to pack files of roughly 16 MiB (PackWriter). A pack is
// named by the lowercase hex BLAKE3-256 of its complete bytes, and laid out
// as follows (integers little-endian, uvarints as in encoding/binary):
//
//	offset 0          "CAIRNPK1"                      8-byte magic
//	offset 8          blob, blob, ...                 back to back
//	footer            per chunk, in order:
//	                    ID                            32 bytes
//	                    offset of its blob in pack    uvarint
//	                    stored length (codec+payload) uvarint
//	                    plaintext length of the chunk uvarint
//	                    offset in the blob plaintext  uvarint
//	last 16 bytes     footer length in bytes          uint32
//	                  entry count                     uint32
//	                  "CAIRNID2"                      8-byte magic
//
// Chunks of one blob share its offset and length. Packs written before
// blobs could hold several chunks end in "CAIRNIDX" and lack the last field
// (each chunk is a blob of its own); they remain readable.
//
// # Format 2: sealed packs
//
// A Codec from NewCodec (a repository's keys and id) writes format 2; the
// nil Codec is format 1, and every reader and writer takes one:
//
//	offset 0          "CAIRNPK2"                      8-byte magic
//	offset 8          sealed blob, sealed blob, ...   back to back
//	footer            sealed:
//	                    BLAKE3 of pack bytes [0, footer)  32 bytes
//	                    entry count                   uvarint
//	                    entries as above              4 uvarints each
//	last 16 bytes     sealed footer length            uint32
//	                  zero                            uint32
//	                  "CAIRNSF1"                      8-byte magic
//
// A sealed blob is keys.Set.Seal of the format-1 blob (nonce, ciphertext,
// tag: keys.Overhead bytes more), with associated data "cairn v2 blob\x00"
// and the repository id; an entry's stored length includes the overhead.
// The footer's associated data is "cairn v2 pack footer\x00", the
// repository id, a zero byte and the footer's offset (uint64
// little-endian); the hash it begins with binds it to its pack's blobs
// (VerifyPack checks it). Chunk ids are keyed BLAKE3 (Codec.Sum). The pack
// name stays the plain BLAKE3 of the stored bytes, so a pack's integrity can
// be verified without a key. docs/design.md says what this hides and what
// it does not.
//
// The catalog is the primary index of where each chunk lives; the footer
// makes a pack self-describing so that it can be verified on its own
// (ReadIndex, ReadChunk) and a lost catalog could be rebuilt from the packs.
//
// # Durability
//
// A pack is written completely, fsynced and renamed into place (Upload.Commit)
// before any catalog row may refer to it. A crash therefore leaves at worst an
// unreferenced pack, never a catalog row pointing at missing or partial data.
// Packs are never modified after commit, only deleted.
//
// # Stores
//
// Store abstracts where packs live; Local keeps them on the filesystem and
// the storetest package holds the conformance suite every Store must pass.
package blobstore
