//! Request options: v1's `num_stats`/`start`/`end` and v2's `type`/`recursive`/`count`, and
//! the percent-decoding of paths and query strings.
//!
//! v1 options come, as in cAdvisor, from a JSON body (`{"num_stats":60,"start":...}`; unknown
//! keys such as the web UI's `num_samples` are ignored; an empty body means the defaults).
//! crowsnest also reads them from the query string, which is handier with `curl`: the body is
//! read first and a query parameter overrides the same option from the body. v2 options come
//! from the query string only. When a parameter is repeated the first one counts (Go's
//! `URL.Query().Get`), and an empty value is the same as none.

use crowsnest_core::Timestamp;
use serde_json::Value;

use crate::http::error::ApiError;
use crate::state::StatsQuery;

/// cAdvisor's default `num_stats` (`DefaultContainerInfoRequest`).
pub(crate) const DEFAULT_NUM_STATS: i64 = 60;
/// cAdvisor's default v2 `count`.
pub(crate) const DEFAULT_COUNT: i64 = 64;

/// Decodes `%XX` escapes (and `+` as a space when `plus_is_space`, for query strings).
/// `None` when an escape is malformed.
pub(crate) fn percent_decode(text: &str, plus_is_space: bool) -> Option<Vec<u8>> {
    let b = text.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        match c {
            b'%' => {
                let hex = |j: usize| b.get(j).and_then(|h| (*h as char).to_digit(16));
                let (hi, lo) = (hex(i + 1)?, hex(i + 2)?);
                out.push((hi * 16 + lo) as u8);
                i += 3;
            }
            b'+' if plus_is_space => {
                out.push(b' ');
                i += 1;
            }
            _ => {
                out.push(c);
                i += 1;
            }
        }
    }
    Some(out)
}

/// The decoded `key=value` pairs of a query string, in order. Pairs that do not decode to
/// UTF-8 are kept with U+FFFD in place of the bad bytes.
pub(crate) fn query_pairs(query: Option<&str>) -> Vec<(String, String)> {
    let decode = |s: &str| match percent_decode(s, true) {
        Some(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        None => s.to_owned(),
    };
    query
        .unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

/// The first value of `key`.
fn first<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// `num_stats`/`count` as a sample limit: -1 is all, other negatives are refused.
fn sample_limit(option: &'static str, n: i64) -> Result<Option<usize>, ApiError> {
    match n {
        -1 => Ok(None),
        n if n < -1 => Err(ApiError::bad_option(
            option,
            n.to_string(),
            "must be -1 (all) or larger",
        )),
        n => Ok(Some(usize::try_from(n).unwrap_or(usize::MAX))),
    }
}

fn parse_int(option: &'static str, text: &str) -> Result<i64, ApiError> {
    text.parse::<i64>()
        .map_err(|_| ApiError::bad_option(option, text, "expected an integer"))
}

/// Go's marshalled zero `time.Time`, which cAdvisor's Go client sends for "no bound".
const GO_ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// A `start` or `end` bound. Go's zero time means no bound. A time outside what a
/// [`Timestamp`] holds (before 1677 or after 2262) is clamped to the nearest one, or no bound
/// when that is the same thing.
fn parse_bound(option: &'static str, text: &str) -> Result<Option<Timestamp>, ApiError> {
    if text == GO_ZERO_TIME {
        return Ok(None);
    }
    match Timestamp::parse_rfc3339(text) {
        Ok(t) => Ok(Some(t)),
        Err(e) if e.reason == "out of range" => {
            let past = text
                .get(..4)
                .and_then(|y| y.parse::<u32>().ok())
                .is_some_and(|y| y < 1970);
            Ok(match (option, past) {
                ("start", true) | ("end", false) => None,
                ("start", false) => Some(Timestamp(i64::MAX)),
                _ => Some(Timestamp(i64::MIN)),
            })
        }
        Err(e) => Err(ApiError::bad_option(option, text, e.reason)),
    }
}

/// The value of a JSON object's `key`: exact match first, then ASCII case-insensitive (as Go's
/// `encoding/json`).
fn json_field<'a>(map: &'a serde_json::Map<String, Value>, key: &str) -> Option<&'a Value> {
    map.get(key).or_else(|| {
        map.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    })
}

