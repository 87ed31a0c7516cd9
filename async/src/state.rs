//! Where the core's saved state ([`Upload::save`](upload_session::Upload::save)) goes, so that
//! a process that dies can resume with [`Upload::restore`](upload_session::Upload::restore).

use std::fs::{self, File, OpenOptions};
use std::future::Future;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::pin::Pin;

/// What [`StateSink::save`] returns.
pub type SaveFuture<'a> = Pin<Box<dyn Future<Output = io::Result<()>> + Send + 'a>>;

/// Keeps the upload's state somewhere durable. The driver calls it before sending a request
/// that may create the result ([`Request::save_before_sending`](upload_session::Request::save_before_sending))
/// and after every answer, whenever the state differs from the one it last saved; an error
/// stops the upload ([`Error::State`](crate::Error::State)), since going on would leave a state
/// that might not know to look for a result before sending again.
///
/// Any `FnMut(&str) -> io::Result<()>` closure is one (it runs on the runtime's thread);
/// [`StateFile`] writes a file atomically.
pub trait StateSink: Send {
    /// Stores `state`, replacing what was stored before. Done only once it is durable.
    fn save<'a>(&'a mut self, state: &'a str) -> SaveFuture<'a>;
}

impl<F> StateSink for F
where
    F: FnMut(&str) -> io::Result<()> + Send,
{
    fn save<'a>(&'a mut self, state: &'a str) -> SaveFuture<'a> {
        Box::pin(std::future::ready(self(state)))
    }
}

/// A state file written atomically: a temporary file beside it, written, synced, renamed over
/// it (and the directory synced where that is possible), on tokio's blocking threads. A crash
/// leaves the old state or the new one, never part of one. The state holds the session's
/// `uploadUrl` (never the token), so on Unix the file is readable by its owner only.
#[derive(Debug, Clone)]
pub struct StateFile {
    path: PathBuf,
}

impl StateFile {
    /// The state file at `path` (nothing is read or written yet).
    pub fn new(path: impl Into<PathBuf>) -> StateFile {
        StateFile { path: path.into() }
    }

    /// The path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The saved state, or `None` if there is no file.
    pub async fn load(&self) -> io::Result<Option<String>> {
        match tokio::fs::read_to_string(&self.path).await {
            Ok(s) => Ok(Some(s)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Removes the file; a file already gone is fine.
    pub async fn remove(&self) -> io::Result<()> {
        match tokio::fs::remove_file(&self.path).await {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }
}

impl StateSink for StateFile {
    fn save<'a>(&'a mut self, state: &'a str) -> SaveFuture<'a> {
        let path = self.path.clone();
        let state = state.to_owned();
        Box::pin(async move {
            tokio::task::spawn_blocking(move || write_atomically(&path, &state))
                .await
                .map_err(io::Error::other)?
        })
    }
}

fn write_atomically(path: &Path, state: &str) -> io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "state".to_owned());
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let written = (|| -> io::Result<()> {
        let mut f = create_private(&tmp)?;
        f.write_all(state.as_bytes())?;
        f.sync_all()?;
        fs::rename(&tmp, path)?;
        // Make the rename itself durable; not every platform can open a directory.
        if let Ok(d) = File::open(&dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if written.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    written
}

#[cfg(unix)]
fn create_private(path: &Path) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
}

#[cfg(not(unix))]
fn create_private(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)
}
