package cairn

import "github.com/cairn-dev/cairn/catalog"

// CatalogForTest hands tests of package cairn_test the catalog underneath,
// for measurements and checks the public API has no business offering
// (row counts of internal tables).
func CatalogForTest(r *Repo) *catalog.DB { return r.db }
