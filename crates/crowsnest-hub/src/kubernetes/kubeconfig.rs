//! A kubeconfig file (`auth=`), the parts a read-only client needs: the current context's
//! cluster (`server`, `certificate-authority[-data]`, `insecure-skip-tls-verify`) and user
//! (`token`, `tokenFile`, `client-certificate[-data]` with `client-key[-data]`, `username` and
//! `password`). Relative paths are relative to the file, as kubectl reads them. Exec and
//! auth-provider plugins are not run: such a user is refused with a message saying so.

use std::path::{Path, PathBuf};

use serde::Deserialize;

/// What the hub takes from a kubeconfig.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KubeConfig {
    /// The API server URL.
    pub server: String,
    /// PEM of the CA that signs the API server's certificate.
    pub ca_pem: Option<Vec<u8>>,
    /// Skip certificate verification.
    pub insecure: bool,
    /// A bearer token (read from `tokenFile` when given).
    pub token: Option<String>,
    /// PEM of the client certificate and key, concatenated.
    pub identity_pem: Option<Vec<u8>>,
    /// Basic auth.
    pub basic_auth: Option<(String, String)>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "kebab-case", default)]
struct File {
    current_context: String,
    clusters: Vec<Named<Cluster>>,
    contexts: Vec<Named<Context>>,
    users: Vec<Named<User>>,
}

#[derive(Deserialize)]
struct Named<T> {
    name: String,
    #[serde(alias = "cluster", alias = "context", alias = "user")]
    value: T,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "kebab-case", default)]
struct Cluster {
    server: String,
    certificate_authority: Option<String>,
    certificate_authority_data: Option<String>,
    insecure_skip_tls_verify: bool,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Context {
    cluster: String,
    user: String,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "kebab-case", default)]
struct User {
    token: Option<String>,
    #[serde(rename = "tokenFile")]
    token_file: Option<String>,
    client_certificate: Option<String>,
    client_certificate_data: Option<String>,
    client_key: Option<String>,
    client_key_data: Option<String>,
    username: Option<String>,
    password: Option<String>,
    exec: Option<serde_yaml_ng::Value>,
    auth_provider: Option<serde_yaml_ng::Value>,
}

/// Reads `path`; the error says what is wrong and where.
pub fn load(path: &Path) -> Result<KubeConfig, String> {
    let text =
        std::fs::read_to_string(path).map_err(|e| format!("kubeconfig {}: {e}", path.display()))?;
    parse(&text, path.parent().unwrap_or(Path::new(".")))
        .map_err(|e| format!("kubeconfig {}: {e}", path.display()))
}

/// Parses a kubeconfig (YAML or JSON) whose relative paths are relative to `dir`.
pub fn parse(text: &str, dir: &Path) -> Result<KubeConfig, String> {
    let f: File = serde_yaml_ng::from_str(text).map_err(|e| e.to_string())?;
    let ctx = if f.current_context.is_empty() {
        f.contexts.first()
    } else {
        f.contexts.iter().find(|c| c.name == f.current_context)
    }
    .ok_or_else(|| format!("context {:?} not found", f.current_context))?;
    let cluster = f
        .clusters
        .iter()
        .find(|c| c.name == ctx.value.cluster)
        .ok_or_else(|| format!("cluster {:?} not found", ctx.value.cluster))?;
    let user = f.users.iter().find(|u| u.name == ctx.value.user);
    let c = &cluster.value;
    let mut out = KubeConfig {
        server: c.server.trim_end_matches('/').to_owned(),
        ca_pem: data_or_file(
            c.certificate_authority_data.as_deref(),
            c.certificate_authority.as_deref(),
            dir,
            "certificate-authority",
        )?,
        insecure: c.insecure_skip_tls_verify,
        ..Default::default()
    };
    if let Some(u) = user.map(|u| &u.value) {
        if u.exec.is_some() || u.auth_provider.is_some() {
            return Err(format!(
                "user {:?} needs an exec or auth-provider plugin, which the hub does not run; \
                 use a token or a client certificate",
                ctx.value.user
            ));
        }
        out.token = match (&u.token, &u.token_file) {
            (Some(t), _) => Some(t.trim().to_owned()),
            (None, Some(f)) => Some(
                std::fs::read_to_string(resolve(dir, f))
                    .map_err(|e| format!("tokenFile {f}: {e}"))?
                    .trim()
                    .to_owned(),
            ),
            (None, None) => None,
        };
        let cert = data_or_file(
            u.client_certificate_data.as_deref(),
            u.client_certificate.as_deref(),
            dir,
            "client-certificate",
        )?;
        let key = data_or_file(
            u.client_key_data.as_deref(),
            u.client_key.as_deref(),
            dir,
            "client-key",
        )?;
        out.identity_pem = match (cert, key) {
            (Some(mut c), Some(k)) => {
                c.push(b'\n');
                c.extend_from_slice(&k);
                Some(c)
            }
            (None, None) => None,
            _ => {
                return Err("a client certificate needs its key, and a key its certificate".into());
            }
        };
        if let (Some(n), Some(p)) = (&u.username, &u.password) {
            out.basic_auth = Some((n.clone(), p.clone()));
        }
    }
    Ok(out)
}

