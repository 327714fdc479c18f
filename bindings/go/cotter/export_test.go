package cotter

// LiveObjects is the number of C objects owned by Go values and not freed yet (tests only).
func LiveObjects() int64 { return liveObjects.Load() }

// CallsInFlight is the number of asynchronous calls started and not yet completed and freed (tests only).
func CallsInFlight() int64 { return callsInFlight.Load() }

// RegisteredCallbacks is the number of Go values C can call back into (tests only): hooks of open objects
// (and of closed ones whose calls are in flight) and the completion of each call in flight.
func RegisteredCallbacks() int64 { return callbacks.count.Load() }

// StoreWaitsInFlight is the number of shared-store adapter waits started and not yet completed (tests only).
func StoreWaitsInFlight() int64 { return waitsInFlight.Load() }
