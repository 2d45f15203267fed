// Package crashtest drives the real cairn binary as a subprocess to test
// what unit tests cannot: SIGKILL at random points of snap, gc and
// restore, commands racing each other on one repository, and damaged or
// hostile input (corrupt packs, a truncated or too-new catalog, a source
// that vanishes or changes while it is read, a full disk).
//
// It holds tests only. TestMain builds ./cmd/cairn once per run, without
// -race, so the binary under test is the one users get. The kill tests
// are skipped under -short; CAIRN_KILLS=N runs N kills instead of 40.
package crashtest
