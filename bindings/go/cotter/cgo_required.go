//go:build !cgo

package cotter

// This package binds the C library libcotter through cgo. With cgo disabled (CGO_ENABLED=0, or no C compiler
// for a cross build) Go leaves out every file that imports "C" (and middleware.go, tagged cgo, which uses
// their types), so without this file the build would stop on "undefined: Verifier". This file is then the
// whole package, and its one declaration is a type error whose text is the reason (scripts/test-package.sh).
var _ int = "cotter requires cgo and the C library libcotter: build with CGO_ENABLED=1 and a C compiler, with libcotter installed where pkg-config finds cotter.pc (docs/go.md)"
