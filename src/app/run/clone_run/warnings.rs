//! The report's warnings: what the clone could not do as asked (large objects, foreign tables'
//! remote data, unlogged tables, columns let through by `--allow-undecided`).

use super::CloneRun;
use crate::app::sanitizing;
use crate::catalog::{SourceCatalog, Table};

impl CloneRun<'_> {
    /// Columns `--allow-undecided` lets through without a decision.
    pub(super) fn warn_undecided(&mut self, rules: &sanitizing::Plan) {
        if rules.let_through.is_empty() {
            return;
        }
        self.report.warnings.push(format!(
            "--allow-undecided: {} column{} copied unchanged without a rule: {}",
            rules.let_through.len(),
            if rules.let_through.len() == 1 {
                ""
            } else {
                "s"
            },
            rules.let_through.join(", ")
        ));
    }

    /// What the source holds that the copy leaves out or changes, also logged as it is found.
    pub(super) fn collect_warnings(&mut self, catalog: &SourceCatalog, tables: &[Table]) {
        if catalog.large_object_count > 0 {
            let oids = catalog
                .large_objects
                .iter()
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join(", ");
            self.report.warnings.push(format!(
                "{} large objects are not copied (pg_largeobject; OIDs {oids}{}); columns \
                 referring to them will dangle on the target",
                catalog.large_object_count,
                if catalog.large_object_count > 20 {
                    ", …"
                } else {
                    ""
                }
            ));
        }
        if !catalog.foreign_tables.is_empty() {
            self.report.warnings.push(format!(
                "foreign tables are created but their remote data is not copied: {}",
                catalog.foreign_tables.join(", ")
            ));
        }
        let unlogged: Vec<String> = tables
            .iter()
            .filter(|t| t.unlogged)
            .map(Table::display_name)
            .collect();
        if !unlogged.is_empty() {
            self.report.warnings.push(format!(
                "unlogged tables were copied and stay unlogged on the target (emptied if the \
                 staging server crashes): {}",
                unlogged.join(", ")
            ));
        }
        for w in &self.report.warnings {
            tracing::warn!("{w}");
        }
    }
}
