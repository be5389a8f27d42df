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
    // The clusters' directories are gone.
    let leftovers: Vec<_> = std::fs::read_dir(std::env::temp_dir())
        .expect("tmp")
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("restage-demo-"))
        .collect();
    assert!(leftovers.is_empty(), "demo left {leftovers:?}");
}
