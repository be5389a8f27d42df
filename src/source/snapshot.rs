//! The leader exports a snapshot from a REPEATABLE READ, READ ONLY transaction and keeps that
//! transaction open for the whole run; readers import it, so parallel readers (and pg_dump) see
//! exactly one database state even while production keeps writing.
//!
//! Every reading session turns `row_security` off (as pg_dump does): a row-level security
//! policy that would filter what it reads then fails the read instead of dropping rows, a loss
//! the row-count check could never notice since it counts what the same session read.

use tokio_postgres::Client;

pub struct Leader {
    pub client: Client,
    pub snapshot: String,
}

impl Leader {
    pub async fn begin(client: Client) -> Result<Leader, tokio_postgres::Error> {
        client
            .batch_execute(
                "SET row_security = off; BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY",
            )
            .await?;
        // Catalog functions (pg_get_indexdef…) then qualify every name, as pg_dump does.
        client
            .batch_execute("SELECT pg_catalog.set_config('search_path', '', true)")
            .await?;
        let snapshot: String = client
            .query_one("SELECT pg_catalog.pg_export_snapshot()", &[])
            .await?
            .get(0);
        Ok(Leader { client, snapshot })
    }

    /// Ends the transaction; the snapshot stops being importable.
    pub async fn finish(self) -> Result<(), tokio_postgres::Error> {
        self.client.batch_execute("COMMIT").await
    }
}

/// Makes `client` see the leader's snapshot for the rest of its (read-only) transaction.
pub async fn join_snapshot(client: &Client, snapshot: &str) -> Result<(), tokio_postgres::Error> {
    // The snapshot id is produced by the server (digits, hex and dashes), but quote it anyway.
    let quoted = snapshot.replace('\'', "''");
    client
        .batch_execute(&format!(
            "SET row_security = off; BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY; \
             SET TRANSACTION SNAPSHOT '{quoted}'"
        ))
        .await
}