fn resolve(dir: &Path, p: &str) -> PathBuf {
    let p = Path::new(p);
    if p.is_absolute() {
        p.to_owned()
    } else {
        dir.join(p)
    }
}

fn data_or_file(
    data: Option<&str>,
    file: Option<&str>,
    dir: &Path,
    what: &str,
) -> Result<Option<Vec<u8>>, String> {
    if let Some(d) = data.filter(|d| !d.is_empty()) {
        return base64_decode(d)
            .map(Some)
            .ok_or_else(|| format!("{what}-data is not base64"));
    }
    match file.filter(|f| !f.is_empty()) {
        Some(f) => std::fs::read(resolve(dir, f))
            .map(Some)
            .map_err(|e| format!("{what} {f}: {e}")),
        None => Ok(None),
    }
}

/// Standard base64 (with or without padding, whitespace ignored).
fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in text.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' | b'\n' | b'\r' | b' ' | b'\t' => continue,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_current_context_gives_server_ca_and_user() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("ca.crt"), "CA PEM").unwrap();
        let yaml = r#"
apiVersion: v1
kind: Config
current-context: prod
clusters:
- name: dev
  cluster: {server: "https://dev:6443"}
- name: prod
  cluster:
    server: https://10.0.0.1:6443/
    certificate-authority: ca.crt
contexts:
- name: dev
  context: {cluster: dev, user: dev}
- name: prod
  context: {cluster: prod, user: admin}
users:
- name: admin
  user:
    client-certificate-data: Q0VSVA==
    client-key-data: S0VZ
- name: dev
  user: {token: abc}
"#;
        let c = parse(yaml, dir.path()).unwrap();
        assert_eq!(c.server, "https://10.0.0.1:6443");
        assert_eq!(c.ca_pem.as_deref(), Some(&b"CA PEM"[..]));
        assert_eq!(c.identity_pem.as_deref(), Some(&b"CERT\nKEY"[..]));
        assert_eq!(c.token, None);
        let json = r#"{"current-context":"d","clusters":[{"name":"c","cluster":{"server":"http://x",
            "insecure-skip-tls-verify":true}}],"contexts":[{"name":"d","context":{"cluster":"c",
            "user":"u"}}],"users":[{"name":"u","user":{"token":"t0k\n"}}]}"#;
        let c = parse(json, dir.path()).unwrap();
        assert!(c.insecure);
        assert_eq!(c.token.as_deref(), Some("t0k"));
        let exec = "current-context: a\nclusters: [{name: c, cluster: {server: 'https://x'}}]\n\
            contexts: [{name: a, context: {cluster: c, user: u}}]\n\
            users: [{name: u, user: {exec: {command: aws}}}]\n";
        assert!(parse(exec, dir.path()).unwrap_err().contains("exec"));
        assert!(
            parse("current-context: nope\n", dir.path())
                .unwrap_err()
                .contains("nope")
        );
        assert_eq!(base64_decode("aGVsbG8="), Some(b"hello".to_vec()));
    }
}
