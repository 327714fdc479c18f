//! @file lib.rs
//! @brief Raw declarations of libcotter's C ABI.
//!
//! Every item of `capi/include/cotter.h`: status codes, opaque objects, options structs with their
//! `*_INIT` values, callback types and functions. The declarations are generated from `capi/abi.json`, the
//! description cotter.h is itself generated from, by `scripts/gen.py` (bindgen would need libclang at build
//! time); `tests/layout.rs` compares each struct's layout with the C compiler's when the tests run. Use the
//! `cotter` crate for a safe API.
#![no_std]
#![allow(non_camel_case_types, non_upper_case_globals)]

mod bindings;
pub use bindings::*;
