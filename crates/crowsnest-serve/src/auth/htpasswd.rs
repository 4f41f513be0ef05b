//! HTTP basic auth from an htpasswd file of bcrypt hashes (`user:$2y$...`, what
//! `htpasswd -B` writes). Other hash kinds (Apache MD5, SHA-1, crypt, plain text) are refused
//! with the line named. A verified user and password is remembered (as a SHA-256 of both) so
//! that repeated requests do not pay bcrypt again; the memory is dropped with the file's
//! contents when the file changes.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::str::FromStr;
use std::sync::Mutex;

use ring::digest::{Context, SHA256};

use crate::error::{Error, Result, read_file};

/// The largest htpasswd file read.
const MAX_BYTES: u64 = 4 << 20;
/// Verified credentials remembered at most (the memory is emptied when full).
const CACHE_MAX: usize = 1024;

/// The users of an htpasswd file.
pub struct Htpasswd {
    users: BTreeMap<String, String>,
    verified: Mutex<HashSet<[u8; 32]>>,
}

impl std::fmt::Debug for Htpasswd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Htpasswd({} users)", self.users.len())
    }
}

/// What kind of hash `hash` is, when it is not bcrypt.
fn foreign_kind(hash: &str) -> &'static str {
    if hash.starts_with("$apr1$") {
        "an Apache MD5 hash ($apr1$)"
    } else if hash.starts_with("{SHA}") {
        "a SHA-1 hash ({SHA})"
    } else if hash.starts_with("$1$") {
        "an MD5 crypt hash ($1$)"
    } else if hash.starts_with("$5$") || hash.starts_with("$6$") {
        "a SHA-2 crypt hash ($5$/$6$)"
    } else if hash.starts_with('$') {
        "an unknown hash"
    } else {
        "a crypt hash or plain text"
    }
}

impl Htpasswd {
    /// The users of `text` (read from `path` for `flag`).
    pub fn from_text(flag: &'static str, path: &Path, text: &str) -> Result<Htpasswd> {
        let mut users = BTreeMap::new();
        for (i, line) in text.lines().enumerate() {
            let bad = |reason: String| Error::Line {
                flag,
                path: path.to_owned(),
                line: i + 1,
                reason,
            };
            let l = line.trim();
            if l.is_empty() || l.starts_with('#') {
                continue;
            }
            let (user, hash) = l
                .split_once(':')
                .ok_or_else(|| bad("expected USER:HASH".into()))?;
            if user.is_empty() {
                return Err(bad("the user name is empty".into()));
            }
            let bcrypt = ["$2y$", "$2b$", "$2a$", "$2x$"]
                .iter()
                .any(|p| hash.starts_with(p));
            if !bcrypt {
                return Err(bad(format!(
                    "user {user:?} has {}; only bcrypt is accepted (htpasswd -B)",
                    foreign_kind(hash)
                )));
            }
            if let Err(e) = bcrypt::HashParts::from_str(hash) {
                return Err(bad(format!("user {user:?}: not a bcrypt hash: {e}")));
            }
            if users.insert(user.to_owned(), hash.to_owned()).is_some() {
                return Err(bad(format!("user {user:?} is given twice")));
            }
        }
        if users.is_empty() {
            return Err(Error::Invalid {
                flag,
                path: path.to_owned(),
                reason: "no user in the file (USER:BCRYPT-HASH per line)".into(),
            });
        }
        Ok(Htpasswd {
            users,
            verified: Mutex::new(HashSet::new()),
        })
    }

    /// Reads the htpasswd file `path` given by `flag`.
    pub fn load(flag: &'static str, path: &Path) -> Result<Htpasswd> {
        let bytes = read_file(flag, path, MAX_BYTES)?;
        let text = String::from_utf8(bytes).map_err(|_| Error::Invalid {
            flag,
            path: path.to_owned(),
            reason: "not UTF-8 text".into(),
        })?;
        Htpasswd::from_text(flag, path, &text)
    }

    /// How many users.
    pub fn len(&self) -> usize {
        self.users.len()
    }

    /// Whether there are none (never, once loaded).
    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }

    fn key(user: &str, password: &str) -> [u8; 32] {
        let mut c = Context::new(&SHA256);
        c.update(user.as_bytes());
        c.update(&[0]);
        c.update(password.as_bytes());
        let mut out = [0; 32];
        out.copy_from_slice(c.finish().as_ref());
        out
    }

    /// Whether `user` and `password` were verified before (no bcrypt).
    pub fn remembered(&self, user: &str, password: &str) -> bool {
        let k = Htpasswd::key(user, password);
        self.verified
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(&k)
    }

    /// Verifies `user` and `password` with bcrypt (slow: run it off the async threads). An
    /// unknown user costs one bcrypt too, against another user's hash, so the time taken
    /// does not say whether the user exists. A success is remembered.
    pub fn verify(&self, user: &str, password: &str) -> bool {
        let (known, hash) = match self.users.get(user) {
            Some(h) => (true, h.as_str()),
            None => (false, self.users.values().next().map_or("", String::as_str)),
        };
        let ok = bcrypt::verify(password, hash).unwrap_or(false) && known;
        if ok {
            let mut v = self.verified.lock().unwrap_or_else(|p| p.into_inner());
            if v.len() >= CACHE_MAX {
                v.clear();
            }
            v.insert(Htpasswd::key(user, password));
        }
        ok
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FLAG: &str = "--auth-htpasswd";

    #[test]
    fn bcrypt_lines_are_read_and_verified() {
        let h1 = bcrypt::hash("s3cret", 4).unwrap();
        let h2 = bcrypt::hash("other", 4)
            .unwrap()
            .replacen("$2b$", "$2y$", 1);
        let text = format!("# users\nalice:{h1}\n\nbob:{h2}\n");
        let h = Htpasswd::from_text(FLAG, Path::new("/h"), &text).unwrap();
        assert_eq!(h.len(), 2);
        assert!(!h.remembered("alice", "s3cret"));
        assert!(h.verify("alice", "s3cret"));
        assert!(h.remembered("alice", "s3cret"));
        assert!(h.verify("bob", "other"), "$2y$ as htpasswd -B writes it");
        assert!(!h.verify("alice", "wrong"));
        assert!(!h.remembered("alice", "wrong"));
        assert!(!h.verify("carol", "s3cret"), "unknown user");
    }

    #[test]
    fn other_hash_kinds_are_refused_with_the_line() {
        for (line, want) in [
            (
                "a:$apr1$xyz$abc",
                "line 2: user \"a\" has an Apache MD5 hash",
            ),
            (
                "a:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=",
                "line 2: user \"a\" has a SHA-1 hash",
            ),
            ("a:$6$salt$hash", "SHA-2 crypt"),
            ("a:plain", "crypt hash or plain text"),
            ("nocolon", "line 2: expected USER:HASH"),
            (":$2y$05$abc", "user name is empty"),
            ("a:$2y$05$short", "not a bcrypt hash"),
        ] {
            let text = format!("# first\n{line}\n");
            let e = Htpasswd::from_text(FLAG, Path::new("/h"), &text)
                .unwrap_err()
                .to_string();
            assert!(e.starts_with("--auth-htpasswd /h line 2: "), "{e}");
            assert!(e.contains(want), "{line}: {e}");
        }
        let h = bcrypt::hash("x", 4).unwrap();
        let e = Htpasswd::from_text(FLAG, Path::new("/h"), &format!("a:{h}\na:{h}\n"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 2: user \"a\" is given twice"), "{e}");
        let e = Htpasswd::from_text(FLAG, Path::new("/h"), "\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("no user"), "{e}");
    }
}
