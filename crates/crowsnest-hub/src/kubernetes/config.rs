//! `--source=kubernetes:<master URL>?<options>` and `kubernetes.summary_api:...`, with
//! Heapster's options (`common/kubernetes/configs.go`, `metrics/sources/kubelet/configs.go`):
//! `inClusterConfig` (true), `kubeletPort` (10255), `kubeletHttps` (false), `insecure`,
//! `auth` (a kubeconfig file), `useServiceAccount` (false), `apiVersion` (v1), and for the
//! summary source `host_id_annotation`; plus crowsnest's `useKubeletSummary`: scrape the
//! kubelets' Summary API (`/stats/summary`) instead of the crowsnest agents on the nodes
//! (default: false for `kubernetes:`, true for `kubernetes.summary_api:`). An unknown option
//! is refused with its name.

use std::path::PathBuf;

use crate::config::{parse_bool, query_pairs};

/// Heapster's default kubelet port (the read-only port; modern kubelets serve 10250 over
/// HTTPS only: `kubeletPort=10250&kubeletHttps=true`).
pub const DEFAULT_KUBELET_PORT: u16 = 10255;
/// Where a pod finds its service account.
pub const SERVICE_ACCOUNT_DIR: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

/// The options Heapster's Kubernetes sources took, and crowsnest's.
const OPTIONS: &[&str] = &[
    "inClusterConfig",
    "kubeletPort",
    "kubeletHttps",
    "insecure",
    "auth",
    "useServiceAccount",
    "apiVersion",
    "host_id_annotation",
    "useKubeletSummary",
];

/// A Kubernetes source, as configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KubernetesSpec {
    /// The URI as given (for messages and the source's name).
    pub uri: String,
    /// The API server from the URI (`https://host:port`), if it names one; with
    /// `inClusterConfig` it overrides the in-cluster address.
    pub server: Option<String>,
    /// User and password from the URI (`https://user:pw@host`), for basic auth.
    pub basic_auth: Option<(String, String)>,
    /// Use the pod's service account and `KUBERNETES_SERVICE_HOST`/`_PORT`.
    pub in_cluster: bool,
    /// The kubelets' port for the Summary API.
    pub kubelet_port: u16,
    /// Talk HTTPS to the kubelets.
    pub kubelet_https: bool,
    /// Do not verify the API server's (and kubelets') certificates.
    pub insecure: bool,
    /// A kubeconfig file (`auth=`), used when not in-cluster.
    pub kubeconfig: Option<PathBuf>,
    /// Send the service account's token even when not in-cluster.
    pub use_service_account: bool,
    /// Scrape the kubelets' `/stats/summary` instead of crowsnest agents.
    pub summary: bool,
    /// The agents' port (`--agent-port`), when scraping agents.
    pub agent_port: u16,
    /// A node annotation that gives `host_id` when `spec.externalID` is empty.
    pub host_id_annotation: Option<String>,
    /// Where the service account's token and CA are (tests point it elsewhere).
    pub service_account_dir: PathBuf,
}

impl KubernetesSpec {
    /// Parses the part after `kubernetes:` (`kind` is `kubernetes` or
    /// `kubernetes.summary_api`); the error is the reason, the caller names the URI.
    pub fn parse(
        uri: &str,
        kind: &str,
        config: &str,
        query: &str,
        agent_port: u16,
    ) -> Result<KubernetesSpec, String> {
        let mut spec = KubernetesSpec {
            uri: uri.to_owned(),
            server: None,
            basic_auth: None,
            in_cluster: true,
            kubelet_port: DEFAULT_KUBELET_PORT,
            kubelet_https: false,
            insecure: false,
            kubeconfig: None,
            use_service_account: false,
            summary: kind == "kubernetes.summary_api",
            agent_port,
            host_id_annotation: None,
            service_account_dir: PathBuf::from(SERVICE_ACCOUNT_DIR),
        };
        let config = config.trim_matches(|c| c == '\'' || c == '"');
        if !config.is_empty() {
            let (server, auth) = parse_server(config)?;
            spec.server = Some(server);
            spec.basic_auth = auth;
        }
        let flag = |k: &str, v: &str| {
            parse_bool(v).ok_or_else(|| format!("{k} {v:?} is not true or false"))
        };
        for (key, value) in query_pairs(query)? {
            match key.as_str() {
                "inClusterConfig" => spec.in_cluster = flag(&key, &value)?,
                "kubeletPort" => {
                    spec.kubelet_port = value
                        .parse::<u16>()
                        .ok()
                        .filter(|p| *p != 0)
                        .ok_or_else(|| format!("kubeletPort {value:?} is not a port"))?;
                }
                "kubeletHttps" => spec.kubelet_https = flag(&key, &value)?,
                "insecure" => spec.insecure = flag(&key, &value)?,
                "auth" => spec.kubeconfig = (!value.is_empty()).then(|| PathBuf::from(&value)),
                "useServiceAccount" => spec.use_service_account = flag(&key, &value)?,
                "apiVersion" => {
                    if value != "v1" && !value.is_empty() {
                        return Err(format!(
                            "apiVersion {value:?}: only the core API v1 is read"
                        ));
                    }
                }
                "host_id_annotation" => {
                    spec.host_id_annotation = (!value.is_empty()).then_some(value);
                }
                "useKubeletSummary" => spec.summary = flag(&key, &value)?,
                other => {
                    return Err(format!(
                        "unknown option {other:?} (known: {})",
                        OPTIONS.join(", ")
                    ));
                }
            }
        }
        if !spec.in_cluster && spec.server.is_none() && spec.kubeconfig.is_none() {
            return Err(
                "no API server: give kubernetes:https://HOST[:PORT], auth=KUBECONFIG, or \
                 inClusterConfig=true inside a pod"
                    .into(),
            );
        }
        Ok(spec)
    }

