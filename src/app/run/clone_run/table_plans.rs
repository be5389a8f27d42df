//! The clone's table plans: the selected tables with their parts, rules and the OID rewrites
//! their binary values need on this target.

use std::sync::Arc;

use tokio_postgres::Client;

use super::CloneRun;
use crate::app::{pg_failure, sanitizing, Failure};
use crate::catalog::{SourceCatalog, Table};
use crate::exit;
use crate::pipeline::TablePlan;
use crate::sink::target;

impl CloneRun<'_> {
    /// Tables with their parts and the OID rewrites their binary values need.
    pub(super) fn plan_tables(
        &self,
        target_client: &Client,
        catalog: &SourceCatalog,
        tables: Vec<Table>,
        rules: &sanitizing::Plan,
    ) -> Result<Vec<TablePlan>, Failure> {
        let needs_map = tables
            .iter()
            .any(|t| t.columns.iter().any(|c| c.embeds_user_oids));
        let map = if needs_map {
            let target_types = self
                .rt
                .block_on(target::user_types(target_client))
                .map_err(|e| pg_failure(exit::COPY_FAILED, "target: reading types", &e))?;
            Some(Arc::new(super::super::type_map(
                &catalog.types,
                &target_types,
            )))
        } else {
            None
        };
        Ok(super::super::plan::from_catalog(
            catalog,
            tables,
            (rules, self.sanitizing),
            self.options.split_larger_than,
            map.as_ref(),
        ))
    }
}
