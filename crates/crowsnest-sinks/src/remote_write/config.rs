//! Remote write sink settings, from the URI's options.

use reqwest::Url;

use crate::uri::{Options, UriError, percent_decode};

/// A Prometheus remote write sink (Prometheus with `--web.enable-remote-write-receiver`,
/// VictoriaMetrics, or anything else that takes remote write 1.0).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The write endpoint. For the `prometheus:` and `victoriametrics:` kinds, and for
    /// `remote_write:` with no path, `/api/v1/write` is used.
    pub url: Url,
    /// Basic auth user (`user`, or the URL's user).
    pub user: Option<String>,
    /// Basic auth password (`pw`/`password`, or the URL's password).
    pub password: Option<String>,
    /// Bearer token (`token`).
    pub token: Option<String>,
    /// Accept any TLS certificate (`insecuressl`; false).
    pub insecure_tls: bool,
}

impl Config {
    /// `host-port`, for the default sink name.
    pub fn target_name(&self) -> String {
        let host = self.url.host_str().unwrap_or("host");
        let port = self.url.port_or_known_default().unwrap_or(0);
        format!("{host}-{port}")
    }

    pub(crate) fn from_uri(mut url: Url, kind: &str, o: &mut Options) -> Result<Config, UriError> {
        let url_user = (!url.username().is_empty()).then(|| percent_decode(url.username()));
        let url_password = url.password().map(percent_decode);
        let _ = url.set_username("");
        let _ = url.set_password(None);
        url.set_query(None);
        if url.path().is_empty() || url.path() == "/" {
            url.set_path("/api/v1/write");
        } else if kind != "remote_write" && url.path() != "/api/v1/write" {
            return Err(o.error(
                "path",
                url.path(),
                format!("{kind}: writes go to /api/v1/write; give no path or use remote_write:"),
            ));
        }
        let user = o.take("user").or(url_user);
        let password = o.take("pw").or_else(|| o.take("password")).or(url_password);
        let token = o.take("token");
        if token.is_some() && (user.is_some() || password.is_some()) {
            return Err(o.error("token", "***", "use either token or user/pw, not both"));
        }
        Ok(Config {
            url,
            user,
            password,
            token,
            insecure_tls: o.bool("insecuressl", false)?,
        })
    }
}
