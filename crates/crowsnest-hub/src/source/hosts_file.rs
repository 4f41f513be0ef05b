//! Heapster's hosts file: `{"items":[{"name":"hostA","ip":"172.30.0.104"}]}`, with an optional
//! `"port"` per item (the agent port otherwise), and optional `"scheme"` (`http` or `https`)
//! and `"token"` or `"tokenFile"` (a file whose first token is sent to that node's agent,
//! read with the hosts file) to reach an agent that serves TLS or asks for a token. Keys are matched without regard to case, as
//! Go's JSON decoder does (`Items`, `Name`, `IP` in Heapster's docs); unknown keys are ignored.
//!
//! The file is polled: its size and mtime every time, its content every fifth time as well
//! (an mtime can stay the same across a quick rewrite). A file that cannot be read or is
//! wrong keeps the last good node list; the problem is logged once (until it changes) with
//! the line, column and field, and shown in the hub's status.

use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crowsnest_core::Timestamp;
use serde_json::value::RawValue;

use crate::config::{AgentAccess, NodeAddr, Scheme, check_host};
use crate::error::{Error, Result};

/// The largest hosts file read.
pub const MAX_BYTES: u64 = 4 << 20;
/// Every this many polls the content is compared even when size and mtime did not change.
const CONTENT_EVERY: u64 = 5;

/// A hosts file and the last good node list read from it.
#[derive(Debug)]
pub struct HostsFile {
    path: PathBuf,
    default_port: u16,
    nodes: Vec<NodeAddr>,
    access: BTreeMap<String, AgentAccess>,
    seen: Option<(SystemTime, u64)>,
    content_hash: Option<u64>,
    polls: u64,
    last_error: Option<String>,
    last_change: Option<Timestamp>,
}

impl HostsFile {
    /// A hosts file not read yet.
    pub fn new(path: PathBuf, default_port: u16) -> HostsFile {
        HostsFile {
            path,
            default_port,
            nodes: Vec::new(),
            access: BTreeMap::new(),
            seen: None,
            content_hash: None,
            polls: 0,
            last_error: None,
            last_change: None,
        }
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The last good node list.
    pub fn nodes(&self) -> &[NodeAddr] {
        &self.nodes
    }

    /// How node `name`'s agent is reached, as its item says (the defaults when it says
    /// nothing).
    pub fn access(&self, name: &str) -> AgentAccess {
        self.access.get(name).cloned().unwrap_or_default()
    }

    /// What was wrong the last time the file was read, if anything.
    pub fn last_error(&self) -> Option<&str> {
        self.last_error.as_deref()
    }

    /// When the node list last changed.
    pub fn last_change(&self) -> Option<Timestamp> {
        self.last_change
    }

    /// Checks the file; returns true when the node list changed.
    pub fn poll(&mut self, now: Timestamp) -> bool {
        self.polls += 1;
        match self.check(now) {
            Ok(changed) => {
                if self.last_error.take().is_some() {
                    tracing::info!(path = %self.path.display(), nodes = self.nodes.len(), "hosts file is good again");
                }
                changed
            }
            Err(e) => {
                let msg = e.to_string();
                if self.last_error.as_deref() != Some(msg.as_str()) {
                    tracing::warn!(
                        error = %msg,
                        kept = self.nodes.len(),
                        "hosts file not used; keeping the last good node list"
                    );
                    self.last_error = Some(msg);
                }
                false
            }
        }
    }

    fn check(&mut self, now: Timestamp) -> Result<bool> {
        let read_err = |source| Error::HostsFileRead {
            path: self.path.clone(),
            source,
        };
        let meta = std::fs::metadata(&self.path).map_err(read_err)?;
        let stamp = (meta.modified().map_err(read_err)?, meta.len());
        if self.seen == Some(stamp)
            && self.last_error.is_none()
            && !self.polls.is_multiple_of(CONTENT_EVERY)
        {
            return Ok(false);
        }
        if meta.len() > MAX_BYTES {
            return Err(Error::HostsFileTooLarge {
                path: self.path.clone(),
                size: meta.len(),
                limit: MAX_BYTES,
            });
        }
        let mut text = String::new();
        std::fs::File::open(&self.path)
            .and_then(|f| f.take(MAX_BYTES + 1).read_to_string(&mut text))
            .map_err(read_err)?;
        self.seen = Some(stamp);
        let mut h = std::collections::hash_map::DefaultHasher::new();
        text.hash(&mut h);
        let hash = h.finish();
        if self.content_hash == Some(hash) && self.last_error.is_none() {
            return Ok(false);
        }
        let items = parse_items(&self.path, &text, self.default_port)?;
        self.content_hash = Some(hash);
        let access: BTreeMap<String, AgentAccess> = items
            .iter()
            .filter(|(_, a)| *a != AgentAccess::default())
            .map(|(n, a)| (n.name.clone(), a.clone()))
            .collect();
        let nodes: Vec<NodeAddr> = items.into_iter().map(|(n, _)| n).collect();
        if nodes == self.nodes && access == self.access && self.last_change.is_some() {
            return Ok(false);
        }
        tracing::info!(path = %self.path.display(), nodes = nodes.len(), "hosts file read");
        self.nodes = nodes;
        self.access = access;
        self.last_change = Some(now);
        Ok(true)
    }
}

/// 1-based line and column of byte `offset` in `text`.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

/// The value of `key` in a JSON object, matched without regard to ASCII case (exact first).
fn field<'a>(map: &BTreeMap<String, &'a RawValue>, key: &str) -> Option<&'a RawValue> {
    map.get(key).copied().or_else(|| {
        map.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| *v)
    })
}

