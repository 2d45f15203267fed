package keycache

// Invalidated invalidates r itself and returns it, for a keyring that
// exists no more.
func Invalidated(r Ring) Ring {
	r.invalidate(r.id)
	return r
}
