//! Test kit for the [`upload_session`] core: harness functions that take raw bytes, drive the
//! machine through the inputs they decode (answers of any status and body, dropped and lost
//! requests, clock jumps, cancels, crashes with save and restore) against a small model of the
//! Graph server, and check the invariants every driver relies on (DESIGN.md §4): no panic, no
//! malformed or out-of-order PUT, no token off Graph's origin or in saved state, bounded
//! requests, no wait before a `Retry-After`, `Done` only after the server confirmed it.
//!
//! The fuzz targets in `fuzz/` are two-line shims over [`fuzzing`]; `tests/` replays their
//! corpora and findings under stable `cargo test`.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod fuzzing;
