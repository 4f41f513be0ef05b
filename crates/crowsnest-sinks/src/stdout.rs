//! The stdout sink.

pub mod config;
pub mod sink;

#[cfg(test)]
mod tests;

pub use config::Config;