/// The v1 options (`ContainerInfoRequest`) of a request: from the JSON `body`, then the
/// query string.
pub(crate) fn v1_query(body: &[u8], query: Option<&str>) -> Result<StatsQuery, ApiError> {
    let mut num_stats = DEFAULT_NUM_STATS;
    let (mut start, mut end) = (None, None);

    // Go's json.Decoder reads the first value and ignores what follows it.
    let first_value = serde_json::Deserializer::from_slice(body)
        .into_iter::<Value>()
        .next();
    match first_value {
        None | Some(Ok(Value::Null)) => {}
        Some(Err(e)) => return Err(ApiError::BadBody(e.to_string())),
        Some(Ok(Value::Object(map))) => {
            match json_field(&map, "num_stats") {
                None | Some(Value::Null) => {}
                Some(Value::Number(n)) => {
                    num_stats = n.as_i64().ok_or_else(|| {
                        ApiError::bad_option("num_stats", n.to_string(), "expected an integer")
                    })?;
                }
                Some(other) => {
                    return Err(ApiError::bad_option(
                        "num_stats",
                        other.to_string(),
                        "expected an integer",
                    ));
                }
            }
            for (option, slot) in [("start", &mut start), ("end", &mut end)] {
                match json_field(&map, option) {
                    None | Some(Value::Null) => {}
                    Some(Value::String(s)) => *slot = parse_bound(option, s)?,
                    Some(other) => {
                        return Err(ApiError::bad_option(
                            option,
                            other.to_string(),
                            "expected an RFC 3339 time string",
                        ));
                    }
                }
            }
        }
        Some(Ok(other)) => {
            let kind = match other {
                Value::Array(_) => "an array",
                Value::String(_) => "a string",
                Value::Number(_) => "a number",
                _ => "a boolean",
            };
            return Err(ApiError::BadBody(format!(
                "expected a JSON object, got {kind}"
            )));
        }
    }

    let pairs = query_pairs(query);
    let given = |key| first(&pairs, key).filter(|v| !v.is_empty());
    if let Some(v) = given("num_stats") {
        num_stats = parse_int("num_stats", v)?;
    }
    if let Some(v) = given("start") {
        start = parse_bound("start", v)?;
    }
    if let Some(v) = given("end") {
        end = parse_bound("end", v)?;
    }
    Ok(StatsQuery {
        max: sample_limit("num_stats", num_stats)?,
        start,
        end,
    })
}

/// How a v2 request names containers (`type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum IdType {
    /// By absolute cgroup-style name.
    Name,
    /// By Docker id or name (containers in the `docker` namespace).
    Docker,
    /// By Podman id or name (containers in the `podman` namespace).
    Podman,
}

impl IdType {
    /// The runtime namespace the type looks in, if any.
    pub(crate) fn namespace(self) -> Option<&'static str> {
        match self {
            IdType::Name => None,
            IdType::Docker => Some("docker"),
            IdType::Podman => Some("podman"),
        }
    }
}

/// v2 options (`RequestOptions`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct V2Options {
    /// How the path names containers.
    pub(crate) id_type: IdType,
    /// At most this many of the newest samples; `None` for all.
    pub(crate) count: Option<usize>,
    /// Whether to include descendants.
    pub(crate) recursive: bool,
}

impl Default for V2Options {
    fn default() -> Self {
        V2Options {
            id_type: IdType::Name,
            count: Some(DEFAULT_COUNT as usize),
            recursive: false,
        }
    }
}

