use std::time::Duration;

use crowsnest_formats::influx::{Precision, Schema};

use super::*;
use crate::influxdb::config::Api;

fn influx(uri: &str) -> (influxdb::Config, Common) {
    let spec = parse(uri).unwrap_or_else(|e| panic!("{uri}: {e}"));
    match spec.kind {
        Kind::Influxdb(c) => (c, spec.common),
        other => panic!("{uri}: {other:?}"),
    }
}

fn err(uri: &str) -> String {
    parse(uri).unwrap_err().to_string()
}

#[test]
fn heapster_influxdb_uris() {
    let (c, common) =
        influx("influxdb:http://influx:8086?db=k8s&user=admin&pw=secret&withfields=true");
    assert_eq!(c.url.as_str(), "http://influx:8086/");
    assert_eq!(c.lines.schema, Schema::Heapster { with_fields: true });
    assert_eq!(c.lines.precision, Precision::Nanoseconds);
    assert_eq!(c.lines.cluster_name, "default");
    assert_eq!(
        c.api,
        Api::V1 {
            db: "k8s".into(),
            rp: None,
            user: Some("admin".into()),
            password: Some("secret".into()),
            create_database: true,
        }
    );
    assert_eq!(common.name, "influxdb-influx-8086-k8s");
    assert_eq!(common.queue_bytes, 256 << 20);
    assert_eq!(common.flush, Duration::from_secs(1));

    // Heapster's empty options mean "default".
    let (c, _) = influx("influxdb:http://h:8086?user=&pw=&db=&secure=&withfields=");
    assert!(matches!(c.api, Api::V1 { ref db, user: None, .. } if db == "k8s"));
    assert_eq!(c.lines.schema, Schema::Heapster { with_fields: false });

    let (c, common) = influx(
        "influxdb:h:8086?schema=heapster-legacy&rp=autogen&precision=s&gzip=true&secure=true\
         &cluster_name=c1&create_database=false&name=legacy&queue_bytes=64M&batch_bytes=512k\
         &flush=250ms&timeout=3s&backoff_min=50ms&backoff_max=1m30s",
    );
    assert_eq!(
        c.url.as_str(),
        "https://h:8086/",
        "no scheme: http; secure: https"
    );
    assert_eq!(c.lines.schema, Schema::HeapsterLegacy);
    assert_eq!(c.lines.precision, Precision::Seconds);
    assert_eq!(c.lines.cluster_name, "c1");
    assert!(c.gzip);
    assert!(
        matches!(c.api, Api::V1 { rp: Some(ref rp), create_database: false, .. } if rp == "autogen")
    );
    assert_eq!(common.name, "legacy");
    assert_eq!(common.queue_bytes, 64 << 20);
    assert_eq!(common.batch_bytes, 512 << 10);
    assert_eq!(common.flush, Duration::from_millis(250));
    assert_eq!(common.timeout, Duration::from_secs(3));
    assert_eq!(common.backoff_min, Duration::from_millis(50));
    assert_eq!(common.backoff_max, Duration::from_secs(90));

    let (c, _) = influx("influxdb:http://u:p%40ss@h:8086/prefix?schema=cadvisor");
    assert_eq!(
        c.url.as_str(),
        "http://h:8086/prefix",
        "credentials taken out of the URL"
    );
    assert!(
        matches!(c.api, Api::V1 { user: Some(ref u), password: Some(ref p), .. } if u == "u" && p == "p@ss")
    );
    assert_eq!(c.lines.schema, Schema::Cadvisor);
}

#[test]
fn influxdb_2_uris() {
    let (c, common) = influx("influxdb:http://h:8086?org=o&bucket=b&token=t0k");
    assert_eq!(
        c.api,
        Api::V2 {
            org: "o".into(),
            bucket: "b".into(),
            token: "t0k".into()
        }
    );
    assert_eq!(common.name, "influxdb-h-8086-b");
    assert_eq!(
        err("influxdb:http://h:8086?org=o&bucket=b"),
        r#"sink URI "influxdb:http://h:8086?org=o&bucket=b": InfluxDB 2.x needs org, bucket and token; token is missing"#
    );
    assert_eq!(
        err("influxdb:http://h:8086?org=o&bucket=b&token=t&db=x"),
        r#"sink URI "influxdb:http://h:8086?org=o&bucket=b&token=***&db=x": option db="x": an InfluxDB 1.x option; this URI has org/bucket/token (2.x)"#
    );
}

