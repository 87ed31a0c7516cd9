//! The `--state` file: the core's saved state, written atomically (a temporary file in the
//! same directory, fsync, rename) so that a crash leaves either the old state or the new one,
//! never half of one. The state never holds the token; it does hold the session's `uploadUrl`,
//! so on Unix the file is created readable by its owner only.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Where the state lives, and what was last written there.
#[derive(Debug)]
pub struct StateFile {
    path: PathBuf,
    last: Option<String>,
}

impl StateFile {
    /// The state file at `path` (not read or written yet).
    pub fn new(path: &Path) -> StateFile {
        StateFile {
            path: path.to_owned(),
            last: None,
        }
    }

    /// The path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The saved bytes, or `None` if there is no file.
    pub fn load(&mut self) -> io::Result<Option<Vec<u8>>> {
        match fs::read(&self.path) {
            Ok(bytes) => {
                self.last = String::from_utf8(bytes.clone()).ok();
                Ok(Some(bytes))
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Writes `state` atomically, unless it is what was last written.
    pub fn save(&mut self, state: &str) -> io::Result<()> {
        if self.last.as_deref() == Some(state) {
            return Ok(());
        }
        let dir = match self.path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
            _ => PathBuf::from("."),
        };
        let name = self
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "state".to_owned());
        static WRITES: AtomicU64 = AtomicU64::new(0);
        let n = WRITES.fetch_add(1, Ordering::Relaxed);
        let tmp = dir.join(format!(".{name}.tmp-{}-{n}", std::process::id()));
        let written = (|| -> io::Result<()> {
            // A new file only (never through a link someone left at that name).
            let mut f = match create_private(&tmp) {
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    fs::remove_file(&tmp)?;
                    create_private(&tmp)?
                }
                other => other?,
            };
            f.write_all(state.as_bytes())?;
            f.sync_all()?;
            fs::rename(&tmp, &self.path)?;
            // Make the rename itself durable; not every platform can open a directory.
            if let Ok(d) = File::open(&dir) {
                let _ = d.sync_all();
            }
            Ok(())
        })();
        if written.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        written?;
        self.last = Some(state.to_owned());
        Ok(())
    }

    /// Removes the file; a file already gone is fine.
    pub fn remove(&mut self) -> io::Result<()> {
        self.last = None;
        match fs::remove_file(&self.path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }
}

#[cfg(unix)]
fn create_private(path: &Path) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
}

#[cfg(not(unix))]
fn create_private(path: &Path) -> io::Result<File> {
    OpenOptions::new().write(true).create_new(true).open(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saves_atomically_and_removes() {
        let dir = std::env::temp_dir().join(format!("todo-upload-state-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let p = dir.join("s.json");
        let mut s = StateFile::new(&p);
        assert_eq!(s.load().unwrap(), None);
        s.save("{\"a\":1}").unwrap();
        s.save("{\"a\":2}").unwrap();
        assert_eq!(fs::read_to_string(&p).unwrap(), "{\"a\":2}");
        let leftovers = fs::read_dir(&dir).unwrap().count();
        assert_eq!(leftovers, 1, "no temporary file left behind");
        s.remove().unwrap();
        s.remove().unwrap();
        assert!(!p.exists());
    }
}
