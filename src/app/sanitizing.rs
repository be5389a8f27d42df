//! Rules and key for a command that reads production values (clone, demo, preview, verify):
//! loaded and checked before any connection opens, then resolved against the live schema.

use std::io::Read;
use std::sync::Arc;

use super::Failure;
use crate::catalog::{CopyFormat, SourceCatalog, Table};
use crate::cli::RulesArgs;
use crate::exit;
use crate::rules::{self, diagnostic, Resolution, RuleFile, Sanitizers};
use crate::sanitize::Key;

/// Shortest secret accepted as a key: anything shorter is guessable.
const MIN_KEY_LEN: usize = 16;

pub struct Sanitizing {
    pub files: Vec<RuleFile>,
    pub key: Option<Arc<Key>>,
    pub allow_undecided: bool,
    /// `--no-rules`: everything is copied unchanged.
    pub verbatim: bool,
}

/// The decisions and sanitizers for one run's tables.
pub struct Plan {
    pub resolution: Resolution,
    pub sanitizers: Sanitizers,
    /// `table.column (type)` of undecided columns let through by --allow-undecided.
    pub let_through: Vec<String>,
}

impl Sanitizing {
    /// Reads the rules files (every problem of every file at once) and the key.
    pub fn prepare(args: &RulesArgs) -> Result<Sanitizing, Failure> {
        Sanitizing::prepare_with_key_env(args, "RESTAGE_KEY")
    }

    /// As [`Sanitizing::prepare`], with the key in the environment variable `key_env`.
    pub fn prepare_with_key_env(args: &RulesArgs, key_env: &str) -> Result<Sanitizing, Failure> {
        if args.files.is_empty() && !args.no_rules {
            return Err(Failure::new(
                exit::USAGE,
                "no --rules given: restage does not copy production values unsanitized by \
                 default. Pass --rules FILE (write one with `restage rules init`), or \
                 --no-rules for a source that holds nothing personal",
            ));
        }
        let files = rules::load(&args.files)
            .map_err(|d| Failure::new(exit::USAGE, diagnostic::render(&d)))?;
        let key = load_key(args, key_env)?;
        Ok(Sanitizing {
            files,
            key,
            allow_undecided: args.allow_undecided,
            verbatim: args.no_rules,
        })
    }

    /// Decides every column of `tables`; refuses undecided columns unless allowed, and
    /// sanitizing without a key.
    pub fn plan(&self, catalog: &SourceCatalog, tables: &[Table]) -> Result<Plan, Failure> {
        if self.verbatim {
            return Ok(Plan {
                resolution: Resolution::default(),
                sanitizers: Sanitizers::new(),
                let_through: Vec::new(),
            });
        }
        let (resolution, mut problems) = rules::resolve(&self.files, catalog, tables);
        let built = rules::build(&resolution, catalog, tables);
        if let Err(more) = &built {
            problems.extend(more.iter().cloned());
        }
        let sanitizers = match built {
            Ok(s) if problems.is_empty() => s,
            _ => return Err(Failure::new(exit::USAGE, diagnostic::render(&problems))),
        };
        let undecided = resolution.undecided_described();
        if !undecided.is_empty() && !self.allow_undecided {
            return Err(Failure::new(
                exit::REFUSED,
                format!(
                    "{} column{} of copied tables {} no rule (decide each in a rules file, or add \
                     a [defaults.columns] pattern; --allow-undecided copies them unchanged):\n  {}",
                    undecided.len(),
                    if undecided.len() == 1 { "" } else { "s" },
                    if undecided.len() == 1 { "has" } else { "have" },
                    undecided.join("\n  ")
                ),
            ));
        }
        refuse_rules_on_text_tables(tables, &sanitizers)?;
        let sanitizing = sanitizers.values().flatten().any(Option::is_some);
        if sanitizing && self.key.is_none() {
            return Err(Failure::new(
                exit::USAGE,
                format!(
                    "no sanitizing key: set RESTAGE_KEY to a secret of at least {MIN_KEY_LEN} \
                     characters (kept outside the rules file; the same key gives the same staging \
                     values on every refresh), or pass --key-file FILE, or --ephemeral-key for \
                     values that differ on every run"
                ),
            ));
        }
        Ok(Plan {
            resolution,
            sanitizers,
            let_through: undecided,
        })
    }

    /// The key, or a placeholder when nothing is sanitized (no rule will ever use it).
    pub fn key_or_unused(&self) -> Arc<Key> {
        self.key
            .clone()
            .unwrap_or_else(|| Arc::new(Key::from_bytes([0; 32])))
    }
}

/// Rules work on binary values; a table copied in text form (a column whose binary form would
/// not survive) is never decoded, so a rule on any of its columns is refused before anything is
/// written rather than skipped.
pub(super) fn refuse_rules_on_text_tables(
    tables: &[Table],
    sanitizers: &Sanitizers,
) -> Result<(), Failure> {
    let mut problems = Vec::new();
    for table in tables
        .iter()
        .filter(|t| t.copy_format() == CopyFormat::Text)
    {
        let Some(ruled) = sanitizers.get(&table.oid) else {
            continue;
        };
        let why = text_form_columns(table);
        for (column, _) in table.columns.iter().zip(ruled).filter(|(_, s)| s.is_some()) {
            problems.push(format!(
                "{}.{}: a rule cannot apply here: {} is copied in text form because the binary \
                 form of {} does not survive a copy",
                table.display_name(),
                column.name,
                table.display_name(),
                why.join(", ")
            ));
        }
    }
    if problems.is_empty() {
        return Ok(());
    }
    Err(Failure::new(
        exit::REFUSED,
        format!(
            "{}\n(keep these columns, or leave the table out with --exclude-table)",
            problems.join("\n")
        ),
    ))
}

/// The columns that put a table in text form, as `name (type)`: their binary form does not
/// survive a copy.
pub(super) fn text_form_columns(table: &Table) -> Vec<String> {
    table
        .columns
        .iter()
        .filter(|c| c.needs_text)
        .map(|c| format!("{} ({})", c.name, c.type_name))
        .collect()
}

/// A key for this run only, from the OS random source.
pub fn ephemeral_key() -> Result<Arc<Key>, Failure> {
    let mut bytes = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(|e| Failure::new(exit::FAILURE, format!("cannot read /dev/urandom: {e}")))?;
    Ok(Arc::new(Key::from_bytes(bytes)))
}

fn load_key(args: &RulesArgs, key_env: &str) -> Result<Option<Arc<Key>>, Failure> {
    if args.ephemeral_key {
        return ephemeral_key().map(Some);
    }
    let (secret, from) = if let Some(path) = &args.key_file {
        let bytes = std::fs::read(path).map_err(|e| {
            Failure::new(
                exit::USAGE,
                format!("--key-file {}: cannot read: {e}", path.display()),
            )
        })?;
        (bytes, format!("--key-file {}", path.display()))
    } else {
        match std::env::var_os(key_env) {
            Some(v) => (v.into_encoded_bytes(), key_env.to_string()),
            None => return Ok(None),
        }
    };
    let secret = trim_newline(&secret);
    if secret.len() < MIN_KEY_LEN {
        return Err(Failure::new(
            exit::USAGE,
            format!("{from}: the key must be at least {MIN_KEY_LEN} bytes long"),
        ));
    }
    Ok(Some(Arc::new(Key::from_secret(secret))))
}

fn trim_newline(bytes: &[u8]) -> &[u8] {
    let mut end = bytes.len();
    while end > 0 && matches!(bytes[end - 1], b'\n' | b'\r') {
        end -= 1;
    }
    &bytes[..end]
}
