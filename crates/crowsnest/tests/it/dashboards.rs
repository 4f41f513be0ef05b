//! The Grafana dashboards in `dashboards/`, tested the way Grafana uses them (Grafana itself
//! cannot be installed here):
//!
//! * the JSON follows Grafana's dashboard model: the fields Grafana needs, known panel types
//!   and units, a grid that fits, datasource references that resolve to the provisioned
//!   datasources (`dashboards/provisioning/`), template variables that exist before they are
//!   used, and the node, namespace, pod and container variables in each;
//! * every panel query and every variable query, with Grafana's variables substituted as
//!   Grafana does (`$timeFilter`, `$__interval`, `$__rate_interval`, the template variables
//!   with real values), runs against a real InfluxDB and a real Prometheus filled by a real
//!   agent and hub on 127.0.0.1, watching a real container (in a pod, as the kubelet labels
//!   it) that burns a CPU share and is restarted half-way (a counter reset): every query
//!   answers data and no error, and the CPU panels give the CPU the kernel charged to the
//!   container (and to the machine) over the same minute, with no negative value or spike.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crowsnest_testkit::docker::{self, Container, Image};
use crowsnest_testkit::servers::{Server, free_port, http, urlencode};
use serde_json::Value;

/// Kills the child on drop, so a failing assertion leaves no process behind.
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn repo_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn dashboards_dir() -> PathBuf {
    repo_dir().join("dashboards")
}

/// Every `dashboards/*.json`: file name and JSON.
fn dashboards() -> Vec<(String, Value)> {
    let mut out: Vec<(String, Value)> = std::fs::read_dir(dashboards_dir())
        .expect("dashboards/ exists")
        .map(|e| e.expect("read dashboards/").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .map(|p| {
            let text = std::fs::read_to_string(&p).unwrap();
            let json = serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("{}: not JSON: {e}", p.display()));
            (p.file_name().unwrap().to_string_lossy().into_owned(), json)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn yaml_files(dir: &Path) -> Vec<(PathBuf, serde_yaml_ng::Value)> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
        .collect();
    files.sort();
    assert!(
        !files.is_empty(),
        "no provisioning file in {}",
        dir.display()
    );
    files
        .into_iter()
        .map(|p| {
            let v = serde_yaml_ng::from_str(&std::fs::read_to_string(&p).unwrap())
                .unwrap_or_else(|e| panic!("{}: not YAML: {e}", p.display()));
            (p, v)
        })
        .collect()
}

/// A provisioned datasource.
#[derive(Debug, Clone)]
struct Datasource {
    kind: String,
    /// InfluxDB's database.
    db: Option<String>,
    /// Grafana's minimum interval (`jsonData.timeInterval`).
    time_interval: Option<Duration>,
}

/// The datasources of `dashboards/provisioning/datasources/*.yaml` by uid, checked against
/// Grafana's provisioning format.
fn datasources() -> BTreeMap<String, Datasource> {
    let mut out = BTreeMap::new();
    for (path, y) in yaml_files(&dashboards_dir().join("provisioning/datasources")) {
        let p = path.display();
        assert_eq!(y["apiVersion"].as_u64(), Some(1), "{p}: apiVersion 1");
        let list = y["datasources"]
            .as_sequence()
            .unwrap_or_else(|| panic!("{p}: datasources"));
        for d in list {
            let s = |k: &str| d[k].as_str().map(str::to_owned);
            let name = s("name").unwrap_or_else(|| panic!("{p}: a datasource without a name"));
            let uid = s("uid").unwrap_or_else(|| panic!("{p}: {name}: no uid"));
            let kind = s("type").unwrap_or_else(|| panic!("{p}: {name}: no type"));
            assert!(
                ["influxdb", "prometheus"].contains(&kind.as_str()),
                "{p}: {name}: type {kind}"
            );
            assert_eq!(s("access").as_deref(), Some("proxy"), "{p}: {name}: access");
            let url = s("url").unwrap_or_default();
            assert!(
                url.starts_with("http://") || url.starts_with("https://"),
                "{p}: {name}: url {url:?}"
            );
            let db = d["jsonData"]["dbName"].as_str().map(str::to_owned);
            if kind == "influxdb" {
                assert!(db.is_some(), "{p}: {name}: jsonData.dbName");
                assert_eq!(
                    s("database"),
                    db,
                    "{p}: {name}: database (older Grafana) = dbName"
                );
            }
            let time_interval = d["jsonData"]["timeInterval"].as_str().map(|t| {
                parse_duration(t).unwrap_or_else(|| panic!("{p}: {name}: timeInterval {t}"))
            });
            assert!(
                out.insert(
                    uid.clone(),
                    Datasource {
                        kind,
                        db,
                        time_interval
                    }
                )
                .is_none(),
                "{p}: uid {uid} twice"
            );
        }
    }
    out
}

/// `10s`, `1m`, `500ms`.
fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim_start_matches('>');
    let split = s.find(|c: char| !c.is_ascii_digit())?;
    let (n, unit) = s.split_at(split);
    let n: u64 = n.parse().ok()?;
    Some(match unit {
        "ms" => Duration::from_millis(n),
        "s" => Duration::from_secs(n),
        "m" => Duration::from_secs(n * 60),
        "h" => Duration::from_secs(n * 3600),
        _ => return None,
    })
}

/// Grafana's built-in variables.
const BUILTINS: &[&str] = &[
    "timeFilter",
    "__timeFilter",
    "__interval",
    "__interval_ms",
    "__rate_interval",
    "__range",
    "__range_s",
    "__range_ms",
    "interval",
    "__from",
    "__to",
    "__dashboard",
];

/// The panel types Grafana ships that these dashboards may use.
const PANEL_TYPES: &[&str] = &[
    "row",
    "timeseries",
    "stat",
    "gauge",
    "bargauge",
    "table",
    "text",
    "heatmap",
    "piechart",
];

/// Grafana unit ids used here.
const UNITS: &[&str] = &[
    "short",
    "none",
    "bytes",
    "Bps",
    "percentunit",
    "percent",
    "s",
    "ms",
];

/// A variable reference in a query: `$name`, `${name}`, `${name:format}` or `[[name]]`, with
/// where it starts and ends.
fn references(query: &str) -> Vec<(usize, usize, String)> {
    let b = query.as_bytes();
    let ident = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'$' && i + 1 < b.len() && b[i + 1] == b'{' {
            let end = query[i..].find('}').map(|e| i + e).expect("${ closed by }");
            let inner = &query[i + 2..end];
            let name = inner.split(':').next().unwrap_or("").to_owned();
            out.push((i, end + 1, name));
            i = end + 1;
        } else if b[i] == b'$' && i + 1 < b.len() && ident(b[i + 1]) {
            let mut j = i + 1;
            while j < b.len() && ident(b[j]) {
                j += 1;
            }
            out.push((i, j, query[i + 1..j].to_owned()));
            i = j;
        } else if b[i] == b'[' && query[i..].starts_with("[[") {
            let end = query[i..]
                .find("]]")
                .map(|e| i + e)
                .expect("[[ closed by ]]");
            out.push((
                i,
                end + 2,
                query[i + 2..end].split(':').next().unwrap_or("").to_owned(),
            ));
            i = end + 2;
        } else {
            i += 1;
        }
    }
    out
}