    /// The source's name in statuses and logs.
    pub fn name(&self) -> String {
        let server = self.server.as_deref().unwrap_or("in-cluster");
        if self.summary {
            format!("kubernetes {server} (kubelet summary)")
        } else {
            format!("kubernetes {server}")
        }
    }
}

/// `scheme://[user:pw@]host[:port][/]` into `scheme://host[:port]` and the credentials.
fn parse_server(text: &str) -> Result<(String, Option<(String, String)>), String> {
    let (scheme, rest) = text
        .split_once("://")
        .ok_or_else(|| format!("{text:?} is not a URL like https://HOST[:PORT]"))?;
    if scheme != "http" && scheme != "https" {
        return Err(format!("{text:?}: the scheme must be http or https"));
    }
    let rest = rest.trim_end_matches('/');
    if rest.contains('/') {
        return Err(format!("{text:?}: the API server URL has no path"));
    }
    let (auth, host) = match rest.rsplit_once('@') {
        Some((a, h)) => {
            let (u, p) = a.split_once(':').unwrap_or((a, ""));
            let dec = |s: &str| crate::config::percent_decode(s);
            (Some((dec(u)?, dec(p)?)), h)
        }
        None => (None, rest),
    };
    if host.is_empty() {
        return Err(format!("{text:?}: the host is empty"));
    }
    Ok((format!("{scheme}://{host}"), auth))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(uri: &str) -> Result<KubernetesSpec, String> {
        let (kind, rest) = uri.split_once(':').unwrap();
        let (config, query) = rest.split_once('?').unwrap_or((rest, ""));
        KubernetesSpec::parse(uri, kind, config, query, 8080)
    }

    #[test]
    fn heapster_options_and_defaults() {
        let s = parse("kubernetes:https://kubernetes.default").unwrap();
        assert_eq!(s.server.as_deref(), Some("https://kubernetes.default"));
        assert!(s.in_cluster && !s.summary && !s.kubelet_https && !s.insecure);
        assert_eq!(s.kubelet_port, 10255);
        let s = parse(
            "kubernetes:http://u:p%40ss@127.0.0.1:8001/?inClusterConfig=false&kubeletPort=10250\
             &kubeletHttps=true&insecure=true&auth=&useServiceAccount=true&apiVersion=v1",
        )
        .unwrap();
        assert_eq!(s.server.as_deref(), Some("http://127.0.0.1:8001"));
        assert_eq!(s.basic_auth, Some(("u".into(), "p@ss".into())));
        assert!(!s.in_cluster && s.kubelet_https && s.insecure && s.use_service_account);
        assert_eq!(s.kubelet_port, 10250);
        assert!(parse("kubernetes.summary_api:''").unwrap().summary);
        assert!(
            !parse("kubernetes.summary_api:?useKubeletSummary=false")
                .unwrap()
                .summary
        );
        let s = parse("kubernetes:?inClusterConfig=false&auth=/etc/kube/config").unwrap();
        assert_eq!(s.kubeconfig, Some(PathBuf::from("/etc/kube/config")));
        assert_eq!(s.name(), "kubernetes in-cluster");
    }

    #[test]
    fn bad_options_are_named() {
        for (uri, want) in [
            ("kubernetes:https://k?bogus=1", "unknown option \"bogus\""),
            ("kubernetes:https://k?kubeletPort=0", "kubeletPort"),
            (
                "kubernetes:https://k?kubeletHttps=yes",
                "kubeletHttps \"yes\"",
            ),
            ("kubernetes:https://k?apiVersion=v2", "apiVersion"),
            ("kubernetes:ftp://k", "scheme"),
            ("kubernetes:k8s.local", "not a URL"),
            ("kubernetes:?inClusterConfig=false", "no API server"),
        ] {
            let e = parse(uri).unwrap_err();
            assert!(e.contains(want), "{uri}: {e}");
        }
    }
}
