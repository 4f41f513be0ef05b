//! Encoding batches as remote write protobuf and posting them snappy-compressed.

use crowsnest_core::batch::Batch;
use crowsnest_formats::remote_write as rw;
use reqwest::Url;
use reqwest::header::{AUTHORIZATION, CONTENT_ENCODING, CONTENT_TYPE};

use super::config::Config;
use crate::uri::Common;
use crate::{DeliveryError, Encode, Encoded, http};

/// Protobuf `WriteRequest`s, uncompressed in the queue (they concatenate); compressed per
/// request.
#[derive(Debug, Default)]
pub struct RemoteWriteEncode {
    enc: rw::Encoder,
}

impl Encode for RemoteWriteEncode {
    fn encode(&mut self, batch: &Batch, out: &mut Vec<u8>) -> Encoded {
        let e = self.enc.encode(batch, out);
        Encoded {
            items: u32::try_from(e.series).unwrap_or(u32::MAX),
            unencodable: 0,
        }
    }
}

/// Posts to the remote write endpoint with `Content-Encoding: snappy` and
/// `X-Prometheus-Remote-Write-Version: 0.1.0`.
#[derive(Debug)]
pub struct RemoteWriteDeliver {
    client: reqwest::Client,
    url: Url,
    config: Config,
}

impl RemoteWriteDeliver {
    /// A writer for `config`.
    pub fn new(config: &Config, common: &Common) -> reqwest::Result<Self> {
        Ok(RemoteWriteDeliver {
            client: http::client(common.timeout, config.insecure_tls)?,
            url: config.url.clone(),
            config: config.clone(),
        })
    }
}

impl crate::Deliver for RemoteWriteDeliver {
    async fn deliver(&mut self, body: &[u8]) -> Result<(), DeliveryError> {
        let compressed =
            rw::compress(body).map_err(|e| DeliveryError::Retryable(format!("snappy: {e}")))?;
        let mut req = self
            .client
            .post(self.url.clone())
            .header(CONTENT_TYPE, rw::CONTENT_TYPE)
            .header(CONTENT_ENCODING, "snappy")
            .header("X-Prometheus-Remote-Write-Version", rw::VERSION)
            .body(compressed);
        if let Some(t) = &self.config.token {
            req = req.header(AUTHORIZATION, format!("Bearer {t}"));
        } else if let Some(u) = &self.config.user {
            req = req.basic_auth(u, self.config.password.as_deref());
        }
        http::send(req).await
    }

    fn first_item(&self, body: &[u8]) -> String {
        match rw::decode_uncompressed(body) {
            Ok(req) => req
                .timeseries
                .first()
                .map(|ts| {
                    let labels: Vec<String> = ts
                        .labels
                        .iter()
                        .map(|l| format!("{}={:?}", l.name, l.value))
                        .collect();
                    let sample = ts
                        .samples
                        .first()
                        .map(|s| format!(" {} @{}", s.value, s.timestamp))
                        .unwrap_or_default();
                    format!("{{{}}}{sample}", labels.join(","))
                })
                .unwrap_or_default(),
            Err(e) => format!("(undecodable: {e})"),
        }
    }
}
