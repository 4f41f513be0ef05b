//! The HTTP client the sinks share (reqwest on rustls with the ring provider) and the
//! classification of answers into delivered, retryable and refused.

use std::time::Duration;

use crate::DeliveryError;

/// `crowsnest/<version>`.
pub(crate) const USER_AGENT: &str = concat!("crowsnest/", env!("CARGO_PKG_VERSION"));

/// A client with `timeout` per request.
pub(crate) fn client(timeout: Duration, insecure_tls: bool) -> reqwest::Result<reqwest::Client> {
    // One process-wide provider; a second install (another sink) is a no-op error.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let builder = || {
        reqwest::Client::builder()
            .user_agent(USER_AGENT)
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .pool_idle_timeout(Duration::from_secs(60))
            .tls_danger_accept_invalid_certs(insecure_tls)
    };
    match builder().build() {
        Ok(client) => Ok(client),
        // A machine (or a FROM scratch image) without a CA bundle: plain http:// sinks must
        // still work; an https:// sink then fails each delivery with the unknown issuer named.
        Err(e) => {
            tracing::warn!(
                error = %e,
                "no CA certificates on this system: https sinks cannot verify their servers"
            );
            builder().tls_certs_only([]).build()
        }
    }
}

/// A request that got no answer: always worth a retry.
pub(crate) fn send_error(e: &reqwest::Error) -> DeliveryError {
    let what = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "cannot connect"
    } else {
        "request failed"
    };
    // reqwest's Display leaves out the cause (connection refused, ...): add the chain.
    let mut msg = format!("{what}: {e}");
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        source = s.source();
    }
    DeliveryError::Retryable(msg)
}

/// Classifies an answer other than 2xx: 408, 429 and 5xx are retried, 413 is too large,
/// other 4xx are refusals.
pub(crate) fn classify(status: u16, body: &str) -> DeliveryError {
    let message = body.trim().chars().take(500).collect::<String>();
    match status {
        408 | 429 | 500..=599 => DeliveryError::Retryable(format!("HTTP {status}: {message}")),
        413 => DeliveryError::TooLarge(message),
        _ => DeliveryError::Rejected { status, message },
    }
}

/// Sends `req` and classifies the answer.
pub(crate) async fn send(req: reqwest::RequestBuilder) -> Result<(), DeliveryError> {
    let resp = req.send().await.map_err(|e| send_error(&e))?;
    let status = resp.status();
    if status.is_success() {
        return Ok(());
    }
    let body = resp.text().await.unwrap_or_default();
    Err(classify(status.as_u16(), &body))
}
