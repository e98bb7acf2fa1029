//! Cross-process locks, one per identity, so that only one process at a
//! time refreshes a token or runs a device login for it.
//!
//! The lock is an OS advisory lock (`flock` on Unix, `LockFileEx` on
//! Windows) on a separate lock file in a per-user directory. Waits use
//! real time rather than the session's clock, because the kernel ends them. The OS drops
//! it when the holder exits or is killed, so a crash never leaves a stale
//! lock behind. The holder writes its process id and purpose into the file
//! so that waiting processes can name what they wait for.

use crate::log;
use std::fmt;
use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A failure to take a lock.
#[derive(Debug)]
pub enum LockError {
    /// Another process held the lock for the whole wait.
    TimedOut {
        /// The lock file.
        path: PathBuf,
        /// The holder's own description of its work.
        holder: String,
        /// How long this process waited.
        waited: Duration,
    },
    /// The lock file could not be created or locked.
    Io {
        /// The lock file or its directory.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
}

impl fmt::Display for LockError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LockError::TimedOut { path, holder, waited } => write!(
                f,
                "timed out after {} s waiting for {holder} (lock file `{}`); \
                 try again, or raise `--lock-timeout`",
                waited.as_secs(),
                path.display()
            ),
            LockError::Io { path, source } => {
                write!(f, "could not lock `{}`: {source}", path.display())
            }
        }
    }
}

impl std::error::Error for LockError {}

/// A held lock; dropping it releases the lock.
pub struct LockGuard {
    _file: File,
}

/// The end of a wait for a lock.
enum Waited {
    /// The lock was taken (or released again, for a shared wait).
    Done(File),
    /// `max_wait` passed first.
    TimedOut,
}

/// Opens (creating it if needed) the lock file `name` in `dir`.
fn open(dir: &Path, name: &str) -> Result<(PathBuf, File), LockError> {
    super::file::create_private_dir(dir).map_err(|source| LockError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let path = dir.join(format!("{name}.lock"));
    let mut options = OpenOptions::new();
    options.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        // A symbolic link planted in place of the lock file is refused
        // rather than followed, so the holder note never overwrites its target.
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600).custom_flags(libc::O_NOFOLLOW);
    }
    let file = options
        .open(&path)
        .map_err(|source| LockError::Io {
            path: path.clone(),
            source,
        })?;
    Ok((path, file))
}

/// Blocks on the lock in a helper thread, giving up after `max_wait`.
///
/// The kernel wakes the waiter as soon as the holder releases the lock, so
/// many waiters resume together instead of polling. A thread that is still
/// blocked at the time-out stays blocked until the process exits.
fn wait_blocking(file: File, shared: bool, max_wait: Duration) -> Result<Waited, std::io::Error> {
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("lock-wait".to_string())
        .spawn(move || {
            let locked = if shared { file.lock_shared() } else { file.lock() };
            let _ = sender.send(locked.map(|()| file));
        })?;
    match receiver.recv_timeout(max_wait) {
        Ok(Ok(file)) => Ok(Waited::Done(file)),
        Ok(Err(e)) => Err(e),
        Err(_) => Ok(Waited::TimedOut),
    }
}

/// Takes the lock `name` in `dir` without waiting; `None` when another
/// process holds it.
pub fn try_acquire(dir: &Path, name: &str, purpose: &str) -> Result<Option<LockGuard>, LockError> {
    let (path, mut file) = open(dir, name)?;
    match file.try_lock() {
        Ok(()) => {
            record_holder(&mut file, purpose);
            Ok(Some(LockGuard { _file: file }))
        }
        Err(TryLockError::WouldBlock) => Ok(None),
        Err(TryLockError::Error(source)) => Err(LockError::Io { path, source }),
    }
}

/// Waits until no process holds the lock `name`, at most `max_wait`,
/// without taking it, and prints one line naming what it waits for.
///
/// Waiters take a shared lock, which the kernel grants to all of them at
/// once when the holder releases its exclusive lock. So after a refresh,
/// every waiting caller re-reads the store at the same time.
pub fn wait_until_released(dir: &Path, name: &str, max_wait: Duration) -> Result<(), LockError> {
    let (path, mut file) = open(dir, name)?;
    let holder = describe_holder(&mut file);
    log::notice(&format!("waiting for {holder} to finish (up to {} s)", max_wait.as_secs()));
    let started = std::time::Instant::now();
    match wait_blocking(file, true, max_wait) {
        Ok(Waited::Done(_released_on_drop)) => Ok(()),
        Ok(Waited::TimedOut) => Err(LockError::TimedOut {
            holder,
            path,
            waited: started.elapsed(),
        }),
        Err(source) => Err(LockError::Io { path, source }),
    }
}

