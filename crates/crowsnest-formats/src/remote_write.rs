//! Prometheus remote write 1.0: the protobuf `WriteRequest { TimeSeries { Label, Sample } }`
//! (`prompb/remote.proto`, `prompb/types.proto`), derived with prost (no protoc), and the
//! snappy block compression the protocol requires.
//!
//! [`Encoder::encode`] writes the protobuf bytes of one `WriteRequest` per batch directly
//! (no message structs per sample); the derived [`WriteRequest`] is for decoding and tests.
//! Two encoded requests concatenated are one valid request holding both series lists
//! (repeated fields concatenate), so a sender can join queued batches without decoding them.
//! One series per sample; labels sorted by name, `__name__` among them, empty values left
//! out; sample timestamps in milliseconds. [`names`] has the name and label mapping.

pub mod names;

use std::collections::HashMap;
use std::sync::Arc;

use crowsnest_core::batch::{Batch, Labels, Value, label};
use prost::encoding::{WireType, encode_key, encode_varint, encoded_len_varint};

use names::{PromMetric, Scale};

/// The `Content-Type` of a remote write request.
pub const CONTENT_TYPE: &str = "application/x-protobuf";
/// The protocol version header value (`X-Prometheus-Remote-Write-Version`).
pub const VERSION: &str = "0.1.0";

/// `prometheus.WriteRequest`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct WriteRequest {
    /// The series.
    #[prost(message, repeated, tag = "1")]
    pub timeseries: Vec<TimeSeries>,
}

/// `prometheus.TimeSeries` (exemplars and histograms are not written).
#[derive(Clone, PartialEq, prost::Message)]
pub struct TimeSeries {
    /// Labels, sorted by name, `__name__` included.
    #[prost(message, repeated, tag = "1")]
    pub labels: Vec<Label>,
    /// Samples, oldest first.
    #[prost(message, repeated, tag = "2")]
    pub samples: Vec<Sample>,
}

/// `prometheus.Label`.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct Label {
    /// Name.
    #[prost(string, tag = "1")]
    pub name: String,
    /// Value.
    #[prost(string, tag = "2")]
    pub value: String,
}

/// `prometheus.Sample`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Sample {
    /// Value.
    #[prost(double, tag = "1")]
    pub value: f64,
    /// Milliseconds since the epoch.
    #[prost(int64, tag = "2")]
    pub timestamp: i64,
}

/// A remote write payload that cannot be read back.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The snappy block is corrupt.
    #[error("remote write body: snappy block: {0}")]
    Snappy(#[from] snap::Error),
    /// The protobuf is corrupt.
    #[error("remote write body: protobuf WriteRequest: {0}")]
    Protobuf(#[from] prost::DecodeError),
}

/// Compresses an encoded request with snappy's block format (not the framed one).
pub fn compress(raw: &[u8]) -> Result<Vec<u8>, Error> {
    Ok(snap::raw::Encoder::new().compress_vec(raw)?)
}

/// Reads a compressed request back (for tests and receivers).
pub fn decode(body: &[u8]) -> Result<WriteRequest, Error> {
    let raw = snap::raw::Decoder::new().decompress_vec(body)?;
    decode_uncompressed(&raw)
}

/// Reads an uncompressed request back.
pub fn decode_uncompressed(raw: &[u8]) -> Result<WriteRequest, Error> {
    Ok(<WriteRequest as prost::Message>::decode(raw)?)
}

/// What one call to [`Encoder::encode`] wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Encoded {
    /// Series (one sample each) appended.
    pub series: usize,
}

/// Labels of one canonical label set, mapped and sorted, kept while samples share it.
#[derive(Debug, Default)]
struct LabelCache {
    labels: Option<Arc<Labels>>,
    mapped: Vec<(String, String)>,
}

/// The Prometheus labels of a canonical label set (see [`names`]), without `__name__`.
pub fn map_labels(labels: &Labels) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::with_capacity(labels.len() + 4);
    let node = labels.get(label::NODENAME);
    for (k, v) in labels.iter() {
        if v.is_empty() || k == label::LABELS {
            continue;
        }
        let name = match names::label_name(k) {
            Some(n) => n.to_owned(),
            None if k == label::HOSTNAME && Some(v) == node => continue,
            None => names::sanitize("", k),
        };
        out.push((name, v.to_owned()));
    }
    if let Some(runtime) = labels.get(label::LABELS) {
        for (k, v) in runtime.split(',').filter_map(|kv| kv.split_once(':')) {
            if !v.is_empty() {
                out.push((names::sanitize("container_label_", k), v.to_owned()));
            }
        }
    }
    // Ours first, then runtime labels: a stable sort keeps the first of equal names.
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out.dedup_by(|later, first| later.0 == first.0);
    out
}

