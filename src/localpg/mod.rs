//! Throwaway local PostgreSQL clusters: initdb into a temporary directory, a loopback port,
//! torn down afterwards. Used by `restage demo` and by the test suite, so both exercise the
//! same real server setup.
//!
//! initdb and postgres refuse to run as root; as root the server runs as the `postgres` OS user
//! through `runuser`. A watchdog process stops the cluster if restage dies without cleaning up
//! (Ctrl-C, a killed test binary), so no orphaned servers accumulate.

mod watchdog;

use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::pgbin::{self, Version};

const SUPERUSER: &str = "postgres";
/// The OS account that runs the server when restage itself runs as root.
const SERVER_OS_USER: &str = "postgres";

#[derive(Debug, thiserror::Error)]
pub enum LocalPgError {
    #[error(transparent)]
    Binaries(#[from] pgbin::PgBinError),
    #[error(
        "running as root, but there is no `{SERVER_OS_USER}` OS user to run the server as \
         (it comes with the postgresql package: `apt-get install -y postgresql`)"
    )]
    NoServerUser,
    #[error("{what} failed: {detail}")]
    Command { what: String, detail: String },
    #[error("I/O error while {what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the local server did not become ready within {secs} s; its log ends with:\n{log}")]
    NotReady { secs: u64, log: String },
}

fn io(what: &str) -> impl FnOnce(std::io::Error) -> LocalPgError + '_ {
    move |source| LocalPgError::Io {
        what: what.to_string(),
        source,
    }
}

/// Server settings for a throwaway cluster. Durability is off because the data is disposable.
#[derive(Debug, Clone)]
pub struct ClusterOptions {
    pub name: String,
    /// Extra `-c name=value` settings.
    pub settings: Vec<(String, String)>,
    /// The server programs to use; by default the newest found (see `pgbin`).
    pub bindir: Option<PathBuf>,
}

impl ClusterOptions {
    pub fn new(name: &str) -> ClusterOptions {
        ClusterOptions {
            name: name.to_string(),
            settings: Vec::new(),
            bindir: None,
        }
    }

    /// Runs the server from this directory (another major version than the default, say).
    pub fn bindir(mut self, dir: &Path) -> ClusterOptions {
        self.bindir = Some(dir.to_path_buf());
        self
    }

    pub fn setting(mut self, name: &str, value: &str) -> ClusterOptions {
        self.settings.push((name.to_string(), value.to_string()));
        self
    }
}

/// A running throwaway cluster. Dropping it stops the server and removes its directory,
/// unless [`Cluster::keep`] was called.
pub struct Cluster {
    name: String,
    root: PathBuf,
    datadir: PathBuf,
    bindir: PathBuf,
    /// Where psql comes from: server-only installations have none of their own.
    psql: PathBuf,
    version: Version,
    port: u16,
    password: String,
    run_as: Option<String>,
    keep: bool,
    watchdog: Option<std::process::Child>,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("name", &self.name)
            .field("datadir", &self.datadir)
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

impl Cluster {
    /// initdb + start. Fails with an install hint when the server binaries are missing.
    pub fn start(opts: &ClusterOptions) -> Result<Cluster, LocalPgError> {
        let (bindir, version) = match &opts.bindir {
            Some(dir) => pgbin::server_bindir_at(dir)?,
            None => pgbin::find_server_bindir()?,
        };
        let psql = match bindir.join("psql") {
            own if own.is_file() => own,
            // Any psql speaks to any supported server for the plain SQL run here.
            _ => pgbin::find("psql")?.path,
        };
        let run_as = if is_root() {
            if !os_user_exists(SERVER_OS_USER) {
                return Err(LocalPgError::NoServerUser);
            }
            Some(SERVER_OS_USER.to_string())
        } else {
            None
        };
        let root = tempfile::Builder::new()
            .prefix(&format!("restage-{}-", opts.name))
            .tempdir()
            .map_err(io("creating a temporary directory"))?
            .keep();
        let mut cluster = Cluster {
            name: opts.name.clone(),
            datadir: root.join("data"),
            root,
            bindir,
            psql,
            version,
            port: 0,
            password: random_hex(16),
            run_as,
            keep: false,
            watchdog: None,
        };
        cluster.init()?;
        cluster.launch(opts)?;
        Ok(cluster)
    }

