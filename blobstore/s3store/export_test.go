package s3store

// SetListPage makes every LIST request ask for n keys, so that tests see
// listings of many pages without storing thousands of objects.
func SetListPage(s *Store, n int) { s.listPage = n }