#[test]
fn remote_write_uris_and_aliases() {
    for (uri, want) in [
        (
            "remote_write:http://p:9090/api/v1/write",
            "http://p:9090/api/v1/write",
        ),
        ("remote_write:http://p:9090", "http://p:9090/api/v1/write"),
        (
            "remote_write:http://p:9090/custom/push",
            "http://p:9090/custom/push",
        ),
        ("prometheus:http://p:9090", "http://p:9090/api/v1/write"),
        (
            "victoriametrics:http://vm:8428/",
            "http://vm:8428/api/v1/write",
        ),
    ] {
        let spec = parse(uri).unwrap();
        let Kind::RemoteWrite(c) = spec.kind else {
            panic!("{uri}")
        };
        assert_eq!(c.url.as_str(), want, "{uri}");
    }
    let spec = parse("remote_write:http://p:9090?token=abc").unwrap();
    assert_eq!(spec.common.name, "remote_write-p-9090");
    assert_eq!(spec.display, "remote_write:http://p:9090?token=***");
    assert_eq!(
        err("victoriametrics:http://vm:8428/write"),
        r#"sink URI "victoriametrics:http://vm:8428/write": option path="/write": victoriametrics: writes go to /api/v1/write; give no path or use remote_write:"#
    );
}

#[test]
fn stdout_uri() {
    let spec = parse("stdout:").unwrap();
    assert_eq!(spec.kind, Kind::Stdout(stdout::Config::default()));
    assert_eq!(spec.common.name, "stdout");
    let spec = parse("stdout:?flush=0s&name=debug").unwrap();
    assert_eq!(spec.common.flush, Duration::ZERO);
    assert_eq!(spec.common.name, "debug");
}