    fn init(&self) -> Result<(), LocalPgError> {
        if let Some(user) = &self.run_as {
            chown_to(&self.root, user)?;
        }
        let pwfile = self.root.join("pwfile");
        std::fs::write(&pwfile, format!("{}\n", self.password)).map_err(io("writing pwfile"))?;
        if let Some(user) = &self.run_as {
            chown_to(&pwfile, user)?;
        }
        let mut cmd = self.server_command("initdb");
        cmd.arg("-D")
            .arg(&self.datadir)
            .args(["-U", SUPERUSER, "-E", "UTF8", "--locale=C", "-N"])
            .args(["--auth-local=trust", "--auth-host=scram-sha-256"])
            .arg(format!("--pwfile={}", pwfile.display()));
        run_quiet(cmd, "initdb")?;
        let _ = std::fs::remove_file(&pwfile);
        Ok(())
    }

    fn launch(&mut self, opts: &ClusterOptions) -> Result<(), LocalPgError> {
        // A port picked by the kernel can be taken again before postgres binds it; retry.
        let mut last_err = None;
        for _ in 0..5 {
            self.port = free_port()?;
            let mut settings: Vec<(String, String)> = vec![
                ("listen_addresses".into(), "127.0.0.1".into()),
                ("port".into(), self.port.to_string()),
                (
                    "unix_socket_directories".into(),
                    self.root.display().to_string(),
                ),
                ("fsync".into(), "off".into()),
                ("synchronous_commit".into(), "off".into()),
                ("full_page_writes".into(), "off".into()),
                ("max_connections".into(), "100".into()),
                ("shared_buffers".into(), "128MB".into()),
                ("max_wal_size".into(), "2GB".into()),
            ];
            settings.extend(opts.settings.iter().cloned());
            let options = settings
                .iter()
                .map(|(k, v)| format!("-c {k}={}", shell_quote(v)))
                .collect::<Vec<_>>()
                .join(" ");
            let mut cmd = self.server_command("pg_ctl");
            cmd.arg("-D")
                .arg(&self.datadir)
                .arg("-l")
                .arg(self.logfile())
                .args(["-w", "-t", "60", "-o", &options, "start"]);
            match run_quiet(cmd, "pg_ctl start") {
                Ok(()) => {
                    self.watchdog = watchdog::spawn(self).ok();
                    return self.wait_ready();
                }
                Err(e) => last_err = Some(e),
            }
        }
        Err(last_err.unwrap_or_else(|| LocalPgError::NotReady {
            secs: 60,
            log: self.log_tail(),
        }))
    }

    fn wait_ready(&self) -> Result<(), LocalPgError> {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if self.psql("postgres", "SELECT 1").is_ok() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Err(LocalPgError::NotReady {
            secs: 60,
            log: self.log_tail(),
        })
    }

    fn server_command(&self, program: &str) -> Command {
        let path = self.bindir.join(program);
        match &self.run_as {
            Some(user) => {
                let mut cmd = Command::new("runuser");
                cmd.args(["-u", user, "--"]).arg(path);
                cmd
            }
            None => Command::new(path),
        }
    }

    fn logfile(&self) -> PathBuf {
        self.root.join("server.log")
    }

    /// The last lines of the server log, for error messages.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(self.logfile()).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// The full server log (tests read it, e.g. to check nothing secret was logged).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.logfile()).unwrap_or_default()
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn version(&self) -> Version {
        self.version
    }

    /// The directory holding the server's Unix socket.
    pub fn socket_dir(&self) -> &Path {
        &self.root
    }

    pub fn datadir(&self) -> &Path {
        &self.datadir
    }

    pub fn bindir(&self) -> &Path {
        &self.bindir
    }

    /// The superuser's password (throwaway, random per cluster).
    pub fn password(&self) -> &str {
        &self.password
    }

    /// A TCP connection URL for `dbname` as the superuser.
    pub fn url(&self, dbname: &str) -> String {
        format!(
            "postgresql://{SUPERUSER}:{}@127.0.0.1:{}/{dbname}",
            self.password, self.port
        )
    }

    /// The same URL with the password masked, for printing.
    pub fn masked_url(&self, dbname: &str) -> String {
        format!(
            "postgresql://{SUPERUSER}:****@127.0.0.1:{}/{dbname}",
            self.port
        )
    }

    /// A libpq URL over the Unix socket for `dbname` as the superuser: local logins are trusted,
    /// so it carries no password and can be printed and pasted as it is.
    pub fn socket_url(&self, dbname: &str) -> String {
        format!(
            "postgresql://{SUPERUSER}@/{dbname}?host={}&port={}",
            self.root.display(),
            self.port
        )
    }

    /// The shell command that stops this cluster and removes its directory, for the user running
    /// restage: pg_ctl refuses to run as root, so as root it runs as the server's OS user.
    pub fn stop_command(&self) -> String {
        let pg_ctl = self.bindir.join("pg_ctl");
        let as_user = match &self.run_as {
            Some(user) => format!("runuser -u {user} -- "),
            None => String::new(),
        };
        format!(
            "{as_user}{} -D {} stop && rm -rf {}",
            shell_quote(&pg_ctl.display().to_string()),
            shell_quote(&self.datadir.display().to_string()),
            shell_quote(&self.root.display().to_string())
        )
    }

