//! The run report for people: per-table lines, the step table, sanitized columns, warnings.

use super::record::{RunReport, TableRow};

impl RunReport {
    /// The human summary: per table rows, bytes, seconds, rows/s, then the step table.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if self.tables.is_empty() {
            out.push_str(&self.render_steps());
            return out;
        }
        let width = self
            .tables
            .iter()
            .map(|t| t.table.chars().count())
            .max()
            .unwrap_or(5)
            .clamp(5, 60);
        // A subset run says how many of each table's rows it copied.
        let subset = self.tables.iter().any(|t| t.source_rows != t.rows);
        let source_rows = |t: &TableRow| {
            if subset {
                format!("  {:>12}", t.source_rows)
            } else {
                String::new()
            }
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
        out.push_str(&self.render_steps());
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

impl RunReport {
    /// One line per step: name, start (seconds into the run), duration, outcome; then the total.
    fn render_steps(&self) -> String {
        let width = self
            .steps
            .iter()
            .map(|s| s.name.chars().count())
            .max()
            .unwrap_or(4)
            .max(4);
        let mut out = format!(
            "{:<width$}  {:>8}  {:>8}  outcome\n",
            "step", "start s", "took s"
        );
        for s in &self.steps {
            out.push_str(&format!(
                "{:<width$}  {:>8.2}  {:>8.2}  {}\n",
                s.name, s.start, s.seconds, s.outcome
            ));
        }
        out.push_str(&format!(
            "{:<width$}  {:>8}  {:>8.2}  {}\n",
            "total", "", self.totals.seconds, self.status
        ));
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
    use crate::report::TableRow;

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
        let mut r = RunReport::new("clone", "src".into(), "dst".into());
        r.set_tables(vec![TableRow {
            table: "public.users".into(),
            rows: 10,
            bytes: 2048,
            seconds: 0.5,
            rows_per_second: 20.0,
            parts: 1,
            post_seconds: 0.1,
            source_rows: 10,
            target_rows: 10,
            ..TableRow::default()
        }]);
        r.step("data", std::time::Instant::now(), 0.5);
        r.finish(None);
        let text = r.render();
        assert!(text.contains("public.users"));
        let data = text.lines().find(|l| l.starts_with("data ")).unwrap_or("");
        assert!(data.contains("0.50") && data.ends_with(" ok"), "{text}");
        assert!(text
            .lines()
            .any(|l| l.starts_with("total ") && l.ends_with(" ok")));
        assert!(r.to_json().contains("\"rows_per_second\": 20.0"));
        assert!(!text.contains("source rows"));
        r.tables[0].source_rows = 1000;
        let text = r.render();
        assert!(text.contains("source rows"), "{text}");
        assert!(
            text.lines().nth(1).is_some_and(|l| l.contains("1000")),
            "{text}"
        );
        assert!(r.to_json().contains("\"source_rows\": 1000"));
    }
}