/// The query texts of a panel's targets.
fn target_queries(panel: &Value) -> Vec<(String, String)> {
    panel["targets"]
        .as_array()
        .map(|ts| {
            ts.iter()
                .map(|t| {
                    let q = t["query"].as_str().or(t["expr"].as_str()).unwrap_or("");
                    (t["refId"].as_str().unwrap_or("").to_owned(), q.to_owned())
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Every non-row panel, rows' nested panels included.
fn panels(d: &Value) -> Vec<&Value> {
    let mut out = Vec::new();
    for p in d["panels"].as_array().into_iter().flatten() {
        if p["type"] == "row" {
            out.extend(p["panels"].as_array().into_iter().flatten());
        } else {
            out.push(p);
        }
    }
    out
}

fn variables(d: &Value) -> Vec<&Value> {
    d["templating"]["list"]
        .as_array()
        .map(|v| v.iter().collect())
        .unwrap_or_default()
}

#[test]
fn dashboards_follow_grafanas_dashboard_model_and_the_provisioned_datasources() {
    let sources = datasources();
    for (path, y) in yaml_files(&dashboards_dir().join("provisioning/dashboards")) {
        let p = path.display();
        assert_eq!(y["apiVersion"].as_u64(), Some(1), "{p}: apiVersion 1");
        let providers = y["providers"]
            .as_sequence()
            .unwrap_or_else(|| panic!("{p}: providers"));
        assert!(!providers.is_empty(), "{p}: no provider");
        for pr in providers {
            assert!(
                pr["name"].as_str().is_some_and(|n| !n.is_empty()),
                "{p}: provider name"
            );
            assert_eq!(pr["type"].as_str(), Some("file"), "{p}: provider type");
            assert!(
                pr["options"]["path"]
                    .as_str()
                    .is_some_and(|s| s.starts_with('/')),
                "{p}: options.path"
            );
        }
    }
    let all = dashboards();
    let names: Vec<&str> = all.iter().map(|(f, _)| f.as_str()).collect();
    for want in [
        "influxdb-heapster.json",
        "influxdb-cadvisor.json",
        "prometheus.json",
    ] {
        assert!(
            names.contains(&want),
            "dashboards/{want} is missing: {names:?}"
        );
    }
    let mut uids = HashSet::new();
    for (file, d) in &all {
        let here = |what: &str| format!("{file}: {what}");
        // The dashboard's own fields.
        for key in ["title", "uid", "timezone", "refresh"] {
            assert!(
                d[key].as_str().is_some_and(|s| !s.is_empty()),
                "{}",
                here(key)
            );
        }
        let uid = d["uid"].as_str().unwrap();
        assert!(
            uid.len() <= 40
                && uid
                    .bytes()
                    .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'),
            "{}",
            here("uid: at most 40 of [A-Za-z0-9_-]")
        );
        assert!(uids.insert(uid.to_owned()), "{}", here("uid used twice"));
        assert!(
            d["schemaVersion"].as_u64().is_some_and(|v| v >= 30),
            "{}",
            here("schemaVersion")
        );
        assert!(d["version"].as_u64().is_some(), "{}", here("version"));
        assert!(d["editable"].is_boolean(), "{}", here("editable"));
        assert!(d["id"].is_null(), "{}", here("id must be null in a file"));
        assert_eq!(
            d["timezone"],
            "browser",
            "{}",
            here("times in the browser's zone")
        );
        assert!(
            d["time"]["from"].is_string() && d["time"]["to"].is_string(),
            "{}",
            here("time")
        );
        assert!(
            d["tags"]
                .as_array()
                .is_some_and(|t| t.iter().all(Value::is_string)),
            "{}",
            here("tags")
        );
        assert!(
            d["panels"].as_array().is_some_and(|p| !p.is_empty()),
            "{}",
            here("panels")
        );
        // Template variables: the four the dashboards promise, each resolvable.
        let vars = variables(d);
        let var_names: Vec<&str> = vars
            .iter()
            .map(|v| v["name"].as_str().unwrap_or(""))
            .collect();
        for want in ["node", "namespace", "pod", "container"] {
            assert!(
                var_names.contains(&want),
                "{}",
                here(&format!("variable {want}"))
            );
        }
        let mut defined: BTreeSet<&str> = BTreeSet::new();
        for v in &vars {
            let name = v["name"].as_str().unwrap_or("");
            let at = |what: &str| here(&format!("variable {name}: {what}"));
            assert!(
                !name.is_empty() && !defined.contains(name),
                "{}",
                at("name empty or twice")
            );
            assert!(
                [
                    "query",
                    "custom",
                    "interval",
                    "datasource",
                    "constant",
                    "textbox"
                ]
                .contains(&v["type"].as_str().unwrap_or("")),
                "{}",
                at("type")
            );
            if v["type"] == "query" {
                let uid = v["datasource"]["uid"].as_str().unwrap_or("");
                let ds = sources.get(uid).unwrap_or_else(|| {
                    panic!("{}", at(&format!("datasource {uid} is not provisioned")))
                });
                assert_eq!(
                    v["datasource"]["type"].as_str(),
                    Some(ds.kind.as_str()),
                    "{}",
                    at("datasource type")
                );
                let q = v["query"]
                    .as_str()
                    .unwrap_or_else(|| panic!("{}", at("query")));
                assert!(!q.is_empty(), "{}", at("query"));
                for (_, _, r) in references(q) {
                    assert!(
                        defined.contains(r.as_str()) || BUILTINS.contains(&r.as_str()),
                        "{}",
                        at(&format!("uses ${r}, not defined before it"))
                    );
                }
                assert!(
                    v["refresh"].as_u64().is_some_and(|r| r >= 1),
                    "{}",
                    at("refresh")
                );
            }
            if v["includeAll"] == true {
                assert!(
                    v["allValue"].is_string(),
                    "{}",
                    at("includeAll without allValue")
                );
            }
            assert!(v["current"].is_object(), "{}", at("current"));
            defined.insert(name);
        }
        // Panels: types, grid, datasource, targets, units, variables.
        let mut ids = HashSet::new();
        let mut used: BTreeSet<String> = BTreeSet::new();
        let mut cells: HashSet<(u64, u64)> = HashSet::new();
        for p in d["panels"].as_array().unwrap() {
            let title = p["title"].as_str().unwrap_or("");
            let at = |what: &str| here(&format!("panel {title:?}: {what}"));
            assert!(!title.is_empty(), "{}", here("a panel without a title"));
            let id = p["id"].as_u64().unwrap_or_else(|| panic!("{}", at("id")));
            assert!(ids.insert(id), "{}", at("id used twice"));
            let ty = p["type"].as_str().unwrap_or("");
            assert!(
                PANEL_TYPES.contains(&ty),
                "{}",
                at(&format!("unknown type {ty:?}"))
            );
            let g = &p["gridPos"];
            let (x, y, w, h) = (
                g["x"].as_u64(),
                g["y"].as_u64(),
                g["w"].as_u64(),
                g["h"].as_u64(),
            );
            let (Some(x), Some(y), Some(w), Some(h)) = (x, y, w, h) else {
                panic!("{}", at("gridPos x, y, w, h"));
            };
            assert!(
                w >= 1 && h >= 1 && x + w <= 24,
                "{}",
                at("gridPos out of the 24 columns")
            );
            for cx in x..x + w {
                for cy in y..y + h {
                    assert!(cells.insert((cx, cy)), "{}", at("overlaps another panel"));
                }
            }
            if ty == "row" {
                assert!(
                    p["collapsed"].is_boolean() && p["panels"].is_array(),
                    "{}",
                    at("row")
                );
                assert_eq!((w, h), (24, 1), "{}", at("a row spans the width"));
                continue;
            }
            let uid = p["datasource"]["uid"].as_str().unwrap_or("");
            let ds = sources.get(uid).unwrap_or_else(|| {
                panic!("{}", at(&format!("datasource {uid} is not provisioned")))
            });
            assert_eq!(
                p["datasource"]["type"].as_str(),
                Some(ds.kind.as_str()),
                "{}",
                at("datasource type")
            );
            let unit = p["fieldConfig"]["defaults"]["unit"].as_str().unwrap_or("");
            assert!(UNITS.contains(&unit), "{}", at(&format!("unit {unit:?}")));
            assert!(
                p["options"]["legend"].is_object(),
                "{}",
                at("options.legend")
            );
            let targets = p["targets"]
                .as_array()
                .unwrap_or_else(|| panic!("{}", at("targets")));
            assert!(!targets.is_empty(), "{}", at("no target"));
            let mut refs = HashSet::new();
            for t in targets {
                let r = t["refId"].as_str().unwrap_or("");
                assert!(
                    !r.is_empty() && refs.insert(r),
                    "{}",
                    at("refId empty or twice")
                );
                if !t["datasource"].is_null() {
                    assert_eq!(
                        t["datasource"],
                        p["datasource"],
                        "{}",
                        at("target datasource")
                    );
                }
                let q = match ds.kind.as_str() {
                    "influxdb" => {
                        assert_eq!(t["rawQuery"], true, "{}", at("rawQuery"));
                        assert!(
                            ["time_series", "table"]
                                .contains(&t["resultFormat"].as_str().unwrap_or("")),
                            "{}",
                            at("resultFormat")
                        );
                        t["query"].as_str()
                    }
                    _ => t["expr"].as_str(),
                };
                let q = q
                    .filter(|q| !q.is_empty())
                    .unwrap_or_else(|| panic!("{}", at("empty query")));
                for (_, _, r) in references(q) {
                    assert!(
                        defined.contains(r.as_str()) || BUILTINS.contains(&r.as_str()),
                        "{}",
                        at(&format!("${r} is not a variable of the dashboard"))
                    );
                    used.insert(r);
                }
                if ds.kind == "influxdb" {
                    assert!(q.contains("$timeFilter"), "{}", at("no $timeFilter"));
                }
            }
        }
        for v in &var_names {
            assert!(
                used.contains(*v),
                "{}",
                here(&format!("variable {v} is used by no panel"))
            );
        }
    }
}

/// How Grafana would fill the variables in, for one run.
struct Fill {
    /// Template variables' values.
    vars: BTreeMap<&'static str, String>,
    start_ms: i64,
    end_ms: i64,
    interval: Duration,
    /// Prometheus' scrape interval (for `$__rate_interval`).
    scrape: Duration,
}

fn go_duration(d: Duration) -> String {
    if d.subsec_millis() != 0 || d.as_secs() == 0 {
        format!("{}ms", d.as_millis())
    } else {
        format!("{}s", d.as_secs())
    }
}

/// Escapes regex metacharacters as Grafana does for a variable inside `=~ /.../` (InfluxDB)
/// or `=~ "..."` (Prometheus, where a backslash is itself escaped in the string).
fn regex_escape(v: &str, prometheus: bool) -> String {
    let mut s = String::new();
    for c in v.chars() {
        if "\\^$.|?*+()[]{}/".contains(c) && !(prometheus && c == '/') {
            s.push_str(if prometheus { "\\\\" } else { "\\" });
        }
        s.push(c);
    }
    s
}

impl Fill {
    fn apply(&self, query: &str, prometheus: bool) -> String {
        let mut out = String::with_capacity(query.len() + 64);
        let mut last = 0;
        let range = Duration::from_millis((self.end_ms - self.start_ms) as u64);
        let rate = (self.interval + self.scrape).max(self.scrape * 4);
        for (a, b, name) in references(query) {
            out.push_str(&query[last..a]);
            let text = match name.as_str() {
                "timeFilter" | "__timeFilter" => {
                    format!("time >= {}ms and time <= {}ms", self.start_ms, self.end_ms)
                }
                "__interval" | "interval" => go_duration(self.interval),
                "__interval_ms" => self.interval.as_millis().to_string(),
                "__rate_interval" => go_duration(rate),
                "__range" => go_duration(range),
                "__range_s" => range.as_secs().to_string(),
                "__range_ms" => range.as_millis().to_string(),
                v => regex_escape(
                    self.vars
                        .get(v)
                        .unwrap_or_else(|| panic!("no value for ${v}")),
                    prometheus,
                ),
            };
            out.push_str(&text);
            last = b;
        }
        out.push_str(&query[last..]);
        out
    }
}

/// One answered series: its labels and its points.
#[derive(Debug)]
struct Series {
    labels: String,
    points: Vec<(i64, f64)>,
}

fn get_json(port: u16, path: &str) -> Result<Value, String> {
    let (status, body) = http(port, "GET", path, "").map_err(|e| format!("GET {path}: {e}"))?;
    let v: Value =
        serde_json::from_str(&body).map_err(|e| format!("{status} not JSON: {e}: {body}"))?;
    if status != 200 {
        return Err(format!("{status}: {body}"));
    }
    Ok(v)
}

/// Runs an InfluxQL query: the series, or the error InfluxDB gave.
fn influx(port: u16, db: &str, q: &str) -> Result<Vec<Series>, String> {
    let path = format!("/query?db={}&epoch=ms&q={}", urlencode(db), urlencode(q));
    let v = get_json(port, &path)?;
    let r = &v["results"][0];
    if let Some(e) = r["error"].as_str().or(v["error"].as_str()) {
        return Err(e.to_owned());
    }
    Ok(r["series"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| Series {
            labels: format!("{} {}", s["name"], s["tags"]),
            points: s["values"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|row| Some((row[0].as_i64()?, row[1].as_f64()?)))
                .collect(),
        })
        .collect())
}

/// The values of an InfluxDB `SHOW TAG VALUES` answer.
fn influx_tag_values(port: u16, db: &str, q: &str) -> Result<BTreeSet<String>, String> {
    let path = format!("/query?db={}&q={}", urlencode(db), urlencode(q));
    let v = get_json(port, &path)?;
    let r = &v["results"][0];
    if let Some(e) = r["error"].as_str() {
        return Err(e.to_owned());
    }
    Ok(r["series"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|s| s["values"].as_array().cloned().unwrap_or_default())
        .filter_map(|row| row[1].as_str().map(str::to_owned))
        .collect())
}

/// Runs a PromQL range query the way Grafana does.
fn prom_range(port: u16, q: &str, f: &Fill) -> Result<Vec<Series>, String> {
    let path = format!(
        "/api/v1/query_range?query={}&start={}&end={}&step={}",
        urlencode(q),
        f.start_ms as f64 / 1000.0,
        f.end_ms as f64 / 1000.0,
        f.interval.as_secs_f64()
    );
    let v = get_json(port, &path)?;
    if v["status"] != "success" {
        return Err(v.to_string());
    }
    Ok(v["data"]["result"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| Series {
            labels: s["metric"].to_string(),
            points: s["values"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|p| {
                    let t = (p[0].as_f64()? * 1000.0) as i64;
                    let v: f64 = p[1].as_str()?.parse().ok()?;
                    v.is_finite().then_some((t, v))
                })
                .collect(),
        })
        .collect())
}

/// Grafana's `label_values(<selector>, <label>)` against Prometheus' series API.
fn prom_label_values(port: u16, q: &str, f: &Fill) -> Result<BTreeSet<String>, String> {
    let inner = q
        .strip_prefix("label_values(")
        .and_then(|r| r.strip_suffix(')'))
        .ok_or_else(|| format!("not label_values(...): {q}"))?;
    let (selector, label) = inner
        .rsplit_once(',')
        .ok_or("label_values(selector, label)")?;
    let path = format!(
        "/api/v1/series?match[]={}&start={}&end={}",
        urlencode(selector.trim()),
        f.start_ms / 1000,
        f.end_ms / 1000 + 1
    );
    let v = get_json(port, &path)?;
    Ok(v["data"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s[label.trim()].as_str().map(str::to_owned))
        .collect())
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// A cgroup's CPU time (cpuacct, nanoseconds), if the cgroup is there.
fn try_cpuacct(cgroup: &str) -> Option<u64> {
    let path = crowsnest_testkit::cgroup_root()
        .join("cpuacct")
        .join(cgroup.trim_start_matches('/'))
        .join("cpuacct.usage");
    crowsnest_testkit::read_u64(&path)
}

/// A cgroup's CPU time (cpuacct, nanoseconds).
fn cpuacct(cgroup: &str) -> u64 {
    try_cpuacct(cgroup).unwrap_or_else(|| panic!("no cpuacct.usage for {cgroup}"))
}

/// What a CPU panel target is compared with.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Expect {
    /// The burning container (one series).
    Burner,
    /// The whole machine.
    Machine,
}

/// The CPU panels checked against the kernel: dashboard, panel title, target.
const CPU_PANELS: &[(&str, &str, &str, Expect)] = &[
    (
        "influxdb-heapster.json",
        "Node CPU usage",
        "A",
        Expect::Machine,
    ),
    (
        "influxdb-heapster.json",
        "Namespace CPU usage",
        "A",
        Expect::Burner,
    ),
    (
        "influxdb-heapster.json",
        "Pod CPU usage",
        "A",
        Expect::Burner,
    ),
    (
        "influxdb-heapster.json",
        "Container CPU usage",
        "A",
        Expect::Burner,
    ),
    (
        "influxdb-heapster.json",
        "Container CPU usage (hub rate)",
        "A",
        Expect::Burner,
    ),
    (
        "influxdb-heapster-legacy.json",
        "Node CPU usage",
        "A",
        Expect::Machine,
    ),
    (
        "influxdb-heapster-legacy.json",
        "Pod CPU usage",
        "A",
        Expect::Burner,
    ),
    (
        "influxdb-heapster-legacy.json",
        "Container CPU usage",
        "A",
        Expect::Burner,
    ),
    (
        "influxdb-heapster-legacy.json",
        "Container CPU usage (hub rate)",
        "A",
        Expect::Burner,
    ),
    (
        "influxdb-cadvisor.json",
        "Machine CPU usage",
        "A",
        Expect::Machine,
    ),
    (
        "influxdb-cadvisor.json",
        "Namespace CPU usage",
        "A",
        Expect::Burner,
    ),
    (
        "influxdb-cadvisor.json",
        "Pod CPU usage",
        "A",
        Expect::Burner,
    ),
    (
        "influxdb-cadvisor.json",
        "Container CPU usage",
        "A",
        Expect::Burner,
    ),
    ("prometheus.json", "Node CPU usage", "A", Expect::Machine),
    (
        "prometheus.json",
        "Node CPU usage (hub)",
        "A",
        Expect::Machine,
    ),
    (
        "prometheus.json",
        "Namespace CPU usage",
        "A",
        Expect::Burner,
    ),
    (
        "prometheus.json",
        "Namespace CPU usage",
        "B",
        Expect::Burner,
    ),
    ("prometheus.json", "Pod CPU usage", "A", Expect::Burner),
    ("prometheus.json", "Pod CPU usage", "B", Expect::Burner),
    (
        "prometheus.json",
        "Container CPU usage",
        "A",
        Expect::Burner,
    ),
];

/// The Prometheus configuration shipped in `dashboards/prometheus-scrape.yml`, with this
/// run's targets and a 2 s scrape interval.
fn scrape_config(agent: u16, hub: u16, node: &str, scrape: Duration) -> String {
    use serde_yaml_ng::Value as Y;
    let path = dashboards_dir().join("prometheus-scrape.yml");
    let mut y: Y = serde_yaml_ng::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    y["global"]["scrape_interval"] = Y::from(go_duration(scrape));
    let jobs = y["scrape_configs"]
        .as_sequence_mut()
        .expect("scrape_configs");
    let mut seen = BTreeSet::new();
    for job in jobs.iter_mut() {
        let name = job["job_name"].as_str().unwrap_or("").to_owned();
        let static_configs: Y = match name.as_str() {
            "crowsnest-agent" => serde_yaml_ng::from_str(&format!(
                "[{{targets: ['127.0.0.1:{agent}'], labels: {{node: '{node}'}}}}]"
            ))
            .unwrap(),
            "crowsnest-hub" => {
                serde_yaml_ng::from_str(&format!("[{{targets: ['127.0.0.1:{hub}']}}]")).unwrap()
            }
            other => panic!("{}: unexpected job {other}", path.display()),
        };
        job["static_configs"] = static_configs;
        seen.insert(name);
    }
    assert_eq!(seen.len(), 2, "{}: the agent and hub jobs", path.display());
    serde_yaml_ng::to_string(&y).unwrap()
}

#[test]
fn every_dashboard_query_returns_data_from_real_servers_and_cpu_panels_are_right() {
    if !crowsnest_testkit::servers::on_path("promtool") {
        crowsnest_testkit::missing("promtool (Debian package prometheus)");
        return;
    }
    let out = Command::new("promtool")
        .arg("check")
        .arg("config")
        .arg(dashboards_dir().join("prometheus-scrape.yml"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "promtool check config dashboards/prometheus-scrape.yml: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let sources = datasources();
    let Some(influx_server) = Server::influxd() else {
        return;
    };
    let Some(mut prom) = Server::prometheus() else {
        return;
    };
    if !docker::available() {
        return;
    }
    let pid = std::process::id();
    let (namespace, pod, node) = (
        format!("ns-{pid}"),
        format!("web-{pid}"),
        format!("node-{pid}"),
    );
    let image = Image::busybox();
    // A container in a pod (as the kubelet labels it), capped at 0.3 cores by its quota.
    let burner = Container::run(
        &[
            "--cpus",
            "0.3",
            "--label",
            &format!("io.kubernetes.pod.name={pod}"),
            "--label",
            &format!("io.kubernetes.pod.namespace={namespace}"),
            "--label",
            "io.kubernetes.container.name=burner",
            "--label",
            &format!("io.kubernetes.pod.uid=uid-{pid}"),
        ],
        &image,
        &["sh", "-c", "while :; do :; done"],
    );
    let db = |uid: &str| {
        sources[uid]
            .db
            .clone()
            .expect("an InfluxDB datasource has a database")
    };
    let queues = tempfile::tempdir().unwrap();
    let (agent_port, hub_port) = (free_port(), free_port());
    let _agent = Reaped(
        Command::new(env!("CARGO_BIN_EXE_crowsnest"))
            .args([
                "agent",
                "--listen",
                &format!("127.0.0.1:{agent_port}"),
                "--store-dir=",
            ])
            .arg("--sink")
            .arg(format!(
                "influxdb:{}?db={}&schema=cadvisor&flush=200ms",
                influx_server.url(),
                db("crowsnest-influxdb-cadvisor")
            ))
            .arg("--sink-queue-dir")
            .arg(queues.path().join("agent"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the agent"),
    );
    let _hub = Reaped(
        Command::new(env!("CARGO_BIN_EXE_crowsnest"))
            .args(["hub", "--listen", &format!("127.0.0.1:{hub_port}")])
            .arg("--node")
            .arg(format!("{node}=127.0.0.1:{agent_port}"))
            .args(["--resolution", "2s"])
            .arg("--sink")
            .arg(format!(
                "influxdb:{}?db={}&schema=heapster&flush=200ms&name=heapster",
                influx_server.url(),
                db("crowsnest-influxdb-heapster")
            ))
            .arg("--sink")
            .arg(format!(
                "influxdb:{}?db={}&schema=heapster-legacy&flush=200ms&name=heapster-legacy",
                influx_server.url(),
                db("crowsnest-influxdb-heapster-legacy")
            ))
            .arg("--sink-queue-dir")
            .arg(queues.path().join("hub"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the hub"),
    );
    // Prometheus again, with the shipped scrape configuration pointed at this agent and hub.
    let scrape = Duration::from_secs(2);
    prom.stop();
    std::fs::write(
        prom.dir().join("prometheus.yml"),
        scrape_config(agent_port, hub_port, &node, scrape),
    )
    .unwrap();
    prom.start();
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .unwrap()
        .trim()
        .to_owned();
    let burner_cgroup = burner.cgroup();
    // The values Grafana's variables would be set to, per dashboard.
    let values = |file: &str| -> BTreeMap<&'static str, String> {
        let (n, c) = match file {
            "influxdb-cadvisor.json" => (host.clone(), "burner".to_owned()),
            "prometheus.json" => (node.clone(), burner.name().to_owned()),
            _ => (node.clone(), "burner".to_owned()),
        };
        BTreeMap::from([
            ("node", n),
            ("namespace", namespace.clone()),
            ("pod", pod.clone()),
            ("container", c),
        ])
    };

    // Twenty seconds to settle, then the reference minute starts.
    std::thread::sleep(Duration::from_secs(20));
    let (t_a, burner_a, machine_a) = (now_ms(), cpuacct(&burner_cgroup), cpuacct("/"));
    // Twenty seconds in, the container restarts: its cgroup is made again under the same
    // name and its CPU counter starts from 0 (a counter reset every CPU panel must ride).
    std::thread::sleep(Duration::from_secs(20));
    let burner_before_reset = cpuacct(&burner_cgroup);
    docker::docker_ok(&["restart", "-t", "0", burner.id()]);
    let restarted = Instant::now();
    while try_cpuacct(&burner_cgroup).is_none_or(|u| u >= burner_before_reset) {
        assert!(
            restarted.elapsed() < Duration::from_secs(30),
            "the burner did not come back"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let all = dashboards();
    let started = Instant::now();
    let mut wait = Duration::from_secs(40);
    let mut round = 0;
    loop {
        round += 1;
        std::thread::sleep(wait);
        let (t_b, burner_b, machine_b) = (now_ms(), cpuacct(&burner_cgroup), cpuacct("/"));
        let secs = (t_b - t_a) as f64 / 1000.0;
        // What the container used before the reset, and since (its new counter).
        let burner_ref = (burner_before_reset - burner_a + burner_b) as f64 / 1e9 / secs;
        let machine_ref = (machine_b - machine_a) as f64 / 1e9 / secs;
        let mut failures = Vec::new();
        let mut checked = Vec::new();
        for (file, d) in &all {
            let uid_of = |v: &Value| v["datasource"]["uid"].as_str().unwrap_or("").to_owned();
            let first_uid = panels(d).first().map(|p| uid_of(p)).unwrap_or_default();
            let ds = &sources[&first_uid];
            let fill = Fill {
                vars: values(file),
                start_ms: t_a,
                end_ms: t_b,
                // Grafana's interval: the range over the panel's points, at least the
                // datasource's minimum interval (Prometheus': its scrape interval).
                interval: if ds.kind == "prometheus" {
                    scrape
                } else {
                    ds.time_interval.unwrap_or(Duration::from_secs(10))
                },
                scrape,
            };
            // Variables first: each answers, and the value chosen is among its answers.
            for v in variables(d) {
                let name = v["name"].as_str().unwrap();
                let uid = uid_of(v);
                let q = fill.apply(
                    v["query"].as_str().unwrap(),
                    sources[&uid].kind == "prometheus",
                );
                let got = if sources[&uid].kind == "prometheus" {
                    prom_label_values(prom.port(), &q, &fill)
                } else {
                    influx_tag_values(influx_server.port(), &db(&uid), &q)
                };
                let want = &fill.vars[name];
                match got {
                    Ok(vals) if vals.contains(want) => {}
                    Ok(vals) => failures.push(format!(
                        "{file}: variable {name}: {want:?} not in {vals:?} ({q})"
                    )),
                    Err(e) => failures.push(format!("{file}: variable {name}: {e} ({q})")),
                }
            }
            for p in panels(d) {
                let title = p["title"].as_str().unwrap();
                let uid = uid_of(p);
                let prometheus = sources[&uid].kind == "prometheus";
                for (ref_id, query) in target_queries(p) {
                    let q = fill.apply(&query, prometheus);
                    let answer = if prometheus {
                        prom_range(prom.port(), &q, &fill)
                    } else {
                        influx(influx_server.port(), &db(&uid), &q)
                    };
                    let series = match answer {
                        Ok(s) if s.iter().any(|s| !s.points.is_empty()) => s,
                        Ok(_) => {
                            failures.push(format!("{file}: {title} {ref_id}: no data ({q})"));
                            continue;
                        }
                        Err(e) => {
                            failures.push(format!("{file}: {title} {ref_id}: error {e} ({q})"));
                            continue;
                        }
                    };
                    let Some((_, _, _, expect)) = CPU_PANELS
                        .iter()
                        .find(|(f, t, r, _)| f == file && *t == title && *r == ref_id)
                    else {
                        continue;
                    };
                    let want = match expect {
                        Expect::Burner => burner_ref,
                        Expect::Machine => machine_ref,
                    };
                    if series.len() != 1 {
                        let labels: Vec<&str> = series.iter().map(|s| s.labels.as_str()).collect();
                        failures.push(format!(
                            "{file}: {title} {ref_id}: one series expected, got {labels:?}"
                        ));
                        continue;
                    }
                    let mut pts = series[0].points.clone();
                    pts.sort_by_key(|p| p.0);
                    if !prometheus {
                        // The newest InfluxDB bucket is still filling: its max is not at its end.
                        pts.pop();
                    }
                    let v: Vec<f64> = pts.iter().map(|p| p.1).collect();
                    if v.len() < 3 {
                        failures.push(format!("{file}: {title} {ref_id}: too few points {v:?}"));
                        continue;
                    }
                    let mean = v.iter().sum::<f64>() / v.len() as f64;
                    let tolerance = 0.05 + 0.15 * want;
                    let bad = v.iter().any(|x| *x < 0.0 || *x > 2.0 * want + 0.2);
                    checked.push(format!(
                        "{file}: {title} {ref_id}: {mean:.3} cores (kernel: {want:.3})"
                    ));
                    if (mean - want).abs() > tolerance || bad {
                        failures.push(format!(
                            "{file}: {title} {ref_id}: mean {mean:.3} cores, the kernel charged {want:.3} over the same minute; points {v:?}"
                        ));
                    }
                }
            }
        }
        if failures.is_empty() {
            assert_eq!(
                checked.len(),
                CPU_PANELS.len(),
                "every listed CPU panel was checked: {checked:#?}"
            );
            eprintln!(
                "dashboards: {} CPU panels against the kernel:\n{}",
                checked.len(),
                checked.join("\n")
            );
            break;
        }
        assert!(
            round < 4 && started.elapsed() < Duration::from_secs(150),
            "after {round} rounds ({:?}):\n{}\nagent {agent_port}, hub {hub_port}, influxd log:\n{}\nprometheus log:\n{}",
            started.elapsed(),
            failures.join("\n"),
            influx_server.log(),
            prom.log()
        );
        wait = Duration::from_secs(15);
    }
}
