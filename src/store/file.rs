//! A store in private files, for machines without a keychain.
//!
//! Each entry is one file `<dir>/<hash>.json` holding `{"key", "value"}`,
//! with mode 0600 in a directory with mode 0700. Writes go to a temporary
//! file in the same directory that is fsynced and then renamed over the
//! old one, so a crash leaves either the old entry or the new one, never a
//! half-written file. Wider modes found on disk are narrowed again.

use super::{short_hash, SecretStore, StoreError};
use crate::log;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

const NAME: &str = "file";

/// The file-backed [`SecretStore`].
pub struct FileStore {
    dir: PathBuf,
}

impl FileStore {
    /// Uses `dir` for entries; it is created on the first write.
    pub fn new(dir: PathBuf) -> Self {
        FileStore { dir }
    }

    fn path_for(&self, key: &str) -> PathBuf {
        self.dir.join(format!("{}.json", short_hash(key)))
    }

    fn error(action: &'static str, path: &Path, e: impl std::fmt::Display) -> StoreError {
        StoreError {
            store: NAME,
            action,
            detail: format!(
                "`{}`: {e}; check that the directory is yours and writable, or set `BIGANIMAL_CREDENTIAL_DIR`",
                path.display()
            ),
            unavailable: false,
        }
    }
}

impl SecretStore for FileStore {
    fn name(&self) -> &'static str {
        NAME
    }

    fn get(&self, key: &str) -> Result<Option<String>, StoreError> {
        let path = self.path_for(key);
        let metadata = match fs::symlink_metadata(&path) {
            Ok(metadata) => metadata,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Self::error("read", &path, e)),
        };
        if let Some(problem) = untrusted(&metadata) {
            log::notice(&format!(
                "ignoring `{}` because it {problem}; it will be replaced",
                path.display()
            ));
            return Ok(None);
        }
        let bytes = match read_limited(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Self::error("read", &path, e)),
        };
        // Invalid UTF-8 is handled below like any other corrupt entry.
        let text = String::from_utf8(bytes).unwrap_or_default();
        repair_mode(&self.dir, 0o700);
        repair_mode(&path, 0o600);

        let parsed: Option<(String, String)> = serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .and_then(|v| {
                let key = v.get("key")?.as_str()?.to_string();
                let value = v.get("value")?.as_str()?.to_string();
                Some((key, value))
            });
        match parsed {
            Some((stored_key, value)) if stored_key == key => Ok(Some(value)),
            Some(_) => Ok(None),
            None => {
                log::notice(&format!(
                    "ignoring `{}` because it is not a valid store entry; it will be replaced",
                    path.display()
                ));
                Ok(None)
            }
        }
    }

    fn set(&self, key: &str, value: &str) -> Result<(), StoreError> {
        create_private_dir(&self.dir).map_err(|e| Self::error("write", &self.dir, e))?;
        let path = self.path_for(key);
        let text = serde_json::json!({ "key": key, "value": value }).to_string();
        write_atomically(&path, text.as_bytes()).map_err(|e| Self::error("write", &path, e))
    }

    fn delete(&self, key: &str) -> Result<(), StoreError> {
        let path = self.path_for(key);
        match fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Self::error("delete an entry in", &path, e)),
        }
    }
}

/// Largest entry read, in bytes; real entries are a few hundred bytes.
const MAX_ENTRY_BYTES: u64 = 64 * 1024;

/// Reads at most [`MAX_ENTRY_BYTES`] without following a symbolic link.
fn read_limited(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut options = fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK);
    }
    let mut bytes = Vec::new();
    options.open(path)?.take(MAX_ENTRY_BYTES).read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// Says why an entry is not trusted: not a regular file (a symbolic link,
/// a FIFO, a device), or owned by another user.
fn untrusted(metadata: &fs::Metadata) -> Option<&'static str> {
    if !metadata.file_type().is_file() {
        return Some("is not a regular file");
    }
    if !owned_by_current_user(metadata) {
        return Some("is owned by another user");
    }
    None
}

#[cfg(unix)]
fn owned_by_current_user(metadata: &fs::Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    // SAFETY: geteuid has no preconditions and cannot fail.
    metadata.uid() == unsafe { libc::geteuid() }
}

#[cfg(not(unix))]
fn owned_by_current_user(_metadata: &fs::Metadata) -> bool {
    true
}

/// Creates `dir` and its parents, and makes `dir` itself mode 0700.
///
/// Fails when `dir` is a symbolic link or belongs to another user, so that
/// credentials are never written where someone else controls the path.
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    if let Err(e) = fs::create_dir_all(dir) {
        // `create_dir_all` reports a file in the way as "File exists".
        if e.kind() == std::io::ErrorKind::AlreadyExists || fs::symlink_metadata(dir).is_ok_and(|m| !m.is_dir()) {
            return Err(std::io::Error::other("it exists and is not a directory; remove or rename it"));
        }
        return Err(e);
    }
    let metadata = fs::symlink_metadata(dir)?;
    if !metadata.file_type().is_dir() {
        return Err(std::io::Error::other("it is not a directory (a symbolic link is not accepted)"));
    }
    if !owned_by_current_user(&metadata) {
        return Err(std::io::Error::other("it is owned by another user"));
    }
    set_mode(dir, 0o700)
}

