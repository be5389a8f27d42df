//! `restage verify`: leak scan of a sanitized target against its source.

use super::run::{parse_conn, scan, scan_outcome};
use super::Failure;
use crate::cli::VerifyArgs;
use crate::exit;
use crate::rules::{self, diagnostic};
use crate::verify::VerifyReport;

pub fn run(args: &VerifyArgs) -> Result<(), Failure> {
    let source = parse_conn("--source", &args.source)?;
    let target = parse_conn("--target", &args.target)?;
    let files =
        rules::load(&args.rules).map_err(|d| Failure::new(exit::USAGE, diagnostic::render(&d)))?;
    let report = scan(
        &source,
        &target,
        &files,
        &args.subset.roots,
        &args.selection.tables,
        &args.selection.exclude_tables,
    )?;
    if args.output.json {
        println!("{}", to_json(&report)?);
    } else if !args.output.quiet {
        print!("{}", report.render());
    }
    if let Some(path) = &args.output.report {
        std::fs::write(path, to_json(&report)?).map_err(|e| {
            Failure::new(
                exit::FAILURE,
                format!("cannot write {}: {e}", path.display()),
            )
        })?;
    }
    scan_outcome(&report)
}

fn to_json(report: &VerifyReport) -> Result<String, Failure> {
    serde_json::to_string_pretty(report)
        .map_err(|e| Failure::new(exit::FAILURE, format!("report: {e}")))
}