/// Writes batches as remote write protobuf.
#[derive(Debug, Default)]
pub struct Encoder {
    cache: LabelCache,
    by_rule: HashMap<String, (String, Scale)>,
    pairs: Vec<(usize, usize)>,
}

impl Encoder {
    /// A new encoder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends the protobuf of one `WriteRequest` holding `batch` to `out` (uncompressed).
    pub fn encode(&mut self, batch: &Batch, out: &mut Vec<u8>) -> Encoded {
        let ts = batch.timestamp.millis();
        let mut e = Encoded::default();
        for s in &batch.samples {
            let (name, scale, fixed): (&str, Scale, &[(&str, &str)]) =
                match names::lookup(&s.metric) {
                    Some(&PromMetric {
                        name,
                        scale,
                        labels,
                    }) => (name, scale, labels),
                    None => {
                        let (n, sc) = self
                            .by_rule
                            .entry(s.metric.to_string())
                            .or_insert_with(|| names::by_rule(&s.metric, s.kind, s.unit));
                        (n.as_str(), *sc, &[])
                    }
                };
            let hit = self
                .cache
                .labels
                .as_ref()
                .is_some_and(|l| Arc::ptr_eq(l, &s.labels) || **l == *s.labels);
            if !hit {
                self.cache.mapped = map_labels(&s.labels);
                self.cache.labels = Some(s.labels.clone());
            }
            let value = match (scale, s.value) {
                (Scale::One, v) => v.as_f64(),
                (Scale::Factor(f), Value::Int(i)) => i as f64 * f,
                (Scale::Factor(f), Value::Float(x)) => x * f,
                (Scale::StartTime, v) => (ts as f64 - v.as_f64()) / 1e3,
            };
            write_series(
                out,
                name,
                fixed,
                &self.cache.mapped,
                &mut self.pairs,
                value,
                ts,
            );
            e.series += 1;
        }
        e
    }
}

fn label_len(name: &str, value: &str) -> usize {
    let n = name.len();
    let v = value.len();
    1 + encoded_len_varint(n as u64) + n + 1 + encoded_len_varint(v as u64) + v
}

fn write_label(out: &mut Vec<u8>, name: &str, value: &str) {
    encode_key(1, WireType::LengthDelimited, out);
    encode_varint(label_len(name, value) as u64, out);
    encode_key(1, WireType::LengthDelimited, out);
    encode_varint(name.len() as u64, out);
    out.extend_from_slice(name.as_bytes());
    encode_key(2, WireType::LengthDelimited, out);
    encode_varint(value.len() as u64, out);
    out.extend_from_slice(value.as_bytes());
}

/// Appends one `timeseries` field: `__name__`, the fixed and mapped labels merged in name
/// order (a fixed label wins over a mapped one of the same name), one sample.
fn write_series(
    out: &mut Vec<u8>,
    name: &str,
    fixed: &[(&str, &str)],
    mapped: &[(String, String)],
    order: &mut Vec<(usize, usize)>,
    value: f64,
    ts: i64,
) {
    // All label pairs by reference: (source, index); source 0 = __name__, 1 = fixed, 2 = mapped.
    order.clear();
    order.push((0, 0));
    order.extend((0..fixed.len()).map(|i| (1, i)));
    order.extend(
        mapped
            .iter()
            .enumerate()
            .filter(|(_, (k, _))| k != "__name__" && !fixed.iter().any(|(f, _)| f == k))
            .map(|(i, _)| (2, i)),
    );
    let get = |&(src, i): &(usize, usize)| -> (&str, &str) {
        match src {
            0 => ("__name__", name),
            1 => fixed[i],
            _ => (mapped[i].0.as_str(), mapped[i].1.as_str()),
        }
    };
    order.sort_by(|a, b| get(a).0.cmp(get(b).0));
    let sample_len = 1 + 8 + 1 + encoded_len_varint(ts as u64);
    let labels_len: usize = order
        .iter()
        .map(|p| {
            let (n, v) = get(p);
            let l = label_len(n, v);
            1 + encoded_len_varint(l as u64) + l
        })
        .sum();
    let series_len = labels_len + 1 + encoded_len_varint(sample_len as u64) + sample_len;
    encode_key(1, WireType::LengthDelimited, out);
    encode_varint(series_len as u64, out);
    for p in order.iter() {
        let (n, v) = get(p);
        write_label(out, n, v);
    }
    encode_key(2, WireType::LengthDelimited, out);
    encode_varint(sample_len as u64, out);
    encode_key(1, WireType::SixtyFourBit, out);
    out.extend_from_slice(&value.to_le_bytes());
    encode_key(2, WireType::Varint, out);
    encode_varint(ts as u64, out);
}

#[cfg(test)]
mod tests;
