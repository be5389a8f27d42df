//! `restage demo` runs the main job end to end on its own throwaway clusters.

mod common;

use common::*;

#[test]
fn demo_clones_the_sample_app_and_cleans_up() {
    let out = run_cmd(restage().args(["demo", "--json"]));
    out.assert_ok();
    let report: serde_json::Value = serde_json::from_str(&out.stdout).expect("JSON report");
    assert_complete_report(&report, "clone");
    let tables: Vec<&str> = report["tables"]
        .as_array()
        .expect("tables")
        .iter()
        .filter_map(|t| t["table"].as_str())
        .collect();
    for expected in [
        "public.tenants",
        "public.users",
        "public.products",
        "public.orders",
    ] {
        assert!(
            tables.contains(&expected),
            "{expected} missing from {tables:?}"
        );
    }
    assert!(report["totals"]["rows"].as_u64().unwrap_or(0) > 1000);
    // The demo sanitizes with rules/demo.toml.
    let sanitized: Vec<&str> = report["sanitized"]
        .as_array()
        .expect("sanitized columns")
        .iter()
        .filter_map(|c| c.as_str())
        .collect();
    for expected in [
        "public.users.email: email",
        "public.users.full_name: person_name",
        "public.orders.note: lorem",
    ] {
        assert!(
            sanitized.contains(&expected),
            "{expected} missing from {sanitized:?}"
        );
    }
    // Without --json: the before/after sample and the leak scan.
    let out = run_cmd(restage().args(["demo"]));
    out.assert_ok();
    assert!(out.stdout.contains("before → after"), "{}", out.stdout);
    assert!(
        out.stdout.contains("0 leaks in 7 scanned columns"),
        "{}",
        out.stdout
    );
    // What it did is named: the rules file, the throwaway key, what "values" counts, and how
    // long the scan and the whole demo took.
    assert!(out.stderr.contains("rules/demo.toml"), "{}", out.stderr);
    assert!(out.stderr.contains("ephemeral key"), "{}", out.stderr);
    assert!(
        out.stdout
            .contains("values: the non-empty production values"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("leak scan (verify) ") && out.stdout.contains("demo total "),
        "{}",
        out.stdout
    );
    // The summary's list of sanitized columns wraps instead of running off the screen.
    let sanitized: Vec<&str> = out
        .stdout
        .lines()
        .skip_while(|l| !l.starts_with("sanitized 7 columns:"))
        .take_while(|l| l.starts_with("sanitized") || l.starts_with("  public."))
        .collect();
    assert!(sanitized.len() > 1, "{}", out.stdout);
    assert!(
        sanitized.iter().all(|l| l.chars().count() <= 100),
        "{sanitized:?}"
    );
    assert_no_leftovers();

    // --keep: the printed connection strings work with the next commands, and the printed
    // stop command stops and removes both clusters for the user running the demo (root too).
    let out = run_cmd(restage().args(["demo", "--keep", "--quiet"]));
    let stop: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| l.contains("pg_ctl"))
        .collect();
    let url = |name: &str| -> String {
        out.stderr
            .lines()
            .find_map(|l| l.trim().strip_prefix(&format!("export {name}='")))
            .and_then(|rest| rest.strip_suffix('\''))
            .unwrap_or_else(|| panic!("no {name} in\n{}", out.stderr))
            .to_string()
    };
    let (prod, staging) = (url("PROD_URL"), url("STAGING_URL"));
    let stop_all = || {
        for cmd in &stop {
            let _ = std::process::Command::new("sh")
                .args(["-c", cmd.trim()])
                .status();
        }
    };
    if out.code != 0 || stop.len() != 2 {
        stop_all();
        panic!("demo --keep:\n{}\n{}", out.stdout, out.stderr);
    }
    let rules = concat!(env!("CARGO_MANIFEST_DIR"), "/rules/demo.toml");
    let verified = run_cmd(restage().args([
        "verify", "--source", &prod, "--target", &staging, "--rules", rules,
    ]));
    let init = run_cmd(restage().args(["rules", "init", "--source", &prod]));
    for cmd in &stop {
        let status = std::process::Command::new("sh")
            .args(["-c", cmd.trim()])
            .status()
            .expect("sh");
        assert!(status.success(), "{cmd} failed");
    }
    verified.assert_ok();
    init.assert_ok();
    assert!(init.stdout.contains("public.users"), "{}", init.stdout);
    assert_no_leftovers();
}

/// The clusters' directories are gone (every demo run is in one test: no other demo runs
/// beside it).
fn assert_no_leftovers() {
    let leftovers: Vec<_> = std::fs::read_dir(std::env::temp_dir())
        .expect("tmp")
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("restage-demo-"))
        .collect();
    assert!(leftovers.is_empty(), "demo left {leftovers:?}");
}
