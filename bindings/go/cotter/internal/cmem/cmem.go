// Package cmem reads the C heap's statistics (glibc mallinfo2), for the leak tests: the bytes malloc has
// handed out and not had back, over every arena, whatever the Go runtime does with its own memory.
package cmem

// #include <malloc.h>
import "C"

// InUse is the number of bytes currently allocated with malloc (small chunks plus mmapped ones).
func InUse() int64 {
	m := C.mallinfo2()
	return int64(m.uordblks) + int64(m.hblkhd)
}

// Trim returns the C heap's free memory to the system (glibc malloc_trim), so that the resident set shows
// what is allocated rather than what the allocator keeps for later.
func Trim() { C.malloc_trim(0) }
