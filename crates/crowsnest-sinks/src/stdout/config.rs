//! Stdout sink settings (none besides the common ones).

/// The stdout sink: one JSON object per sample and line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Config {}