/// Parses the text of a hosts file.
pub fn parse(path: &Path, text: &str, default_port: u16) -> Result<Vec<NodeAddr>> {
    Ok(parse_items(path, text, default_port)?
        .into_iter()
        .map(|(n, _)| n)
        .collect())
}

/// Parses the text of a hosts file: each node with how its agent is reached.
pub fn parse_items(
    path: &Path,
    text: &str,
    default_port: u16,
) -> Result<Vec<(NodeAddr, AgentAccess)>> {
    let at = |offset: usize, field: &str, reason: String| {
        let (line, column) = line_col(text, offset);
        Error::HostsFileSyntax {
            path: path.to_owned(),
            line,
            column,
            field: field.to_owned(),
            reason,
        }
    };
    let pos = |raw: &RawValue| (raw.get().as_ptr() as usize).saturating_sub(text.as_ptr() as usize);
    let json_err = |field: &str, e: serde_json::Error| {
        let (line, column) = (e.line().max(1), e.column().max(1));
        Error::HostsFileSyntax {
            path: path.to_owned(),
            line,
            column,
            field: field.to_owned(),
            reason: e.to_string(),
        }
    };
    let top: BTreeMap<String, &RawValue> = serde_json::from_str(text).map_err(|e| {
        if e.is_data() {
            at(
                0,
                "document",
                "expected a JSON object like {\"items\": [...]}".into(),
            )
        } else {
            json_err("document", e)
        }
    })?;
    let items_raw = field(&top, "items")
        .ok_or_else(|| at(0, "items", "missing (expected {\"items\": [...]})".into()))?;
    let items: Vec<&RawValue> = serde_json::from_str(items_raw.get())
        .map_err(|_| at(pos(items_raw), "items", "expected an array".into()))?;
    let mut nodes: Vec<(NodeAddr, AgentAccess)> = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let name_of = |f: &str| format!("items[{i}].{f}");
        let obj: BTreeMap<String, &RawValue> = serde_json::from_str(item.get()).map_err(|_| {
            at(
                pos(item),
                &format!("items[{i}]"),
                "expected an object with \"name\" and \"ip\"".into(),
            )
        })?;
        let string = |f: &str| -> Result<String> {
            let raw = field(&obj, f).ok_or_else(|| at(pos(item), &name_of(f), "missing".into()))?;
            let s: String = serde_json::from_str(raw.get()).map_err(|_| {
                at(
                    pos(raw),
                    &name_of(f),
                    format!("expected a string, got {}", raw.get()),
                )
            })?;
            if s.trim().is_empty() {
                return Err(at(pos(raw), &name_of(f), "is empty".into()));
            }
            Ok(s)
        };
        let name = string("name")?;
        let ip = string("ip")?;
        if let Err(reason) = check_host(&ip) {
            let raw = field(&obj, "ip").map_or(pos(item), pos);
            return Err(at(raw, &name_of("ip"), reason));
        }
        let port = match field(&obj, "port") {
            None => default_port,
            Some(raw) => serde_json::from_str::<u16>(raw.get())
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(|| {
                    at(
                        pos(raw),
                        &name_of("port"),
                        format!("{} is not a port (1 to 65535)", raw.get()),
                    )
                })?,
        };
        let mut access = AgentAccess::default();
        if field(&obj, "scheme").is_some() {
            let raw = field(&obj, "scheme").map_or(pos(item), pos);
            let scheme = string("scheme")?;
            access.scheme = Some(
                scheme
                    .parse::<Scheme>()
                    .map_err(|r| at(raw, &name_of("scheme"), r))?,
            );
        }
        match (field(&obj, "token"), field(&obj, "tokenFile")) {
            (Some(_), Some(raw)) => {
                return Err(at(
                    pos(raw),
                    &name_of("tokenFile"),
                    "give token or tokenFile, not both".into(),
                ));
            }
            (Some(_), None) => access.token = Some(string("token")?.trim().into()),
            (None, Some(raw)) => {
                let file = string("tokenFile")?;
                let tokens =
                    crowsnest_serve::auth::tokens::TokenSet::load("tokenFile", Path::new(&file))
                        .map_err(|e| at(pos(raw), &name_of("tokenFile"), e.to_string()))?;
                access.token = Some(tokens.first().into());
            }
            (None, None) => {}
        }
        if let Some(j) = nodes.iter().position(|(n, _)| n.name == name) {
            let raw = field(&obj, "name").map_or(pos(item), pos);
            return Err(at(
                raw,
                &name_of("name"),
                format!("{name:?} is already the name of items[{j}]"),
            ));
        }
        nodes.push((
            NodeAddr {
                name,
                host: ip,
                port,
            },
            access,
        ));
    }
    Ok(nodes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> Result<Vec<NodeAddr>> {
        parse(Path::new("/h"), text, 8080)
    }

    #[test]
    fn heapster_and_go_spellings() {
        let n = p(r#"{"items": [{"name": "hostA", "ip": "172.30.0.104"}, {"name": "hostB", "ip": "172.30.0.105", "port": 9000}]}"#).unwrap();
        assert_eq!(n.len(), 2);
        assert_eq!((n[0].port, n[1].port), (8080, 9000));
        let n = p(r#"{"Items":[{"Name":"server-105","IP":"192.168.99.105","extra":1}]}"#).unwrap();
        assert_eq!(n[0].host, "192.168.99.105");
        assert!(p(r#"{"items":[]}"#).unwrap().is_empty());
    }

    #[test]
    fn errors_name_line_column_and_field() {
        let cases = [
            (
                "{\"items\": [\n  {\"name\": \"a\", \"ip\": \"1.2.3.4\"},\n  {\"name\": \"b\", \"ip\": \"not an ip\"}\n]}",
                "line 3, column 23: items[1].ip",
            ),
            (
                "{\"items\": [\n  {\"name\": \"a\"}\n]}",
                "line 2, column 3: items[0].ip: missing",
            ),
            (
                "{\"items\": [{\"name\": 5, \"ip\": \"1.1.1.1\"}]}",
                "items[0].name: expected a string, got 5",
            ),
            (
                "{\"items\": [{\"name\": \"a\", \"ip\": \"1.1.1.1\", \"port\": 70000}]}",
                "items[0].port: 70000 is not a port",
            ),
            (
                "{\"items\": [{\"name\": \"a\", \"ip\": \"1.1.1.1\"},\n{\"name\": \"a\", \"ip\": \"1.1.1.2\"}]}",
                "line 2, column 10: items[1].name: \"a\" is already the name of items[0]",
            ),
            ("{\"items\": {}}", "items: expected an array"),
            ("{\"hosts\": []}", "line 1, column 1: items: missing"),
            ("[1]", "document: expected a JSON object"),
            (
                "{\"items\": [\n  {\"name\": \"a\",, }\n]}",
                "line 2, column 16: document",
            ),
            (
                "{\"items\": [{\"name\": \"\", \"ip\": \"1.1.1.1\"}]}",
                "items[0].name: is empty",
            ),
        ];
        for (text, want) in cases {
            let e = p(text).unwrap_err().to_string();
            assert!(e.contains(want), "{text}\n got: {e}\nwant: {want}");
            assert!(e.starts_with("hosts file /h: "), "{e}");
        }
    }

    #[test]
    fn scheme_and_tokens_per_item() {
        let dir = tempfile::tempdir().unwrap();
        let tf = dir.path().join("token");
        std::fs::write(&tf, "# for c\nfile-token\n").unwrap();
        let text = format!(
            r#"{{"items":[{{"name":"a","ip":"10.0.0.1"}},{{"name":"b","ip":"10.0.0.2","scheme":"https","token":"tok-b"}},{{"name":"c","ip":"10.0.0.3","tokenFile":"{}"}}]}}"#,
            tf.display()
        );
        let n = parse_items(Path::new("/h"), &text, 8080).unwrap();
        assert_eq!(n[0].1, AgentAccess::default());
        assert_eq!(n[1].1.scheme, Some(Scheme::Https));
        assert_eq!(n[1].1.token.as_deref(), Some("tok-b"));
        assert_eq!(n[2].1.token.as_deref(), Some("file-token"));
        assert!(
            !format!("{:?}", n[1].1).contains("tok-b"),
            "the token is not logged"
        );
        for (item, want) in [
            (
                r#"{"name":"a","ip":"1.1.1.1","scheme":"ftp"}"#,
                "items[0].scheme: \"ftp\" is not a scheme",
            ),
            (
                r#"{"name":"a","ip":"1.1.1.1","token":"x","tokenFile":"/y"}"#,
                "items[0].tokenFile: give token or tokenFile",
            ),
            (
                r#"{"name":"a","ip":"1.1.1.1","tokenFile":"/nonexistent/t"}"#,
                "items[0].tokenFile: tokenFile /nonexistent/t: cannot read",
            ),
        ] {
            let e = p(&format!(r#"{{"items":[{item}]}}"#))
                .unwrap_err()
                .to_string();
            assert!(e.contains(want), "{item}: {e}");
        }
    }

    #[test]
    fn a_bad_rewrite_keeps_the_last_good_list_and_a_good_one_replaces_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hosts");
        let mut h = HostsFile::new(path.clone(), 8080);
        assert!(!h.poll(Timestamp::from_secs(1)));
        assert!(
            h.last_error().unwrap().contains("hosts file"),
            "{:?}",
            h.last_error()
        );
        std::fs::write(&path, r#"{"items":[{"name":"a","ip":"10.0.0.1"}]}"#).unwrap();
        assert!(h.poll(Timestamp::from_secs(2)));
        assert_eq!(h.nodes().len(), 1);
        assert!(h.last_error().is_none());
        assert!(!h.poll(Timestamp::from_secs(3)), "unchanged");
        std::fs::write(
            &path,
            r#"{"items":[{"name":"a","ip":"10.0.0.1"},{"name":"b"}]}"#,
        )
        .unwrap();
        assert!(!h.poll(Timestamp::from_secs(4)));
        assert_eq!(h.nodes().len(), 1, "the last good list is kept");
        assert!(h.last_error().unwrap().contains("items[1].ip: missing"));
        std::fs::write(
            &path,
            r#"{"items":[{"name":"a","ip":"10.0.0.1"},{"name":"b","ip":"10.0.0.2","port":81}]}"#,
        )
        .unwrap();
        assert!(h.poll(Timestamp::from_secs(5)));
        assert_eq!(h.nodes()[1].port, 81);
        assert_eq!(h.last_change(), Some(Timestamp::from_secs(5)));
        // Same size and mtime, different content: found on a content poll.
        let same_len =
            r#"{"items":[{"name":"a","ip":"10.0.0.1"},{"name":"c","ip":"10.0.0.2","port":81}]}"#;
        let mtime = std::fs::metadata(&path).unwrap().modified().unwrap();
        std::fs::write(&path, same_len).unwrap();
        std::fs::File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(mtime)
            .unwrap();
        let changed = (0..CONTENT_EVERY).any(|i| h.poll(Timestamp::from_secs(6 + i as i64)));
        assert!(changed);
        assert_eq!(h.nodes()[1].name, "c");
        std::fs::write(&path, vec![b' '; MAX_BYTES as usize + 1]).unwrap();
        assert!(!h.poll(Timestamp::from_secs(20)));
        assert!(h.last_error().unwrap().contains("more than"));
    }
}
