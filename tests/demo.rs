//! `restage demo` runs the main job end to end on its own throwaway clusters.

mod common;

use common::*;

#[test]
fn demo_clones_the_sample_app_and_cleans_up() {
    let out = run_cmd(restage().args(["demo", "--json"]));
    out.assert_ok();
    let report: serde_json::Value = serde_json::from_str(&out.stdout).expect("JSON report");
    assert_eq!(report["status"], "ok");
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
    // The clusters' directories are gone (both runs are in this one test: no other demo
    // runs beside it).
    let leftovers: Vec<_> = std::fs::read_dir(std::env::temp_dir())
        .expect("tmp")
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("restage-demo-"))
        .collect();
    assert!(leftovers.is_empty(), "demo left {leftovers:?}");
}
