//! Cross-process locks, one per identity, so that only one process at a
//! time refreshes a token or runs a device login for it.
//!
//! The lock is an OS advisory lock (`flock` on Unix, `LockFileEx` on
//! Windows) on a separate lock file in a per-user directory. The OS drops
//! it when the holder exits or is killed, so a crash never leaves a stale
//! lock behind. The holder writes its process id and purpose into the file
//! so that waiting processes can say what they wait for.

use crate::clock::Clock;
use crate::log;
use std::fmt;
use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How often a waiting process tries the lock again.
const RETRY_EVERY: Duration = Duration::from_millis(50);

/// A failure to take a lock.
#[derive(Debug)]
pub enum LockError {
    /// Another process held the lock for the whole wait.
    TimedOut {
        /// The lock file.
        path: PathBuf,
        /// What the holder said it was doing.
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

/// Takes the lock `name` in `dir`, waiting at most `max_wait`.
///
/// `purpose` is recorded for waiting processes, such as `refresh of
/// profile default`. The first time this process has to wait it prints one
/// line on stderr naming what it waits for.
pub fn acquire(
    dir: &Path,
    name: &str,
    purpose: &str,
    max_wait: Duration,
    clock: &dyn Clock,
) -> Result<LockGuard, LockError> {
    super::file::create_private_dir(dir).map_err(|source| LockError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let path = dir.join(format!("{name}.lock"));
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|source| LockError::Io {
            path: path.clone(),
            source,
        })?;

    let start = clock.now();
    let mut announced = false;
    loop {
        match file.try_lock() {
            Ok(()) => break,
            Err(TryLockError::WouldBlock) => {}
            Err(TryLockError::Error(source)) => {
                return Err(LockError::Io { path, source });
            }
        }
        let waited = (clock.now() - start).unsigned_abs();
        if waited >= max_wait {
            return Err(LockError::TimedOut {
                holder: describe_holder(&mut file),
                path,
                waited,
            });
        }
        if !announced {
            log::notice(&format!(
                "waiting for {} to finish (up to {} s)",
                describe_holder(&mut file),
                max_wait.as_secs()
            ));
            announced = true;
        }
        clock.sleep(RETRY_EVERY.min(max_wait - waited));
    }

    // Record who holds the lock; failing to do so only degrades messages.
    let note = format!("process {} ({purpose})", std::process::id());
    let _ = file
        .set_len(0)
        .and_then(|_| file.rewind())
        .and_then(|_| file.write_all(note.as_bytes()));
    Ok(LockGuard { _file: file })
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
    use crate::clock::fake::FakeClock;

    fn temp_dir(name: &str) -> PathBuf {
        std::env::temp_dir().join(format!("bac-lock-{name}-{}", std::process::id()))
    }

    #[test]
    fn second_acquire_times_out_while_held() {
        let dir = temp_dir("held");
        let clock = FakeClock::new();
        let _held = acquire(&dir, "id", "refresh of profile `a`", Duration::from_secs(1), &clock).unwrap();
        let err = acquire(&dir, "id", "refresh", Duration::from_secs(1), &clock)
            .err()
            .expect("the lock is held");
        let text = err.to_string();
        assert!(text.contains("refresh of profile `a`"), "{text}");
        assert!(text.contains("timed out"), "{text}");
    }

    #[test]
    fn released_lock_can_be_taken_again() {
        let dir = temp_dir("released");
        let clock = FakeClock::new();
        drop(acquire(&dir, "id", "refresh", Duration::ZERO, &clock).unwrap());
        assert!(acquire(&dir, "id", "refresh", Duration::ZERO, &clock).is_ok());
    }
}
