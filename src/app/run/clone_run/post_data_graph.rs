//! The post-data job graph run beside the copy: the plan's index, constraint and foreign-key
//! items, each table's ANALYZE once its indexes exist, on connections of their own.

use std::collections::HashMap;

use tokio_postgres::Client;

use crate::catalog::Table;
use crate::conn::ConnSpec;
use crate::pgerr;
use crate::pipeline::{PostJob, PostRun, TablePlan, TableStats};
use crate::schema::{ItemKind, PostAction, PostDataPlan, RestoreOptions, SchemaArchive};
use crate::sink::target;

use super::APPLICATION_NAME;

/// The post-data jobs: the plan's index/constraint/foreign-key items, then per table ANALYZE
/// and the row count check once its indexes exist.
pub(super) fn post_jobs<'a>(
    target: &'a ConnSpec,
    plans: &[TablePlan],
    archive: &'a SchemaArchive,
    post_plan: &'a PostDataPlan,
    restore: RestoreOptions,
) -> Vec<PostJob<'a>> {
    let index_of: HashMap<u32, usize> = plans
        .iter()
        .enumerate()
        .map(|(i, p)| (p.table.oid, i))
        .collect();
    let tables_of = |oids: &[u32]| -> Vec<usize> {
        oids.iter()
            .filter_map(|o| index_of.get(o).copied())
            .collect()
    };
    let mut jobs: Vec<PostJob<'a>> = post_plan
        .items
        .iter()
        .map(|item| {
            let conn = target.with_settings(item.settings);
            let run: PostRun<'a> = match &item.action {
                PostAction::Restore(entries) => {
                    let label = item.label.clone();
                    Box::new(move |_: &TableStats| {
                        archive
                            .restore_entries(&conn, entries, restore, &label)
                            .map_err(|e| e.to_string())
                    })
                }
                PostAction::Sql(sql) => Box::new(move |_: &TableStats| run_target_sql(&conn, sql)),
            };
            PostJob {
                label: item.label.clone(),
                table: index_of.get(&item.table).copied(),
                after_tables: tables_of(&item.after_tables),
                after_jobs: item.after_items.clone(),
                run,
            }
        })
        .collect();
    // Per table: ANALYZE after its indexes exist (expression indexes get statistics) and before
    // any foreign key touching it (the two lock the table against each other).
    let mut analyzes: HashMap<u32, usize> = HashMap::new();
    for (i, plan) in plans.iter().enumerate() {
        let table = plan.table.clone();
        analyzes.insert(plan.table.oid, jobs.len());
        jobs.push(PostJob {
            label: format!("{} ANALYZE", plan.table.display_name()),
            table: Some(i),
            after_tables: vec![i],
            after_jobs: post_plan.items_of(plan.table.oid, None),
            run: Box::new(move |_: &TableStats| analyze(target, &table)),
        });
    }
    for (n, item) in post_plan.items.iter().enumerate() {
        if item.kind == ItemKind::ForeignKey {
            let checks = item.after_tables.iter().filter_map(|t| analyzes.get(t));
            jobs[n].after_jobs.extend(checks);
        }
    }
    jobs
}

/// One statement on a fresh target connection (post-data workers run on their own threads).
fn run_target_sql(target: &ConnSpec, sql: &str) -> Result<(), String> {
    with_target(target, |client| async move {
        client
            .batch_execute(sql)
            .await
            .map_err(|e| format!("{}: {sql}", pgerr::describe(&e)))
    })
}

/// ANALYZE the table on the target. Row counts are already verified: every part's COPY FROM
/// must be acknowledged by the target with exactly the number of rows read in the snapshot.
fn analyze(target: &ConnSpec, table: &Table) -> Result<(), String> {
    with_target(target, |client| async move {
        target::analyze(&client, &table.qualified())
            .await
            .map_err(|e| format!("ANALYZE: {}", pgerr::describe(&e)))
    })
}

fn with_target<F, Fut>(target: &ConnSpec, f: F) -> Result<(), String>
where
    F: FnOnce(Client) -> Fut,
    Fut: std::future::Future<Output = Result<(), String>>,
{
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    rt.block_on(async {
        let client = target::connect(target, APPLICATION_NAME)
            .await
            .map_err(|e| format!("target: {e}"))?;
        f(client).await
    })
}
