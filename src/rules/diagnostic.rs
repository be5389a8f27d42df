//! Problems found in rules files, each pointing at file, line and column, and at the table and
//! column it concerns. All of them are collected and printed together.

use std::fmt;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Diagnostic {
    pub file: PathBuf,
    /// 1-based; 0 when the problem is not tied to a place (e.g. an unreadable file).
    pub line: usize,
    pub column: usize,
    /// `schema.table`, when the problem concerns one.
    pub table: Option<String>,
    pub column_name: Option<String>,
    pub message: String,
}

impl Diagnostic {
    /// A problem at byte `offset` of `text`.
    pub fn at(file: &Path, text: &str, offset: usize, message: impl Into<String>) -> Diagnostic {
        let (line, column) = line_col(text, offset);
        Diagnostic {
            file: file.to_path_buf(),
            line,
            column,
            table: None,
            column_name: None,
            message: message.into(),
        }
    }

    pub fn in_file(file: &Path, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            file: file.to_path_buf(),
            line: 0,
            column: 0,
            table: None,
            column_name: None,
            message: message.into(),
        }
    }

    pub fn for_column(mut self, table: &str, column: Option<&str>) -> Diagnostic {
        self.table = Some(table.to_string());
        self.column_name = column.map(str::to_string);
        self
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if self.line > 0 {
            write!(f, ":{}:{}", self.line, self.column)?;
        }
        f.write_str(": ")?;
        match (&self.table, &self.column_name) {
            (Some(t), Some(c)) => write!(f, "{t}.{c}: ")?,
            (Some(t), None) => write!(f, "{t}: ")?,
            _ => {}
        }
        f.write_str(&self.message)
    }
}

/// 1-based line and column (in characters) of a byte offset.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before.get(line_start..).map_or(0, |s| s.chars().count()) + 1;
    (line, column)
}

/// Renders a list of diagnostics, one per line, with a count.
pub fn render(diagnostics: &[Diagnostic]) -> String {
    let mut out = String::new();
    for d in diagnostics {
        out.push_str(&d.to_string());
        out.push('\n');
    }
    let n = diagnostics.len();
    out.push_str(&format!(
        "{n} problem{} in the rules",
        if n == 1 { "" } else { "s" }
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_one_based_in_characters() {
        let text = "a = 1\nbé = \"x\"\n";
        assert_eq!(line_col(text, 0), (1, 1));
        assert_eq!(line_col(text, 6), (2, 1));
        let x = text.find('"').unwrap_or(0);
        assert_eq!(line_col(text, x), (2, 6));
        let d =
            Diagnostic::at(Path::new("r.toml"), text, 6, "bad").for_column("public.t", Some("c"));
        assert_eq!(d.to_string(), "r.toml:2:1: public.t.c: bad");
    }
}
