package keycache

// Invalidated invalidates r itself and returns it, for a keyring that
// exists no more.
func Invalidated(r Ring) Ring {
	onThread(func() { invalidate(r.id) })
	return r
}
