//! The staging side: `COPY t (cols) FROM STDIN (FORMAT binary)` (or text, see below).
//!
//! A whole table is loaded as `BEGIN; TRUNCATE ONLY t; COPY … (FREEZE); COMMIT`: rows arrive
//! already frozen, so the first reads and VACUUM on staging do not rewrite every page to set
//! hint bits. Parts of a split table share the table and load without FREEZE.
//!
//! A table whose values travel in text form (see [`CopyFormat`]) is loaded in its own
//! transaction too, with the portable text settings local to it.

use std::pin::Pin;

use bytes::Bytes;
use futures_util::SinkExt;
use tokio_postgres::{Client, CopyInSink};

use crate::catalog::{text_session_sql, CopyFormat, Table};

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
        let text = table.copy_format() == CopyFormat::Text;
        let in_transaction = whole_table || text;
        if in_transaction {
            let mut setup = String::from("BEGIN;");
            if text {
                setup.push_str(&text_session_sql());
                setup.push(';');
            }
            if whole_table {
                setup.push_str(&format!("TRUNCATE ONLY {};", table.qualified()));
            }
            client.batch_execute(&setup).await?;
        }
        let options = match (text, whole_table) {
            (false, true) => "FORMAT binary, FREEZE",
            (false, false) => "FORMAT binary",
            (true, true) => "FORMAT text, FREEZE",
            (true, false) => "FORMAT text",
        };
        let sql = format!(
            "COPY {}{} FROM STDIN ({options})",
            table.qualified(),
            table.copy_column_list()
        );
        let sink = match client.copy_in(sql.as_str()).await {
            Ok(sink) => sink,
            Err(e) => {
                if in_transaction {
                    let _ = client.batch_execute("ROLLBACK").await;
                }
                return Err(e);
            }
        };
        Ok(TableSink {
            client,
            sink: Box::pin(sink),
            in_transaction,
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
