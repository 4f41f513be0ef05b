//! Bearer tokens: a file of one token per line (blank lines and lines starting with `#` are
//! left out), compared in constant time.

use std::path::Path;

use ring::digest::{SHA256, digest};
use subtle::ConstantTimeEq;

use crate::error::{Error, Result, read_file};

/// The largest token file read.
const MAX_BYTES: u64 = 1 << 20;

/// The tokens of a file.
pub struct TokenSet {
    /// Each token's SHA-256: comparing digests takes the same time whatever the lengths.
    digests: Vec<[u8; 32]>,
    first: String,
}

impl std::fmt::Debug for TokenSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TokenSet({} tokens)", self.digests.len())
    }
}

/// The tokens of a token file's text, in order.
pub fn parse(text: &str) -> Vec<&str> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect()
}

/// Whether `a` and `b` are equal, in a time that depends on neither.
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    let (da, db) = (sha256(a), sha256(b));
    da.ct_eq(&db).into()
}

fn sha256(b: &[u8]) -> [u8; 32] {
    let mut out = [0; 32];
    out.copy_from_slice(digest(&SHA256, b).as_ref());
    out
}

impl TokenSet {
    /// The tokens of `text` (read from `path` for `flag`): at least one, each of characters an
    /// HTTP header can carry.
    pub fn from_text(flag: &'static str, path: &Path, text: &str) -> Result<TokenSet> {
        let mut digests = Vec::new();
        let mut first = None;
        for (i, line) in text.lines().enumerate() {
            let t = line.trim();
            if t.is_empty() || t.starts_with('#') {
                continue;
            }
            if !t.bytes().all(|b| b.is_ascii_graphic()) {
                return Err(Error::Line {
                    flag,
                    path: path.to_owned(),
                    line: i + 1,
                    reason: "a token is printable ASCII without spaces".into(),
                });
            }
            first.get_or_insert_with(|| t.to_owned());
            digests.push(sha256(t.as_bytes()));
        }
        let Some(first) = first else {
            return Err(Error::Invalid {
                flag,
                path: path.to_owned(),
                reason: "no token in the file (one per line; # starts a comment)".into(),
            });
        };
        Ok(TokenSet { digests, first })
    }

    /// Reads the token file `path` given by `flag`.
    pub fn load(flag: &'static str, path: &Path) -> Result<TokenSet> {
        let bytes = read_file(flag, path, MAX_BYTES)?;
        let text = String::from_utf8(bytes).map_err(|_| Error::Invalid {
            flag,
            path: path.to_owned(),
            reason: "not UTF-8 text".into(),
        })?;
        TokenSet::from_text(flag, path, &text)
    }

    /// Whether `candidate` is one of the tokens. Every token is compared, each in constant
    /// time, so the time taken says nothing of which token, if any, matched.
    pub fn contains(&self, candidate: &[u8]) -> bool {
        let d = sha256(candidate);
        let mut found = subtle::Choice::from(0);
        for t in &self.digests {
            found |= t.ct_eq(&d);
        }
        found.into()
    }

    /// How many tokens.
    pub fn len(&self) -> usize {
        self.digests.len()
    }

    /// Whether there are none (never, once loaded).
    pub fn is_empty(&self) -> bool {
        self.digests.is_empty()
    }

    /// The first token: what a client sends.
    pub fn first(&self) -> &str {
        &self.first
    }
}

/// A token file read again when it changes (looked at no more often than once a second):
/// what a client (the hub toward its agents) sends.
pub struct TokenFile(crate::watch::Watched<TokenSet>);

impl std::fmt::Debug for TokenFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenFile")
    }
}

impl TokenFile {
    /// Reads the token file `path` given by `flag` (an error names both).
    pub fn open(flag: &'static str, path: &Path) -> Result<TokenFile> {
        let p = path.to_owned();
        crate::watch::Watched::open(
            flag,
            vec![path.to_owned()],
            std::time::Duration::from_secs(1),
            move || TokenSet::load(flag, &p),
        )
        .map(TokenFile)
    }

    /// The tokens now.
    pub fn current(&self) -> std::sync::Arc<TokenSet> {
        self.0.get()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_comments_and_blanks() {
        let text =
            "# tokens for the agents\n\n  alpha  \nbeta\n#gamma\n\t\ndelta # not a comment\n";
        assert_eq!(parse(text), ["alpha", "beta", "delta # not a comment"]);
        let e = TokenSet::from_text("--auth-token-file", Path::new("/t"), text).unwrap_err();
        assert_eq!(
            e.to_string(),
            "--auth-token-file /t line 7: a token is printable ASCII without spaces"
        );
        let s = TokenSet::from_text("--auth-token-file", Path::new("/t"), "a1\n# x\nb2\n").unwrap();
        assert_eq!((s.len(), s.first()), (2, "a1"));
        assert!(s.contains(b"a1") && s.contains(b"b2"));
        assert!(!s.contains(b"a") && !s.contains(b"a1 ") && !s.contains(b"") && !s.contains(b"x"));
        let e =
            TokenSet::from_text("--auth-token-file", Path::new("/t"), "# only\n\n").unwrap_err();
        assert!(e.to_string().contains("no token in the file"), "{e}");
    }

    #[test]
    fn constant_time_compare_is_equality() {
        assert!(ct_eq(b"secret", b"secret"));
        assert!(!ct_eq(b"secret", b"secreT"));
        assert!(!ct_eq(b"secret", b"secret2"));
        assert!(!ct_eq(b"", b"x"));
        assert!(ct_eq(b"", b""));
    }

    #[test]
    fn a_missing_file_names_flag_and_path() {
        let e = TokenSet::load("--auth-token-file", Path::new("/nonexistent/t")).unwrap_err();
        let s = e.to_string();
        assert!(
            s.starts_with("--auth-token-file /nonexistent/t: cannot read"),
            "{s}"
        );
    }
}
