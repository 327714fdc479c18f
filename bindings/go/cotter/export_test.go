package cotter

// LiveObjects is the number of C objects owned by Go values and not freed yet (tests only).
func LiveObjects() int64 { return liveObjects.Load() }
