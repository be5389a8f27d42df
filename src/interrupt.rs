//! SIGINT and SIGTERM: stop the children, remove the private work directories, say in one line
//! what state the run left behind, and exit with the shell's code for the signal (130, 143).
//!
//! The signals are blocked in every thread (they inherit the mask of the thread that starts
//! them) and taken by one dedicated thread with `sigwait`, so the cleanup runs as ordinary code
//! rather than inside an async-signal handler: it may lock, allocate and remove directories.
//! Children get an empty signal mask from `std::process::Command`, so pg_dump and pg_restore
//! still answer SIGTERM.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Private work directories to remove if the run is interrupted (their owners remove them on
/// every other path).
static WORK_DIRS: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());
/// Running children (pg_dump, pg_restore) to stop before exiting.
static CHILDREN: Mutex<Vec<u32>> = Mutex::new(Vec::new());
/// What an interruption leaves behind at this point of the run (the target's state), if
/// anything worth saying.
static STATE: Mutex<Option<String>> = Mutex::new(None);

/// How long children get to stop (pg_restore cancels its statement on SIGTERM first).
const CHILD_GRACE: Duration = Duration::from_secs(10);

/// Takes over SIGINT and SIGTERM for the whole process. Call before any other thread starts.
pub fn install() {
    #[cfg(unix)]
    {
        let set = signal_set();
        // SAFETY: `set` is a valid, initialized signal set; blocking signals in the calling
        // thread has no other effect on memory.
        let blocked =
            unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) } == 0;
        if !blocked {
            return;
        }
        let spawned = std::thread::Builder::new()
            .name("signals".into())
            .spawn(move || loop {
                let mut sig: libc::c_int = 0;
                // SAFETY: both pointers are valid for the duration of the call.
                if unsafe { libc::sigwait(&set, &mut sig) } == 0 {
                    interrupted(sig);
                }
            });
        if spawned.is_err() {
            // Nobody would take the signals: give them back their default action.
            let set = signal_set();
            // SAFETY: as above.
            unsafe { libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut()) };
        }
    }
}

/// SIGINT and SIGTERM, except one the parent set to be ignored (a shell starts background jobs
/// of a script with SIGINT ignored; a blocked signal would be queued for `sigwait` instead).
#[cfg(unix)]
fn signal_set() -> libc::sigset_t {
    // SAFETY: sigemptyset initializes the set before sigaddset reads it; sigaction with a null
    // new action only reads the current disposition into `old`.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for sig in [libc::SIGINT, libc::SIGTERM] {
            let mut old: libc::sigaction = std::mem::zeroed();
            let ignored = libc::sigaction(sig, std::ptr::null(), &mut old) == 0
                && old.sa_sigaction == libc::SIG_IGN;
            if !ignored {
                libc::sigaddset(&mut set, sig);
            }
        }
        set
    }
}

/// Records what an interruption from now on leaves behind, e.g. "the target is incomplete and
/// marked INCOMPLETE"; `None` when there is nothing to say (the run has not written yet, or
/// finished).
pub fn set_state(state: Option<String>) {
    *STATE.lock().unwrap_or_else(|e| e.into_inner()) = state;
}

/// The state messages of commands that write a target database.
pub mod target {
    /// Nothing written yet.
    pub fn untouched() {
        super::set_state(Some("the target was not changed".into()));
    }

    /// Writing started; `marked` when the database comment says INCOMPLETE.
    pub fn incomplete(marked: bool) {
        super::set_state(Some(
            if marked {
                "the target is incomplete and marked INCOMPLETE (its database comment)"
            } else {
                "the target is incomplete"
            }
            .into(),
        ));
    }

    /// Everything written and checked.
    pub fn complete() {
        super::set_state(Some("the target is complete".into()));
    }
}

/// A private work directory, removed on drop and, if the run is interrupted, by the signal
/// thread.
pub struct WorkDir(Option<tempfile::TempDir>);

impl WorkDir {
    /// Creates `$TMPDIR/<prefix>XXXX` readable by its owner only.
    pub fn new(prefix: &str) -> std::io::Result<WorkDir> {
        #[cfg(unix)]
        let dir = {
            use std::os::unix::fs::PermissionsExt;
            tempfile::Builder::new()
                .prefix(prefix)
                .permissions(std::fs::Permissions::from_mode(0o700))
                .tempdir()?
        };
        #[cfg(not(unix))]
        let dir = tempfile::Builder::new().prefix(prefix).tempdir()?;
        lock(&WORK_DIRS).push(dir.path().to_path_buf());
        Ok(WorkDir(Some(dir)))
    }

    pub fn path(&self) -> &Path {
        match &self.0 {
            Some(d) => d.path(),
            None => Path::new(""),
        }
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        if let Some(dir) = self.0.take() {
            let path = dir.path().to_path_buf();
            drop(dir);
            lock(&WORK_DIRS).retain(|p| *p != path);
        }
    }
}

/// Registers a running child; stopped with SIGTERM if the run is interrupted.
pub struct ChildGuard(u32);

impl ChildGuard {
    pub fn new(pid: u32) -> ChildGuard {
        lock(&CHILDREN).push(pid);
        ChildGuard(pid)
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        lock(&CHILDREN).retain(|p| *p != self.0);
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(unix)]
fn interrupted(sig: libc::c_int) -> ! {
    let name = if sig == libc::SIGINT {
        "SIGINT"
    } else {
        "SIGTERM"
    };
    let state = lock(&STATE).clone();
    match state {
        Some(state) => eprintln!("restage: interrupted by {name}; {state}"),
        None => eprintln!("restage: interrupted by {name}"),
    }
    let children: Vec<u32> = lock(&CHILDREN).clone();
    for pid in &children {
        if let Ok(pid) = libc::pid_t::try_from(*pid) {
            // SAFETY: kill has no memory effects. A pid is unregistered right after its child
            // is reaped, so the window in which it could name another process is tiny.
            unsafe { libc::kill(pid, libc::SIGTERM) };
        }
    }
    // The threads waiting for them unregister each one once it has exited.
    let started = Instant::now();
    while !lock(&CHILDREN).is_empty() && started.elapsed() < CHILD_GRACE {
        std::thread::sleep(Duration::from_millis(20));
    }
    for dir in lock(&WORK_DIRS).iter() {
        let _ = std::fs::remove_dir_all(dir);
    }
    std::process::exit(128 + sig)
}
