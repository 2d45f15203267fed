// Package chunker splits byte streams into chunks for deduplication.
//
// # Content-defined chunking
//
// New implements FastCDC (Xia et al., "FastCDC: a Fast and Efficient
// Content-Defined Chunking Approach for Data Deduplication", USENIX ATC
// 2016, and the 2020 IEEE TPDS extension). Boundaries depend only on the
// bytes of the chunk itself, so an insertion or deletion changes the
// chunks around it and the rest still deduplicate.
//
// A rolling Gear hash, h = h<<1 + gear[b], is updated for every byte. Bit k
// of h depends on the last k+1 bytes only, so the cut test looks at the top
// bits of h (a mask of the high bits, cut where h&mask == 0), which cover a
// window of up to 64 bytes; the paper spreads the mask bits over the word
// to the same end. The chunk ends after the byte that satisfies the test.
//
// The public gear table (format 1) holds 256 values from splitmix64 seeded
// with gearSeed (0x636169726e2d7631, "cairn-v1" in ASCII). It is not drawn
// from math/rand, whose sequence may change between Go releases. An
// encrypted repository (format 2) uses its own table (KeyedTable,
// NewWithTable): 2048 bytes of BLAKE3 in key-derivation mode (context
// "cairn v2 chunker gear table") from the repository's secret gear seed,
// so that the boundaries of a known file, and hence its chunk and blob
// sizes, cannot be computed without the key. Any table of random values
// cuts with the same statistics (TestKeyedTableStatistics: mean chunk
// within 2% of the public table's on the same data).
//
// Normalized chunking (level 2) narrows the size distribution around Avg:
// between Min and Avg the mask has log2(Avg)+2 bits (a cut is four times
// less likely than 1/Avg), from Avg to Max it has log2(Avg)-2 bits (four
// times more likely). A chunk is cut at Max unconditionally. The first Min
// bytes of each chunk are not hashed at all (cut-point skipping), which is
// most of FastCDC's speed. In practice the mean chunk is a little above
// Avg.
//
// Params.String names the algorithm version ("fastcdc-v1"); any change that
// moves a boundary must bump it, because a repository's existing chunks
// would stop matching.
//
// # Default sizes
//
// cairn stores thousands of small JSON files, each far below Min and so a
// single chunk, a few large files, and SQLite databases. Large averages keep
// the index and per-chunk overhead small for the large files. SQLite
// databases are split with NewFixed at the page size instead: their pages
// never shift, and content-defined chunking at averages of 64 KiB and more
// loses most of the dedup on scattered page updates, since each changed page
// rewrites a whole chunk. The defaults were picked by measurement on a
// 129 MiB tar of the Go source tree with 1% of its files edited, and a
// 70 MiB JSON Lines log with lines edited and appended (stored bytes of the
// first version / added by the changed one, zstd-compressed):
//
//	avg  16 KiB  6660 chunks  35.8 / 0.8 MiB   log 5.1 / 0.0 MiB
//	avg  64 KiB  1708 chunks  33.4 / 2.4 MiB   log 4.8 / 0.1 MiB
//	avg 128 KiB   849 chunks  32.0 / 4.0 MiB   log 4.7 / 0.3 MiB
//	avg 256 KiB   420 chunks  31.0 / 6.3 MiB   log 4.7 / 0.5 MiB
//	avg   1 MiB    99 chunks  30.0 / 16.5 MiB  log 4.7 / 1.4 MiB
//
// 128 KiB costs 7% more than 1 MiB chunks on a first snapshot and adds a
// quarter as much per change; smaller averages buy little more dedup for
// two to eight times the catalog rows.
//
// # Buffers
//
// Splitters read in large blocks into one buffer (BufferSize for New, a
// multiple of the block size for NewFixed) and return chunks aliasing it,
// so steady-state splitting does not allocate. The cut points do not
// depend on how the reader splits its output.
package chunker