/// Writes `bytes` to `path` through a fsynced temporary file and a rename.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let file_name = path.file_name().and_then(|n| n.to_str()).unwrap_or("entry");
    let temp = dir.join(format!(".{file_name}.{}.tmp", std::process::id()));

    let result = (|| {
        let mut options = fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600).custom_flags(libc::O_NOFOLLOW);
        }
        // A leftover temporary file (from a crash) or anything planted under
        // its name is removed, never written through.
        let mut file = match options.open(&temp) {
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                fs::remove_file(&temp)?;
                options.open(&temp)?
            }
            other => other?,
        };
        set_mode(&temp, 0o600)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&temp, path)?;
        // Persist the rename itself; a failure here does not lose the data.
        if let Ok(dir) = fs::File::open(dir) {
            let _ = dir.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&temp);
    }
    result
}

#[cfg(unix)]
fn set_mode(path: &Path, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
}

#[cfg(not(unix))]
fn set_mode(_path: &Path, _mode: u32) -> std::io::Result<()> {
    Ok(())
}

/// Narrows the mode of `path` to `mode` when group or others have access;
/// symbolic links are left alone.
#[cfg(unix)]
fn repair_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    let Ok(metadata) = fs::symlink_metadata(path) else {
        return;
    };
    if metadata.file_type().is_symlink() {
        return;
    }
    let current = metadata.permissions().mode() & 0o777;
    if current & 0o077 != 0 {
        match set_mode(path, mode) {
            Ok(()) => log::notice(&format!(
                "`{}` had mode {current:o}; changed it to {mode:o} so only you can read it",
                path.display()
            )),
            Err(e) => log::notice(&format!(
                "`{}` has mode {current:o} and could not be changed to {mode:o}: {e}",
                path.display()
            )),
        }
    }
}

#[cfg(not(unix))]
fn repair_mode(_path: &Path, _mode: u32) {}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "bac-file-store-{name}-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn set_get_delete() {
        let store = FileStore::new(temp_dir("cycle").join("store"));
        assert_eq!(store.get("k").unwrap(), None);
        store.set("k", "v1").unwrap();
        store.set("k", "v2").unwrap();
        assert_eq!(store.get("k").unwrap().as_deref(), Some("v2"));
        store.delete("k").unwrap();
        store.delete("k").unwrap();
        assert_eq!(store.get("k").unwrap(), None);
    }

    #[cfg(unix)]
    #[test]
    fn modes_are_private_and_repaired() {
        use std::os::unix::fs::PermissionsExt;
        let dir = temp_dir("modes").join("store");
        let store = FileStore::new(dir.clone());
        store.set("k", "v").unwrap();
        let path = store.path_for("k");
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&path), 0o600);

        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
        store.get("k").unwrap();
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&path), 0o600);
    }

    #[cfg(unix)]
    #[test]
    fn planted_links_are_not_followed() {
        let dir = temp_dir("links").join("store");
        let store = FileStore::new(dir.clone());
        store.set("k", "v").unwrap();
        let victim = dir.parent().unwrap().join("victim");
        fs::write(&victim, "keep").unwrap();

        let entry = store.path_for("k");
        fs::remove_file(&entry).unwrap();
        std::os::unix::fs::symlink(&victim, &entry).unwrap();
        assert_eq!(store.get("k").unwrap(), None, "a link is not read");

        let temp = dir.join(format!(".{}.{}.tmp", entry.file_name().unwrap().to_str().unwrap(), std::process::id()));
        std::os::unix::fs::symlink(&victim, &temp).unwrap();
        store.set("k", "new").unwrap();
        assert_eq!(fs::read_to_string(&victim).unwrap(), "keep", "the target is untouched");
        assert_eq!(store.get("k").unwrap().as_deref(), Some("new"));
    }

    #[test]
    fn corrupt_entry_reads_as_absent() {
        let dir = temp_dir("corrupt").join("store");
        let store = FileStore::new(dir.clone());
        store.set("k", "v").unwrap();
        fs::write(store.path_for("k"), "{not json").unwrap();
        assert_eq!(store.get("k").unwrap(), None);
    }

    #[test]
    fn entry_of_other_key_reads_as_absent() {
        let dir = temp_dir("other").join("store");
        let store = FileStore::new(dir.clone());
        store.set("k", "v").unwrap();
        let text = serde_json::json!({"key": "other", "value": "x"}).to_string();
        fs::write(store.path_for("k"), text).unwrap();
        assert_eq!(store.get("k").unwrap(), None);
    }
}
