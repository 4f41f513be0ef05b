//! Integration tests of the store: one binary (see STYLE.md), one module per concern. Real
//! files in temporary directories, a real child process killed with SIGKILL; no mocks.

// clippy's allow-unwrap-in-tests covers `#[test]` functions only, not their helpers.
#![allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]

mod basics;
mod budget;
mod churn;
mod corruption;
mod crash;
mod queries;
mod retention;
mod support;
