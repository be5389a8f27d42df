//! A tiny shell process that outlives restage: when restage's process disappears without
//! having stopped the cluster (Ctrl-C, SIGKILL, a test binary that exits without running
//! destructors for statics), it stops the server and removes the directory.

use std::process::{Child, Command, Stdio};

use super::Cluster;

pub(super) fn spawn(cluster: &Cluster) -> std::io::Result<Child> {
    let pg_ctl = cluster.bindir.join("pg_ctl");
    let stop = match &cluster.run_as {
        Some(user) => format!(
            "runuser -u {user} -- \"$PG_CTL\" -D \"$PGDATA_DIR\" -m immediate stop >/dev/null 2>&1"
        ),
        None => "\"$PG_CTL\" -D \"$PGDATA_DIR\" -m immediate stop >/dev/null 2>&1".to_string(),
    };
    let script = format!(
        "while kill -0 \"$OWNER\" 2>/dev/null; do sleep 1; done; \
         if [ -d \"$PGDATA_DIR\" ]; then {stop}; rm -rf \"$ROOT_DIR\"; fi"
    );
    Command::new("sh")
        .arg("-c")
        .arg(script)
        .env("OWNER", std::process::id().to_string())
        .env("PG_CTL", pg_ctl)
        .env("PGDATA_DIR", &cluster.datadir)
        .env("ROOT_DIR", &cluster.root)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
}
