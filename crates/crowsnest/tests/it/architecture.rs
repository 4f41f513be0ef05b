//! The layering of shared/DESIGN.md, checked from `cargo metadata`: arrows point down only.

use std::collections::{BTreeMap, BTreeSet};

/// For each workspace crate, the workspace crates it may depend on (normal dependencies).
fn allowed() -> BTreeMap<&'static str, &'static [&'static str]> {
    BTreeMap::from([
        ("crowsnest-core", &[][..]),
        ("crowsnest-collect", &["crowsnest-core"][..]),
        ("crowsnest-formats", &["crowsnest-core"][..]),
        ("crowsnest-store", &["crowsnest-core"][..]),
        // The web UI: static pages the agent and the hub both mount; no crate of ours.
        ("crowsnest-ui", &[][..]),
        // What guards a listener (TLS, auth), shared by the agent and the hub; no crate of ours.
        ("crowsnest-serve", &[][..]),
        (
            "crowsnest-sinks",
            &["crowsnest-core", "crowsnest-formats"][..],
        ),
        (
            "crowsnest-agent",
            &[
                "crowsnest-core",
                "crowsnest-collect",
                "crowsnest-formats",
                "crowsnest-store",
                "crowsnest-sinks",
                "crowsnest-ui",
                "crowsnest-serve",
            ][..],
        ),
        (
            "crowsnest-hub",
            &[
                "crowsnest-core",
                "crowsnest-formats",
                "crowsnest-store",
                "crowsnest-sinks",
                "crowsnest-ui",
                "crowsnest-serve",
            ][..],
        ),
        (
            "crowsnest",
            &[
                "crowsnest-core",
                "crowsnest-collect",
                "crowsnest-formats",
                "crowsnest-store",
                "crowsnest-sinks",
                "crowsnest-agent",
                "crowsnest-hub",
                "crowsnest-serve",
            ][..],
        ),
        ("crowsnest-testkit", &["crowsnest-core"][..]),
    ])
}

#[test]
fn dependency_arrows_point_down_only() {
    let out = std::process::Command::new(env!("CARGO"))
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo metadata runs");
    assert!(
        out.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).expect("metadata is JSON");
    let allowed = allowed();
    let mut problems = BTreeSet::new();
    let packages = meta["packages"].as_array().expect("packages");
    assert!(
        packages.len() >= 5,
        "expected the workspace crates, got {}",
        packages.len()
    );
    for p in packages {
        let name = p["name"].as_str().expect("name");
        let Some(ok) = allowed.get(name) else {
            problems.insert(format!(
                "{name} is a new crate: add it to the layering (and say why in its README)"
            ));
            continue;
        };
        for d in p["dependencies"].as_array().expect("dependencies") {
            let dep = d["name"].as_str().expect("dep name");
            if !dep.starts_with("crowsnest") {
                continue;
            }
            let is_dev = d["kind"].as_str() == Some("dev");
            if dep == "crowsnest-testkit" && !is_dev {
                problems.insert(format!(
                    "{name} depends on crowsnest-testkit outside dev-dependencies"
                ));
            }
            if !is_dev && !ok.contains(&dep) {
                problems.insert(format!(
                    "{name} must not depend on {dep} (shared/DESIGN.md layering)"
                ));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "layering broken:\n{}",
        problems.into_iter().collect::<Vec<_>>().join("\n")
    );
}
