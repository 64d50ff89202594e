package hub

// SetMaxBusyCount lowers the cap on a busy value's count for a test and
// returns the function that restores it.
func SetMaxBusyCount(n int) (restore func()) {
	old := maxBusyCount
	maxBusyCount = n
	return func() { maxBusyCount = old }
}
