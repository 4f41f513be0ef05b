//! The embedded time-series store of crowsnest.
//!
//! It owns keeping samples: batches of canonical samples (`crowsnest_core::batch`) go in,
//! range queries come out, and in between they are compressed (delta-of-delta integers, XOR
//! floats, timestamps shared by the series of a batch), persisted (segment files, a
//! write-ahead log, a series log; magic, version and crc32 everywhere), rolled up (10 s and
//! 1 m: min, max, sum, count, first, last, and counter increases), kept for a bounded time and
//! within a memory budget. See README.md for the format and docs/ARCHITECTURE.md for its
//! place.
//!
//! It must never import another crowsnest crate than `crowsnest-core`, nor anything async:
//! callers share a [`Store`] between threads (`&self` everywhere, internal locks) and run
//! [`Store::maintain`] periodically themselves.
//!
//! ```no_run
//! # use std::sync::Arc;
//! # use crowsnest_core::{SystemClock, Timestamp};
//! # use crowsnest_store::*;
//! let store = Store::open(StoreConfig::new("/var/lib/crowsnest"), Arc::new(SystemClock))?;
//! # let batch = crowsnest_core::batch::Batch { timestamp: Timestamp(0), samples: vec![] };
//! store.append(&batch)?;
//! let cpu = store.query(&Query {
//!     selector: Selector::metric("cpu/usage").with("id", "/docker/abc"),
//!     start: Timestamp::from_secs(1_700_000_000),
//!     end: Timestamp::from_secs(1_700_003_600),
//!     step: Some(std::time::Duration::from_secs(60)),
//!     agg: Agg::Rate,
//! })?;
//! # Ok::<(), crowsnest_store::Error>(())
//! ```

mod block;
mod chunk;
mod codec;
mod compact;
mod config;
mod error;
mod hash;
mod head;
mod index;
mod maintain;
mod open;
mod query;
mod record;
mod rollup;
mod segment;
mod series;
mod serieslog;
mod stats;
mod store;
mod verify;
mod wal;

pub use config::{StoreConfig, SyncPolicy};
pub use error::{Error, Result};
pub use index::{Selector, SeriesInfo};
pub use maintain::MaintainReport;
pub use query::{Agg, Query, SeriesResult};
pub use stats::{Dropped, StoreStats};
pub use store::{AppendStats, DEFAULT_QUERY_MAX_POINTS, Store};
pub use verify::check_segment_bytes;
