//! The staging side: `COPY t (cols) FROM STDIN (FORMAT binary)`.
//!
//! A whole table is loaded as `BEGIN; TRUNCATE ONLY t; COPY … (FREEZE); COMMIT`: rows arrive
//! already frozen, so the first reads and VACUUM on staging do not rewrite every page to set
//! hint bits. Parts of a split table share the table and load without FREEZE.

use std::pin::Pin;

use bytes::Bytes;
use futures_util::SinkExt;
use tokio_postgres::{Client, CopyInSink};

use crate::catalog::Table;

pub struct TableSink<'a> {
    client: &'a Client,
    sink: Pin<Box<CopyInSink<Bytes>>>,
    in_transaction: bool,
}

impl<'a> TableSink<'a> {
    /// Starts the COPY. `whole_table` enables TRUNCATE + FREEZE in one transaction.
    pub async fn begin(
        client: &'a Client,
        table: &Table,
        whole_table: bool,
    ) -> Result<TableSink<'a>, tokio_postgres::Error> {
        let options = if whole_table {
            client
                .batch_execute(&format!("BEGIN; TRUNCATE ONLY {}", table.qualified()))
                .await?;
            "FORMAT binary, FREEZE"
        } else {
            "FORMAT binary"
        };
        let sql = format!(
            "COPY {} ({}) FROM STDIN ({options})",
            table.qualified(),
            table.column_list()
        );
        let sink = match client.copy_in(sql.as_str()).await {
            Ok(sink) => sink,
            Err(e) => {
                if whole_table {
                    let _ = client.batch_execute("ROLLBACK").await;
                }
                return Err(e);
            }
        };
        Ok(TableSink {
            client,
            sink: Box::pin(sink),
            in_transaction: whole_table,
        })
    }

    /// Sends encoded PGCOPY bytes (header, tuples, trailer as produced by the codec).
    pub async fn send(&mut self, data: Bytes) -> Result<(), tokio_postgres::Error> {
        self.sink.as_mut().send(data).await
    }

    /// Completes the COPY and commits; returns the rows the server inserted.
    pub async fn finish(mut self) -> Result<u64, tokio_postgres::Error> {
        let rows = self.sink.as_mut().finish().await?;
        if self.in_transaction {
            self.client.batch_execute("COMMIT").await?;
        }
        Ok(rows)
    }

    /// Aborts the COPY (dropping an unfinished sink sends CopyFail) and rolls back.
    pub async fn abort(self) {
        let TableSink {
            client,
            sink,
            in_transaction,
        } = self;
        drop(sink);
        if in_transaction {
            let _ = client.batch_execute("ROLLBACK").await;
        }
    }
}

pub mod target;
