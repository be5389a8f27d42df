//! SIGINT and SIGTERM: stop the children, remove the private work directories, say in one line
//! what state the run left behind, and exit with the shell's code for the signal (130, 143).
//!
//! The signal handler only writes the signal's number into a pipe (all it may safely do); one
//! dedicated thread reads it and does the cleanup as ordinary code: it may lock, allocate and
//! remove directories. The signal mask stays as it was, so children (pg_dump, pg_restore, which
//! cancel their statement on SIGTERM) receive signals as usual, and exec gives them back the
//! default handlers.

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
/// Undoes what the run made and nothing else needs (refresh: its shadow database), once the
/// children have stopped.
pub type Cleanup = Box<dyn FnOnce() + Send>;
static CLEANUP: Mutex<Option<Cleanup>> = Mutex::new(None);

/// How long children get to stop (pg_restore cancels its statement on SIGTERM first).
const CHILD_GRACE: Duration = Duration::from_secs(10);

/// Write end of the pipe the handler writes to (-1 until installed).
#[cfg(unix)]
static PIPE: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(-1);

/// Takes over SIGINT and SIGTERM for the whole process, except a signal the parent set to be
/// ignored (a shell starts a script's background jobs with SIGINT ignored).
pub fn install() {
    #[cfg(unix)]
    {
        use std::sync::atomic::Ordering;
        let mut fds = [0 as libc::c_int; 2];
        // SAFETY: `fds` has room for the two descriptors pipe2 writes.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
            return;
        }
        let [read_fd, write_fd] = fds;
        let spawned = std::thread::Builder::new()
            .name("signals".into())
            .spawn(move || loop {
                let mut byte = 0u8;
                // SAFETY: reads one byte into a valid local buffer.
                let n = unsafe { libc::read(read_fd, (&mut byte as *mut u8).cast(), 1) };
                if n == 1 {
                    interrupted(libc::c_int::from(byte));
                }
                if n == 0 {
                    return;
                }
            });
        if spawned.is_err() {
            return;
        }
        PIPE.store(write_fd, Ordering::SeqCst);
        for sig in [libc::SIGINT, libc::SIGTERM] {
            // SAFETY: sigaction is given a zeroed (valid) struct to fill and a handler that
            // only makes async-signal-safe calls.
            unsafe {
                let mut old: libc::sigaction = std::mem::zeroed();
                if libc::sigaction(sig, std::ptr::null(), &mut old) != 0
                    || old.sa_sigaction == libc::SIG_IGN
                {
                    continue;
                }
                let mut action: libc::sigaction = std::mem::zeroed();
                action.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as usize;
                action.sa_flags = libc::SA_RESTART;
                libc::sigemptyset(&mut action.sa_mask);
                libc::sigaction(sig, &action, std::ptr::null_mut());
            }
        }
    }
}

/// The handler: hands the signal to the signal thread. Only async-signal-safe calls (write).
#[cfg(unix)]
extern "C" fn on_signal(sig: libc::c_int) {
    let fd = PIPE.load(std::sync::atomic::Ordering::SeqCst);
    let byte = sig as u8;
    // SAFETY: write(2) is async-signal-safe; the buffer is a valid local byte.
    let _ = unsafe { libc::write(fd, (&byte as *const u8).cast(), 1) };
}

/// Records what an interruption from now on leaves behind, e.g. "the target is incomplete and
/// marked INCOMPLETE"; `None` when there is nothing to say (the run has not written yet, or
/// finished).
pub fn set_state(state: Option<String>) {
    *STATE.lock().unwrap_or_else(|e| e.into_inner()) = state;
}

/// Sets (or clears) what an interruption from now on must undo before exiting; it runs on the
/// signal thread after the children have stopped.
pub fn set_cleanup(cleanup: Option<Cleanup>) {
    *CLEANUP.lock().unwrap_or_else(|e| e.into_inner()) = cleanup;
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
    let cleanup = lock(&CLEANUP).take();
    if let Some(cleanup) = cleanup {
        cleanup();
    }
    for dir in lock(&WORK_DIRS).iter() {
        let _ = std::fs::remove_dir_all(dir);
    }
    std::process::exit(crate::exit::SIGNALED + sig)
}
