//! The collector's integration tests, one binary.

// clippy's allow-unwrap-in-tests covers `#[test]` functions only, not their helpers.
#![allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]

mod fixtures;
mod spec;
