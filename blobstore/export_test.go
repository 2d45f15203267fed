package blobstore

// OpenHandles reports how many pack handles l has cached.
func (l *Local) OpenHandles() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lru.Len()
}

const MaxOpenPacks = maxOpenPacks
