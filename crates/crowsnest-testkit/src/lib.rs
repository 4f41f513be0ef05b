//! Dev-only helpers (in progress).
