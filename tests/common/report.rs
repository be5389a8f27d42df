//! The run report's JSON schema (docs/report.md), checked the same way for every data command.

use serde_json::Value;

/// Top-level fields of report version 1, exactly: a field added or removed without updating
/// docs/report.md fails here.
const TOP_LEVEL: [&str; 20] = [
    "report_version",
    "command",
    "status",
    "source",
    "target",
    "started_at",
    "finished_at",
    "restage_version",
    "versions",
    "steps",
    "tables",
    "totals",
    "privacy",
    "verify",
    "warnings",
    "kept",
    "sanitized",
    "error",
    "target_state",
    "details",
];

fn keys(v: &Value, what: &str) -> Vec<String> {
    let mut keys: Vec<String> = v
        .as_object()
        .unwrap_or_else(|| panic!("{what} is not an object: {v}"))
        .keys()
        .cloned()
        .collect();
    keys.sort();
    keys
}

fn sorted(names: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    v.sort();
    v
}

fn is_str_or_null(v: &Value) -> bool {
    v.is_string() || v.is_null()
}

/// Asserts that `report` is a version-1 run report of `command` with every documented field of
/// the documented type, and returns it for further checks.
pub fn assert_run_report<'a>(report: &'a Value, command: &str) -> &'a Value {
    assert_eq!(keys(report, "report"), sorted(&TOP_LEVEL), "{report:#}");
    assert_eq!(report["report_version"], 1, "{report:#}");
    assert_eq!(report["command"], command);
    assert!(matches!(report["status"].as_str(), Some("ok" | "failed")));
    for k in ["source", "target", "started_at", "restage_version"] {
        assert!(report[k].is_string(), "{k} in {report:#}");
    }
    assert!(is_str_or_null(&report["finished_at"]));
    assert!(is_str_or_null(&report["error"]));
    assert_eq!(report["status"] == "ok", report["error"].is_null());
    assert!(matches!(
        report["target_state"].as_str(),
        Some("complete" | "incomplete" | "unmarked" | "untouched")
    ));
    assert_eq!(
        keys(&report["versions"], "versions"),
        sorted(&["restage", "source_server", "target_server", "pg_dump"])
    );
    assert_eq!(report["versions"]["restage"], report["restage_version"]);
    for step in report["steps"].as_array().expect("steps") {
        assert_eq!(
            keys(step, "step"),
            sorted(&["name", "start", "seconds", "outcome"])
        );
        assert!(step["name"].is_string() && step["start"].is_f64() && step["seconds"].is_f64());
        assert!(matches!(step["outcome"].as_str(), Some("ok" | "failed")));
    }
    for table in report["tables"].as_array().expect("tables") {
        assert_eq!(
            keys(table, "table line"),
            sorted(&[
                "table",
                "rows",
                "bytes",
                "seconds",
                "rows_per_second",
                "parts",
                "post_seconds",
                "source_rows",
                "target_rows",
                "checksum",
            ])
        );
        assert!(table["table"].is_string());
        for k in ["rows", "bytes", "parts", "source_rows", "target_rows"] {
            assert!(table[k].is_u64(), "{k} in {table}");
        }
        let checksum = &table["checksum"];
        assert!(
            checksum.is_null()
                || checksum
                    .as_str()
                    .is_some_and(|c| c.len() == 64 && c.bytes().all(|b| b.is_ascii_hexdigit())),
            "{checksum}"
        );
    }
    assert_eq!(
        keys(&report["totals"], "totals"),
        sorted(&["tables", "rows", "bytes", "seconds"])
    );
    let privacy = &report["privacy"];
    assert_eq!(
        keys(privacy, "privacy"),
        sorted(&[
            "mode",
            "rules_files",
            "rules_digest",
            "key_fingerprint",
            "columns"
        ])
    );
    assert!(privacy["rules_files"].is_array());
    assert!(is_str_or_null(&privacy["rules_digest"]));
    assert!(is_str_or_null(&privacy["key_fingerprint"]));
    for c in privacy["columns"].as_array().expect("privacy.columns") {
        assert_eq!(
            keys(c, "column record"),
            sorted(&["table", "column", "type", "decision", "rule", "domain", "origin"])
        );
        assert!(matches!(
            c["decision"].as_str(),
            Some("rule" | "keep" | "undecided-allowed")
        ));
    }
    if !report["verify"].is_null() {
        assert_eq!(
            keys(&report["verify"], "verify"),
            sorted(&["checks", "outcome"])
        );
        assert!(matches!(
            report["verify"]["outcome"].as_str(),
            Some("ok" | "failed")
        ));
    }
    for k in ["warnings", "kept", "sanitized"] {
        assert!(report[k].is_array(), "{k}");
    }
    assert!(report["details"].is_object());
    report
}

/// The report of a successful run: every table's rows reached the target, with a checksum.
pub fn assert_complete_report(report: &Value, command: &str) {
    assert_run_report(report, command);
    assert_eq!(report["status"], "ok", "{report:#}");
    assert_eq!(report["target_state"], "complete", "{report:#}");
    assert!(report["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .all(|s| s["outcome"] == "ok"));
    for t in report["tables"].as_array().expect("tables") {
        assert_eq!(t["source_rows"], t["rows"], "{t}");
        assert_eq!(t["target_rows"], t["rows"], "{t}");
        assert!(t["checksum"].is_string(), "{t}");
    }
}
