//! What the clone reads from the source, in its exported snapshot, before the target changes:
//! the catalog limited to `--schema`, the selected tables with their values settled, every
//! column's decision (or the refusal), and the report's privacy record and warnings.

use tokio_postgres::Client;

use super::CloneRun;
use crate::app::{run_report, sanitizing, Failure};
use crate::catalog::{select, SourceCatalog, Table};
use crate::exit;
use crate::pgbin::Version;

pub(super) struct SourceRead {
    pub(super) catalog: SourceCatalog,
    pub(super) server: Version,
    pub(super) tables: Vec<Table>,
    pub(super) rules: sanitizing::Plan,
}

impl CloneRun<'_> {
    pub(super) fn read_source(&mut self, client: &Client) -> Result<SourceRead, Failure> {
        let (mut catalog, server) = crate::app::load_source_catalog(self.rt, client)?;
        crate::app::only_schemas::check_in_source(self.rt, client, &self.options.schemas)?;
        crate::app::only_schemas::limit_catalog(&mut catalog, &self.options.schemas);
        let mut tables = select::select(
            &catalog.tables,
            &self.options.selection.tables,
            &self.options.selection.exclude_tables,
        )
        .map_err(|e| Failure::new(exit::USAGE, e.to_string()))?;
        crate::app::guards::check_source_access(
            self.rt,
            client,
            &tables,
            catalog.server_version_num,
        )?;
        crate::app::settle_values(self.rt, client, &catalog, &mut tables)?;
        // Every column decided (or the clone refused) before the target is touched.
        let mut rules = self.sanitizing.plan(&catalog, &tables)?;
        crate::app::run_values::attach(
            self.rt,
            client,
            &catalog,
            &tables,
            self.sanitizing,
            &mut rules,
        )?;
        self.warn_undecided(&rules);
        self.report.sanitized = run_report::sanitized_columns(&rules);
        self.report.privacy = run_report::privacy(self.sanitizing, &rules, &tables);
        self.report.versions.source_server = Some(server.to_string());
        self.collect_warnings(&catalog, &tables);
        crate::app::schema_text::guard(
            self.rt,
            client,
            self.sanitizing,
            &rules,
            &tables,
            self.comments_kept(),
        )?;
        Ok(SourceRead {
            catalog,
            server,
            tables,
            rules,
        })
    }

    /// Comments travel with `--keep-comments`, and with `--no-rules` (which sanitizes nothing).
    pub(super) fn comments_kept(&self) -> bool {
        self.options.keep_comments || self.sanitizing.verbatim
    }
}
