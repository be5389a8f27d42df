//! The run report: a per-table summary for people and the same data as JSON for machines.

use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct Step {
    pub name: String,
    pub seconds: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct TableRow {
    pub table: String,
    pub rows: u64,
    pub bytes: u64,
    pub seconds: f64,
    pub rows_per_second: f64,
    pub parts: usize,
    /// Index builds, constraints and verification of this table after its copy.
    pub post_seconds: f64,
    /// With a row subset: the table's rows in the source (`rows` are those copied).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_rows: Option<u64>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Totals {
    pub tables: usize,
    pub rows: u64,
    pub bytes: u64,
    pub seconds: f64,
}

/// What `restage clone` reports (printed as a table, or as JSON with `--json`/`--report`).
#[derive(Debug, Clone, Serialize)]
pub struct CloneReport {
    /// `ok` or `failed`.
    pub status: String,
    pub source: String,
    pub target: String,
    pub started_at: String,
    pub restage_version: String,
    pub steps: Vec<Step>,
    pub tables: Vec<TableRow>,
    pub totals: Totals,
    pub warnings: Vec<String>,
    /// What the target held before the clone and still holds (preinstalled extensions).
    pub kept: Vec<String>,
    /// Sanitized columns: `schema.table.column: rule` (and why, when not its own entry).
    pub sanitized: Vec<String>,
    pub error: Option<String>,
    /// `complete`, `incomplete` (a failed run left partial data, marked as such) or `untouched`.
    pub target_state: String,
}

impl CloneReport {
    pub fn new(source: String, target: String) -> CloneReport {
        CloneReport {
            status: "failed".into(),
            source,
            target,
            started_at: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
            restage_version: env!("CARGO_PKG_VERSION").into(),
            steps: Vec::new(),
            tables: Vec::new(),
            totals: Totals::default(),
            warnings: Vec::new(),
            kept: Vec::new(),
            sanitized: Vec::new(),
            error: None,
            target_state: "untouched".into(),
        }
    }

    pub fn step(&mut self, name: &str, seconds: f64) {
        self.steps.push(Step {
            name: name.into(),
            seconds,
        });
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }

    /// The human summary: per table rows, bytes, seconds, rows/s, then step timings.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let width = self
            .tables
            .iter()
            .map(|t| t.table.chars().count())
            .max()
            .unwrap_or(5)
            .clamp(5, 60);
        // A subset run says how many of each table's rows it copied.
        let subset = self.tables.iter().any(|t| t.source_rows.is_some());
        let source_rows = |t: &TableRow| match (subset, t.source_rows) {
            (false, _) => String::new(),
            (true, Some(n)) => format!("  {n:>12}"),
            (true, None) => format!("  {:>12}", "-"),
        };
        out.push_str(&format!(
            "{:<width$}{}  {:>12}  {:>10}  {:>8}  {:>12}  {:>8}\n",
            "table",
            if subset {
                format!("  {:>12}", "source rows")
            } else {
                String::new()
            },
            "rows",
            "bytes",
            "copy s",
            "rows/s",
            "index s"
        ));
        for t in &self.tables {
            out.push_str(&format!(
                "{:<width$}{}  {:>12}  {:>10}  {:>8.2}  {:>12.0}  {:>8.2}\n",
                t.table,
                source_rows(t),
                t.rows,
                format_bytes(t.bytes),
                t.seconds,
                t.rows_per_second,
                t.post_seconds
            ));
        }
        out.push_str(&format!(
            "{:<width$}  {:>12}  {:>10}\n",
            format!("{} tables", self.totals.tables),
            self.totals.rows,
            format_bytes(self.totals.bytes)
        ));
        out.push('\n');
        let steps = self
            .steps
            .iter()
            .map(|s| format!("{} {:.2} s", s.name, s.seconds))
            .collect::<Vec<_>>()
            .join(", ");
        out.push_str(&format!(
            "steps: {steps}; total {:.2} s\n",
            self.totals.seconds
        ));
        if !self.sanitized.is_empty() {
            let head = format!(
                "sanitized {} column{}:",
                self.sanitized.len(),
                if self.sanitized.len() == 1 { "" } else { "s" }
            );
            out.push_str(&fill(&head, &self.sanitized, 100));
        }
        if !self.kept.is_empty() {
            out.push_str(&format!("kept in the target: {}\n", self.kept.join(", ")));
        }
        for w in &self.warnings {
            out.push_str(&format!("warning: {w}\n"));
        }
        out
    }
}

/// `head` followed by `items` separated by commas, as lines of at most `width` characters
/// (continuation lines indented); an item longer than a line gets a line of its own.
fn fill(head: &str, items: &[String], width: usize) -> String {
    let mut out = String::new();
    let mut line = head.to_string();
    // Whether `line` holds an item yet: a line is never broken before its first one.
    let mut has_item = false;
    for (i, item) in items.iter().enumerate() {
        let sep = if i + 1 < items.len() { "," } else { "" };
        let piece = format!("{item}{sep}");
        if has_item && line.chars().count() + 1 + piece.chars().count() > width {
            out.push_str(&line);
            out.push('\n');
            line = " ".to_string();
        }
        line.push(' ');
        line.push_str(&piece);
        has_item = true;
    }
    out.push_str(line.trim_end());
    out.push('\n');
    out
}

/// `1.5 MiB`-style sizes.
pub fn format_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_column_lists_wrap_at_100_characters() {
        let items: Vec<String> = (0..12)
            .map(|i| format!("public.some_table_{i}.some_column: person_name"))
            .collect();
        let text = fill("sanitized 12 columns:", &items, 100);
        for line in text.lines() {
            assert!(line.chars().count() <= 100, "{line:?} in\n{text}");
        }
        assert!(text.lines().count() > 1, "{text}");
        assert!(text.starts_with("sanitized 12 columns: public.some_table_0"));
        for item in &items {
            assert!(text.contains(item.as_str()), "{item} missing from\n{text}");
        }
        assert!(
            text.lines().skip(1).all(|l| l.starts_with("  public.")),
            "{text}"
        );
        assert_eq!(
            fill(
                "sanitized 1 column:",
                &["public.t.c: email".to_string()],
                100
            ),
            "sanitized 1 column: public.t.c: email\n"
        );
    }

    #[test]
    fn sizes_are_human() {
        assert_eq!(format_bytes(512), "512 B");
        assert_eq!(format_bytes(1536), "1.5 KiB");
        assert_eq!(format_bytes(3 * 1024 * 1024 * 1024), "3.0 GiB");
    }

    #[test]
    fn render_lists_every_table_and_step() {
        let mut r = CloneReport::new("src".into(), "dst".into());
        r.tables.push(TableRow {
            table: "public.users".into(),
            rows: 10,
            bytes: 2048,
            seconds: 0.5,
            rows_per_second: 20.0,
            parts: 1,
            post_seconds: 0.1,
            source_rows: None,
        });
        r.step("data", 0.5);
        let text = r.render();
        assert!(text.contains("public.users"));
        assert!(text.contains("data 0.50 s"));
        assert!(r.to_json().contains("\"rows_per_second\": 20.0"));
        assert!(!text.contains("source rows") && !r.to_json().contains("source_rows"));
        r.tables[0].source_rows = Some(1000);
        let text = r.render();
        assert!(text.contains("source rows"), "{text}");
        assert!(
            text.lines().nth(1).is_some_and(|l| l.contains("1000")),
            "{text}"
        );
        assert!(r.to_json().contains("\"source_rows\": 1000"));
    }
}
