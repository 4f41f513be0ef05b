//! Why an API request failed, and the HTTP answer for each case.
//!
//! Client mistakes are 4xx with a JSON body `{"error": "..."}` naming what was wrong. Unlike
//! cAdvisor, which answers 500 to every failure, an unknown container is a 404 and a bad
//! option a 400; a request for more stored samples than `--query-max-points` allows is a
//! 422. The two listings cAdvisor answers with 400 and plain text (`/api` and
//! `/api/<version>`) are 400 with the same text in a JSON `error`. Whatever else answers an
//! error without JSON (the router's 404 and 405, a body over the size limit) is turned into
//! `{"error": "..."}` by [`json_errors`].

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::history::HistoryError;

/// A failed API request.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ApiError {
    /// `/api` or `/api/`: which versions exist (cAdvisor's text).
    #[error("Supported API versions: {0}")]
    ListVersions(String),
    /// `/api/<version>` without a request type: which types exist (cAdvisor's text).
    #[error("Supported request types: {0:?}")]
    ListRequestTypes(String),
    /// The version is not one we serve.
    #[error("unsupported API version {0:?}")]
    UnknownVersion(String),
    /// The request type is not one this version serves.
    #[error("unknown request type {kind:?} in API {version} (supported: {supported})")]
    UnknownRequestType {
        /// The version asked for.
        version: &'static str,
        /// The request type asked for.
        kind: String,
        /// What the version serves, comma-separated.
        supported: String,
    },
    /// No container has this name (or id, or alias).
    #[error("unknown container {0:?}")]
    UnknownContainer(String),
    /// A prefix of an id or alias matches more than one container.
    #[error("container {0:?} is not unique")]
    Ambiguous(String),
    /// An option has a value we cannot use.
    #[error("invalid option {option}={value:?}: {reason}")]
    BadOption {
        /// The option's name (`num_stats`, `count`, ...).
        option: &'static str,
        /// The value given, as text.
        value: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The JSON request body (v1 options) cannot be read.
    #[error("invalid JSON request body: {0}")]
    BadBody(String),
    /// The path cannot be decoded or has too many parts.
    #[error("invalid request path {path:?}: {reason}")]
    BadPath {
        /// The path as sent.
        path: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// Older samples could not be read from the store, or would be too many.
    #[error(transparent)]
    History(#[from] crate::history::HistoryError),
    /// The request's handler failed (a bug).
    #[error("the request failed: {0}")]
    Panicked(String),
    /// The answer could not be encoded (a bug).
    #[error("cannot encode the response: {0}")]
    Encode(#[from] serde_json::Error),
}

impl ApiError {
    /// The HTTP status of this failure.
    pub(crate) fn status(&self) -> StatusCode {
        match self {
            ApiError::UnknownContainer(_) => StatusCode::NOT_FOUND,
            ApiError::History(HistoryError::TooLarge { .. }) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Encode(_) | ApiError::History(_) | ApiError::Panicked(_) => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
            _ => StatusCode::BAD_REQUEST,
        }
    }

    /// A bad option with its value and reason.
    pub(crate) fn bad_option(
        option: &'static str,
        value: impl Into<String>,
        reason: impl Into<String>,
    ) -> Self {
        ApiError::BadOption {
            option,
            value: value.into(),
            reason: reason.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        json_error(status, &self.to_string())
    }
}

pub(crate) use crowsnest_serve::errors::{json_error, json_errors};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses() {
        assert_eq!(
            ApiError::UnknownContainer("/x".into()).status(),
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            ApiError::bad_option("count", "-2", "too small").status(),
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            ApiError::UnknownVersion("v9".into()).status(),
            StatusCode::BAD_REQUEST
        );
    }

    #[test]
    fn messages_name_the_culprit() {
        assert_eq!(
            ApiError::UnknownContainer("/x".into()).to_string(),
            r#"unknown container "/x""#
        );
        assert_eq!(
            ApiError::bad_option("num_stats", "abc", "expected an integer").to_string(),
            r#"invalid option num_stats="abc": expected an integer"#
        );
        assert_eq!(
            ApiError::ListRequestTypes("containers,machine".into()).to_string(),
            r#"Supported request types: "containers,machine""#
        );
    }
}