    fn psql_command(&self, dbname: &str) -> Command {
        let mut cmd = Command::new(&self.psql);
        // The Unix socket with trust auth: no password on any command line.
        cmd.args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-At"])
            .arg("-h")
            .arg(&self.root)
            .arg("-p")
            .arg(self.port.to_string())
            .args(["-U", SUPERUSER, "-d", dbname])
            .env_remove("PGPASSWORD")
            .env_remove("PGSERVICE")
            .env_remove("PGOPTIONS");
        cmd
    }

    /// Runs SQL and returns psql's unaligned, tuples-only output.
    pub fn psql(&self, dbname: &str, sql: &str) -> Result<String, LocalPgError> {
        let mut cmd = self.psql_command(dbname);
        cmd.arg("-c").arg(sql);
        run_capture(cmd, "psql")
    }

    /// Loads a SQL file in one transaction.
    pub fn psql_file(&self, dbname: &str, file: &Path) -> Result<String, LocalPgError> {
        let mut cmd = self.psql_command(dbname);
        cmd.arg("--single-transaction").arg("-f").arg(file);
        run_capture(cmd, &format!("loading {}", file.display()))
    }

    /// Creates a database (quoted as given).
    pub fn create_database(&self, dbname: &str) -> Result<(), LocalPgError> {
        self.psql(
            "postgres",
            &format!("CREATE DATABASE \"{}\"", dbname.replace('"', "\"\"")),
        )
        .map(|_| ())
    }

    /// Leaves the server running and its directory in place after this value is dropped.
    pub fn keep(&mut self) {
        self.keep = true;
        if let Some(mut w) = self.watchdog.take() {
            let _ = w.kill();
            let _ = w.wait();
        }
    }

    /// Stops the server immediately and removes the directory.
    pub fn stop(&mut self) {
        let mut cmd = self.server_command("pg_ctl");
        cmd.arg("-D")
            .arg(&self.datadir)
            .args(["-m", "immediate", "-w", "stop"]);
        let _ = run_quiet(cmd, "pg_ctl stop");
        let _ = std::fs::remove_dir_all(&self.root);
        if let Some(mut w) = self.watchdog.take() {
            let _ = w.kill();
            let _ = w.wait();
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if !self.keep {
            self.stop();
        }
    }
}

fn run_quiet(mut cmd: Command, what: &str) -> Result<(), LocalPgError> {
    run_capture_inner(&mut cmd, what).map(|_| ())
}

fn run_capture(mut cmd: Command, what: &str) -> Result<String, LocalPgError> {
    run_capture_inner(&mut cmd, what)
}

fn run_capture_inner(cmd: &mut Command, what: &str) -> Result<String, LocalPgError> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| LocalPgError::Command {
            what: what.to_string(),
            detail: e.to_string(),
        })?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim_end().to_string())
    } else {
        Err(LocalPgError::Command {
            what: what.to_string(),
            detail: format!(
                "{}{}",
                String::from_utf8_lossy(&out.stderr).trim(),
                String::from_utf8_lossy(&out.stdout).trim()
            ),
        })
    }
}

fn free_port() -> Result<u16, LocalPgError> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(io("finding a free port"))?;
    let port = listener
        .local_addr()
        .map_err(io("finding a free port"))?
        .port();
    Ok(port)
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

fn os_user_exists(user: &str) -> bool {
    Command::new("id")
        .arg("-u")
        .arg(user)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

fn chown_to(path: &Path, user: &str) -> Result<(), LocalPgError> {
    let status = Command::new("chown")
        .arg(format!("{user}:"))
        .arg(path)
        .status()
        .map_err(io("chown"))?;
    if status.success() {
        Ok(())
    } else {
        Err(LocalPgError::Command {
            what: format!("chown {user} {}", path.display()),
            detail: status.to_string(),
        })
    }
}

/// Random hex from the OS CSPRNG.
pub fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    let ok = std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut buf))
        .is_ok();
    if !ok {
        // Only reachable on a system without /dev/urandom; the value protects a loopback-only
        // throwaway cluster, so a time-derived fallback is acceptable here and nowhere else.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        buf.iter_mut()
            .enumerate()
            .for_each(|(i, b)| *b = (nanos >> ((i % 16) * 8)) as u8 ^ (i as u8));
    }
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

fn shell_quote(value: &str) -> String {
    if value
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "._-/:,".contains(c))
    {
        value.to_string()
    } else {
        format!("'{}'", value.replace('\'', "'\\''"))
    }
}
