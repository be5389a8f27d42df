//! The plan: one line per object, `+` create, `~` change (and what), `=` unchanged. Values
//! never appear, only fingerprints.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Op {
    Create,
    Change,
    Unchanged,
}

impl Op {
    pub fn symbol(self) -> char {
        match self {
            Op::Create => '+',
            Op::Change => '~',
            Op::Unchanged => '=',
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Line {
    pub op: Op,
    /// `postgres` or a delivery (`apply(restage)`, `gitops(deploy/staging)`…).
    pub target: String,
    pub object: String,
    pub detail: String,
}

impl Line {
    pub fn new(
        op: Op,
        target: impl Into<String>,
        object: impl Into<String>,
        detail: impl Into<String>,
    ) -> Line {
        Line {
            op,
            target: target.into(),
            object: object.into(),
            detail: detail.into(),
        }
    }

    pub fn pg(op: Op, object: impl Into<String>, detail: impl Into<String>) -> Line {
        Line::new(op, "postgres", object, detail)
    }
}

/// A whole run's plan.
#[derive(Debug, Default, Serialize)]
pub struct Plan {
    pub environment: String,
    pub dry_run: bool,
    pub lines: Vec<Line>,
    /// Secrets generated in this run (new or rotated), by name.
    pub generated: Vec<String>,
    /// `--rotate`: which deliveries changed because of it.
    pub rotated: Vec<Rotation>,
    /// Why the admin role cannot make some planned PostgreSQL changes (dry runs; a real run
    /// stops before changing anything).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cannot: Option<String>,
    /// What else the reader must know (a cluster that was not consulted).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct Rotation {
    pub secret: String,
    pub deliveries: Vec<String>,
}

impl Plan {
    pub fn pending(&self) -> usize {
        self.lines.iter().filter(|l| l.op != Op::Unchanged).count()
    }

    pub fn render(&self) -> String {
        let width = self.lines.iter().map(|l| l.target.len()).max().unwrap_or(0);
        let owidth = self.lines.iter().map(|l| l.object.len()).max().unwrap_or(0);
        let mut out = String::new();
        for l in &self.lines {
            let line = format!(
                "{} {:width$}  {:owidth$}  {}",
                l.op.symbol(),
                l.target,
                l.object,
                l.detail
            );
            out.push_str(line.trim_end());
            out.push('\n');
        }
        if !self.generated.is_empty() {
            out.push_str(&format!(
                "{} value(s) {}: {}\n",
                self.generated.len(),
                if self.dry_run {
                    "would be generated"
                } else {
                    "generated"
                },
                self.generated.join(", ")
            ));
        }
        for r in &self.rotated {
            out.push_str(&format!(
                "rotated {}: changed in {}\n",
                r.secret,
                if r.deliveries.is_empty() {
                    "no delivery".to_owned()
                } else {
                    r.deliveries.join(", ")
                }
            ));
        }
        for note in &self.notes {
            out.push_str(&format!("note: {note}\n"));
        }
        let creates = self.lines.iter().filter(|l| l.op == Op::Create).count();
        let changes = self.lines.iter().filter(|l| l.op == Op::Change).count();
        let same = self.lines.len() - creates - changes;
        out.push_str(&format!(
            "{}{creates} to create, {changes} to change, {same} unchanged\n",
            if self.dry_run { "dry run: " } else { "" }
        ));
        out
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }
}
