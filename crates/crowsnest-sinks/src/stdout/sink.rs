//! JSON lines: one object per sample, `{"timestamp","metric","kind","unit","labels","value"}`.

use crowsnest_core::Timestamp;
use crowsnest_core::batch::{Batch, Kind, Labels, Unit, Value};
use serde::Serialize;
use tokio::io::{AsyncWrite, AsyncWriteExt};

use crate::{DeliveryError, Encode, Encoded};

#[derive(Serialize)]
struct Line<'a> {
    timestamp: Timestamp,
    metric: &'a str,
    kind: Kind,
    unit: Unit,
    labels: &'a Labels,
    value: Value,
}

/// One JSON object per sample, each ending in `\n`. Non-finite floats are written as
/// `null` (JSON has no NaN).
#[derive(Debug, Default)]
pub struct StdoutEncode;

impl Encode for StdoutEncode {
    fn encode(&mut self, batch: &Batch, out: &mut Vec<u8>) -> Encoded {
        let mut e = Encoded::default();
        for s in &batch.samples {
            let line = Line {
                timestamp: batch.timestamp,
                metric: &s.metric,
                kind: s.kind,
                unit: s.unit,
                labels: &s.labels,
                value: s.value,
            };
            let mark = out.len();
            if serde_json::to_writer(&mut *out, &line).is_ok() {
                out.push(b'\n');
                e.items += 1;
            } else {
                out.truncate(mark);
                e.unencodable += 1;
            }
        }
        e
    }
}

/// Writes bodies to a writer (standard output, or what a test gives).
pub struct StdoutDeliver {
    out: Box<dyn AsyncWrite + Unpin + Send>,
}

impl std::fmt::Debug for StdoutDeliver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StdoutDeliver").finish_non_exhaustive()
    }
}

impl StdoutDeliver {
    /// Writes to `out`.
    pub fn new(out: Box<dyn AsyncWrite + Unpin + Send>) -> Self {
        StdoutDeliver { out }
    }
}

impl crate::Deliver for StdoutDeliver {
    async fn deliver(&mut self, body: &[u8]) -> Result<(), DeliveryError> {
        let r = async {
            self.out.write_all(body).await?;
            self.out.flush().await
        };
        r.await
            .map_err(|e| DeliveryError::Retryable(format!("standard output: {e}")))
    }

    fn first_item(&self, body: &[u8]) -> String {
        let line = body.split(|&b| b == b'\n').next().unwrap_or_default();
        String::from_utf8_lossy(line).into_owned()
    }
}