/// Takes the lock `name` in `dir`, waiting at most `max_wait`.
///
/// `purpose` is recorded for waiting processes, such as `refresh of
/// profile default`. When this process has to wait it prints one line on
/// stderr naming what it waits for.
pub fn acquire(dir: &Path, name: &str, purpose: &str, max_wait: Duration) -> Result<LockGuard, LockError> {
    acquire_with_notice(dir, name, purpose, max_wait, true)
}

/// Takes the lock `name` in `dir` like [`acquire`], but prints nothing
/// while it waits. For locks that are held for milliseconds, where a line
/// per wait would only be noise.
pub fn acquire_quietly(dir: &Path, name: &str, purpose: &str, max_wait: Duration) -> Result<LockGuard, LockError> {
    acquire_with_notice(dir, name, purpose, max_wait, false)
}

fn acquire_with_notice(
    dir: &Path,
    name: &str,
    purpose: &str,
    max_wait: Duration,
    notice: bool,
) -> Result<LockGuard, LockError> {
    if let Some(guard) = try_acquire(dir, name, purpose)? {
        return Ok(guard);
    }
    let (path, mut file) = open(dir, name)?;
    let holder = describe_holder(&mut file);
    if notice {
        log::notice(&format!("waiting for {holder} to finish (up to {} s)", max_wait.as_secs()));
    }
    let started = std::time::Instant::now();
    match wait_blocking(file, false, max_wait) {
        Ok(Waited::Done(mut file)) => {
            record_holder(&mut file, purpose);
            Ok(LockGuard { _file: file })
        }
        Ok(Waited::TimedOut) => Err(LockError::TimedOut {
            holder,
            path,
            waited: started.elapsed(),
        }),
        Err(source) => Err(LockError::Io { path, source }),
    }
}

/// Records who holds the lock; failing to do so only degrades messages.
fn record_holder(file: &mut File, purpose: &str) {
    let note = format!("process {} ({purpose})", std::process::id());
    let _ = file
        .set_len(0)
        .and_then(|_| file.rewind())
        .and_then(|_| file.write_all(note.as_bytes()));
}

fn describe_holder(file: &mut File) -> String {
    let mut text = String::new();
    let _ = file.rewind().and_then(|_| file.take(200).read_to_string(&mut text));
    let text: String = text.chars().filter(|c| !c.is_control()).collect();
    if text.is_empty() {
        "another biganimal-credential process".to_string()
    } else {
        format!("another biganimal-credential {text}")
    }
}

/// Removes lock files that no process holds, for `logout`.
pub fn remove_unheld(dir: &Path, name: &str) {
    let path = dir.join(format!("{name}.lock"));
    if let Ok(file) = OpenOptions::new().write(true).open(&path) {
        if file.try_lock().is_ok() {
            let _ = fs::remove_file(&path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> PathBuf {
        std::env::temp_dir().join(format!("bac-lock-{name}-{}", std::process::id()))
    }

    #[test]
    fn second_acquire_times_out_while_held() {
        let dir = temp_dir("held");
        let _held = acquire(&dir, "id", "refresh of profile `a`", Duration::from_secs(1)).unwrap();
        let err = acquire(&dir, "id", "refresh", Duration::from_millis(200))
            .err()
            .expect("the lock is held");
        let text = err.to_string();
        assert!(text.contains("refresh of profile `a`"), "{text}");
        assert!(text.contains("timed out"), "{text}");
    }

    #[test]
    fn try_acquire_reports_holder() {
        let dir = temp_dir("try");
        let held = try_acquire(&dir, "id", "refresh").unwrap();
        assert!(held.is_some());
        assert!(try_acquire(&dir, "id", "refresh").unwrap().is_none());
        drop(held);
        assert!(try_acquire(&dir, "id", "refresh").unwrap().is_some());
    }

    #[test]
    fn wait_until_released_returns_after_release() {
        let dir = temp_dir("release");
        let held = acquire(&dir, "id", "refresh", Duration::ZERO).unwrap();
        let releaser = std::thread::spawn(move || drop(held));
        releaser.join().unwrap();
        wait_until_released(&dir, "id", Duration::from_secs(5)).unwrap();
    }

    #[test]
    fn wait_until_released_times_out() {
        let dir = temp_dir("wait-timeout");
        let _held = acquire(&dir, "id", "device login", Duration::ZERO).unwrap();
        let err = wait_until_released(&dir, "id", Duration::from_millis(100)).err().unwrap();
        assert!(err.to_string().contains("device login"), "{err}");
    }
}