#[test]
fn wrong_uris_name_the_wrong_part() {
    for (uri, want) in [
        (
            "influxdb",
            r#"sink URI "influxdb": expected KIND:ADDRESS such as influxdb:http://host:8086"#,
        ),
        (
            "influx:http://h:8086",
            r#"sink URI "influx:http://h:8086": unknown sink kind "influx" (known: influxdb, remote_write, prometheus, victoriametrics, stdout)"#,
        ),
        (
            "influxdb:",
            r#"sink URI "influxdb:": address "": an address such as http://host:8086 is needed"#,
        ),
        (
            "influxdb:ftp://h:8086",
            r#"sink URI "influxdb:ftp://h:8086": address "ftp://h:8086": the scheme must be http or https"#,
        ),
        (
            "influxdb:http://h:99999",
            r#"sink URI "influxdb:http://h:99999": address "http://h:99999": invalid port number"#,
        ),
        (
            "influxdb:http://h:8086?schema=graphite",
            r#"sink URI "influxdb:http://h:8086?schema=graphite": option schema="graphite": expected heapster, heapster-legacy or cadvisor"#,
        ),
        (
            "influxdb:http://h:8086?schema=cadvisor&withfields=true",
            r#"sink URI "influxdb:http://h:8086?schema=cadvisor&withfields=true": option withfields="true": only the heapster schema has a withfields mode"#,
        ),
        (
            "influxdb:http://h:8086?gzip=maybe",
            r#"sink URI "influxdb:http://h:8086?gzip=maybe": option gzip="maybe": expected true or false"#,
        ),
        (
            "influxdb:http://h:8086?precision=h",
            r#"sink URI "influxdb:http://h:8086?precision=h": option precision="h": expected ns, us, ms or s"#,
        ),
        (
            "influxdb:http://h:8086?flush=soon",
            r#"sink URI "influxdb:http://h:8086?flush=soon": option flush="soon": expected a duration such as 500ms, 10s, 1m"#,
        ),
        (
            "influxdb:http://h:8086?queue_bytes=lots",
            r#"sink URI "influxdb:http://h:8086?queue_bytes=lots": option queue_bytes="lots": expected a size such as 1048576, 64k, 256M, 1G"#,
        ),
        (
            "influxdb:http://h:8086?queue_bytes=10k",
            r#"sink URI "influxdb:http://h:8086?queue_bytes=10k": option queue_bytes="10k": must be at least 1048576"#,
        ),
        (
            "influxdb:http://h:8086?retention=4h",
            r#"sink URI "influxdb:http://h:8086?retention=4h": option retention="4h": crowsnest does not create retention policies; name an existing one with rp="#,
        ),
        (
            "influxdb:http://h:8086?name=../x",
            r#"sink URI "influxdb:http://h:8086?name=../x": option name="../x": use letters, digits, '_', '.', '-' only"#,
        ),
        (
            "stdout:somewhere",
            r#"sink URI "stdout:somewhere": address "somewhere": stdout: takes no address"#,
        ),
        (
            "remote_write:http://p:9090?token=t&user=u",
            r#"sink URI "remote_write:http://p:9090?token=***&user=u": option token="***": use either token or user/pw, not both"#,
        ),
    ] {
        assert_eq!(err(uri), want, "{uri}");
    }
    let e = err("influxdb:http://h:8086?pw=hunter2&colour=blue");
    assert!(
        e.starts_with(r#"sink URI "influxdb:http://h:8086?pw=***&colour=blue": unknown option "colour" for influxdb (known: "#),
        "{e}"
    );
    assert!(
        e.contains("schema") && e.contains("queue_bytes") && !e.contains("hunter2"),
        "{e}"
    );
    let e = err("influxdb:http://user:hunter2@h:8086?schema=x");
    assert!(!e.contains("hunter2") && e.contains("user:***@h"), "{e}");
}

#[test]
fn sizes_and_durations() {
    assert_eq!(parse_size("1048576"), Some(1 << 20));
    assert_eq!(parse_size("64k"), Some(64 << 10));
    assert_eq!(parse_size("256MiB"), Some(256 << 20));
    assert_eq!(parse_size("1G"), Some(1 << 30));
    assert_eq!(parse_size("1T"), None);
    assert_eq!(parse_size(""), None);
    assert_eq!(parse_duration("10"), Some(Duration::from_secs(10)));
    assert_eq!(parse_duration("1.5s"), Some(Duration::from_millis(1500)));
    assert_eq!(parse_duration("1h2m3s"), Some(Duration::from_secs(3723)));
    assert_eq!(parse_duration("5 s"), None);
    assert_eq!(parse_duration(""), None);
    assert_eq!(parse_duration("s"), None);
}

/// Found by the `sink_uri` fuzz target: an address written `//user:pw@host` (no scheme), or
/// with a second `://` after the password, kept its password in the error, and `user:pw@host`
/// (read as http://) in every message.
#[test]
fn fuzz_password_of_an_address_without_scheme_is_redacted() {
    let input: &[u8] = &[
        0x69, 0x6e, 0x66, 0x6c, 0x75, 0x78, 0x64, 0x62, 0x3a, 0x2f, 0x2f, 0x75, 0x73, 0x65, 0x72,
        0x3a, 0x73, 0x65, 0x63, 0x72, 0x65, 0x74, 0x70, 0x61, 0x73, 0x73, 0x77, 0x6f, 0x72, 0x64,
        0x40, 0x31, 0x32, 0x37, 0x65, 0x3a, 0x68, 0x74, 0x74, 0x26,
    ];
    let e = err(std::str::from_utf8(input).unwrap());
    assert!(
        !e.contains("secretpassword") && e.contains("invalid port"),
        "{e}"
    );
    let e = err("influxdb:user:hunter2@h:8086?schema=x");
    assert!(!e.contains("hunter2") && e.contains("***@h:8086"), "{e}");
    assert_eq!(redact("//u:pw@h:1?token=t"), "//u:***@h:1?token=***");
    assert_eq!(redact("u:pw@h:1"), "u:***@h:1");
    assert_eq!(redact("influxdb:http://h:8086"), "influxdb:http://h:8086");
    // A second `://` after the password.
    let e = err("influxdb://user:secretpassword@127uxdb://user:secret:e&");
    assert!(!e.contains("secretpassword"), "{e}");
}