/// Go's `strconv.ParseBool`.
fn parse_bool(text: &str) -> Option<bool> {
    match text {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

/// The v2 options of a query string. An empty value means the default, as in cAdvisor.
/// `max_age` (on-demand housekeeping) is accepted and ignored: crowsnest's history is kept
/// current by housekeeping alone.
pub(crate) fn v2_options(query: Option<&str>) -> Result<V2Options, ApiError> {
    let pairs = query_pairs(query);
    let mut opts = V2Options::default();
    match first(&pairs, "type").unwrap_or_default() {
        "" | "name" => {}
        "docker" => opts.id_type = IdType::Docker,
        "podman" => opts.id_type = IdType::Podman,
        other => {
            return Err(ApiError::bad_option(
                "type",
                other,
                "expected name, docker or podman",
            ));
        }
    }
    if let Some(v) = first(&pairs, "count").filter(|v| !v.is_empty()) {
        opts.count = sample_limit("count", parse_int("count", v)?)?;
    }
    if let Some(v) = first(&pairs, "recursive").filter(|v| !v.is_empty()) {
        opts.recursive = parse_bool(v)
            .ok_or_else(|| ApiError::bad_option("recursive", v, "expected true or false"))?;
    }
    Ok(opts)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Option<Timestamp> {
        Some(Timestamp::parse_rfc3339(s).unwrap())
    }

    #[test]
    fn decodes_percent_escapes() {
        assert_eq!(percent_decode("a%2Fb%20c+d", false).unwrap(), b"a/b c+d");
        assert_eq!(percent_decode("a+b", true).unwrap(), b"a b");
        assert_eq!(percent_decode("%ff", false).unwrap(), [0xff]);
        assert_eq!(percent_decode("%zz", false), None);
        assert_eq!(percent_decode("%2", false), None);
    }

    #[test]
    fn v1_defaults_and_body() {
        let default = StatsQuery {
            max: Some(60),
            start: None,
            end: None,
        };
        assert_eq!(v1_query(b"", None).unwrap(), default);
        assert_eq!(v1_query(b"  \n", None).unwrap(), default);
        assert_eq!(v1_query(b"null", None).unwrap(), default);
        assert_eq!(
            v1_query(br#"{"num_stats":60,"num_samples":0}"#, None).unwrap(),
            default
        );
        assert_eq!(
            v1_query(br#"{"num_stats":3} trailing"#, None).unwrap().max,
            Some(3)
        );
        assert_eq!(v1_query(br#"{"NUM_STATS":-1}"#, None).unwrap().max, None);
        let q = v1_query(
            br#"{"start":"2026-01-01T00:00:00Z","end":"0001-01-01T00:00:00Z"}"#,
            None,
        )
        .unwrap();
        assert_eq!((q.start, q.end), (t("2026-01-01T00:00:00Z"), None));
    }

    #[test]
    fn query_overrides_body() {
        let q = v1_query(
            br#"{"num_stats":5,"end":"2026-01-01T00:00:00Z"}"#,
            Some("num_stats=2&num_stats=9"),
        )
        .unwrap();
        assert_eq!(q.max, Some(2));
        assert_eq!(q.end, t("2026-01-01T00:00:00Z"));
        let q = v1_query(b"", Some("start=2026-01-01T01%3A00%3A00%2B01%3A00")).unwrap();
        assert_eq!(q.start, t("2026-01-01T00:00:00Z"));
    }

    #[test]
    fn v1_errors_name_the_option() {
        let msg = |body: &[u8], query| v1_query(body, query).unwrap_err().to_string();
        assert_eq!(
            msg(b"", Some("num_stats=abc")),
            r#"invalid option num_stats="abc": expected an integer"#
        );
        assert!(msg(br#"{"num_stats":"10"}"#, None).contains("num_stats"));
        assert!(msg(br#"{"num_stats":1.5}"#, None).contains("num_stats"));
        assert!(msg(br#"{"num_stats":-2}"#, None).contains("-1 (all) or larger"));
        assert!(
            msg(br#"{"start":"yesterday"}"#, None)
                .starts_with(r#"invalid option start="yesterday""#)
        );
        assert!(msg(br#"{"end":5}"#, None).contains("end"));
        assert!(msg(b"{", None).starts_with("invalid JSON request body"));
        assert!(msg(b"[1]", None).contains("array"));
        assert!(msg(b"", Some("end=2026-13-01T00:00:00Z")).contains("end"));
    }

    #[test]
    fn far_times_clamp() {
        let q = v1_query(
            b"",
            Some("start=1000-01-01T00:00:00Z&end=3000-01-01T00:00:00Z"),
        )
        .unwrap();
        assert_eq!((q.start, q.end), (None, None));
        let q = v1_query(
            b"",
            Some("start=3000-01-01T00:00:00Z&end=1000-01-01T00:00:00Z"),
        )
        .unwrap();
        assert_eq!(
            (q.start, q.end),
            (Some(Timestamp(i64::MAX)), Some(Timestamp(i64::MIN)))
        );
    }

    #[test]
    fn v2_options_parse_and_refuse() {
        assert_eq!(v2_options(None).unwrap(), V2Options::default());
        assert_eq!(
            v2_options(Some("count=&recursive=&type=")).unwrap(),
            V2Options::default()
        );
        let o = v2_options(Some("type=docker&count=-1&recursive=true&max_age=10s")).unwrap();
        assert_eq!(
            o,
            V2Options {
                id_type: IdType::Docker,
                count: None,
                recursive: true
            }
        );
        assert_eq!(v2_options(Some("count=0")).unwrap().count, Some(0));
        for (q, option) in [
            ("type=lxc", "type"),
            ("count=-2", "count"),
            ("count=1e3", "count"),
            ("count=99999999999999999999", "count"),
            ("recursive=yes", "recursive"),
        ] {
            let e = v2_options(Some(q)).unwrap_err().to_string();
            assert!(
                e.starts_with(&format!("invalid option {option}=")),
                "{q}: {e}"
            );
        }
    }
}
