//! The driving loop: poll the core, do what it says (send, sleep, refresh the token), feed
//! back what came of it, and save the state where the core needs it saved.

use std::fmt;
use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::SystemTime;

use tokio::sync::Notify;
use upload_session::{
    Action, Body, Completion, Request, Response, Timestamp, TransportError, Upload,
};

use crate::body::{RequestBody, DEFAULT_FRAME_SIZE};
use crate::client::{Client, SendError, TransportFailure};
use crate::state::StateSink;
use crate::token::TokenSource;
use crate::Error;

/// The current time, as the core takes it.
fn now() -> Timestamp {
    Timestamp::from_system_time(SystemTime::now())
}

/// Drives [`Upload`]s to their end over a [`Client`]: sends each request with the file's
/// bytes streamed from disk and the token where the core asks for it, sleeps when it says
/// wait, asks the [`TokenSource`] for a new token when the server refused one, and hands the
/// state to the [`StateSink`] before a request that may create the result and after every
/// answer.
///
/// One `Uploader` drives one upload at a time; make one per concurrent upload (they may share
/// a [`Client`]).
pub struct Uploader {
    client: Client,
    token: String,
    source: Option<Box<dyn TokenSource>>,
    sink: Option<Box<dyn StateSink>>,
    last_saved: Option<String>,
    cancel: Arc<CancelState>,
    last_failure: Option<TransportFailure>,
    frame: usize,
}

impl fmt::Debug for Uploader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the token.
        f.debug_struct("Uploader")
            .field("client", &self.client)
            .field("token", &"<redacted>")
            .field("token_source", &self.source.is_some())
            .field("state_sink", &self.sink.is_some())
            .field("last_failure", &self.last_failure)
            .finish()
    }
}

impl Uploader {
    /// An uploader sending `token` (the bearer token, without `Bearer `) where the core asks
    /// for one.
    pub fn new(client: Client, token: impl Into<String>) -> Uploader {
        Uploader {
            client,
            token: token.into(),
            source: None,
            sink: None,
            last_saved: None,
            cancel: Arc::default(),
            last_failure: None,
            frame: DEFAULT_FRAME_SIZE,
        }
    }

    /// Asks `source` for a new token when the server refuses the one sent.
    pub fn with_token_source(mut self, source: impl TokenSource + 'static) -> Uploader {
        self.source = Some(Box::new(source));
        self
    }

    /// Saves the state through `sink` (see [`StateSink`] for when).
    pub fn with_state_sink(mut self, sink: impl StateSink + 'static) -> Uploader {
        self.sink = Some(Box::new(sink));
        self
    }

    /// Streams the file into request bodies `bytes` at a time
    /// ([`RequestBody::with_frame_size`]; [`DEFAULT_FRAME_SIZE`] by default).
    pub fn with_frame_size(mut self, bytes: usize) -> Uploader {
        self.frame = bytes;
        self
    }

    /// A handle that cancels the upload this uploader runs, from any task.
    pub fn cancel_handle(&self) -> CancelHandle {
        CancelHandle(self.cancel.clone())
    }

    /// The last request that got no answer, and why, if any did: the detail behind a
    /// [`TransportError`](upload_session::TransportError) the core retried or gave up on.
    pub fn last_transport_failure(&self) -> Option<&TransportFailure> {
        self.last_failure.as_ref()
    }

    /// Drives `upload` to its end, reading the file at `path`. The file is opened afresh for
    /// each request that carries its bytes, and must stay as it was: a file whose size is no
    /// longer the upload's, or that was modified since `run` began, fails the upload
    /// ([`Error::File`]) before the request is sent, the core told it was not; one that ends
    /// early while its bytes stream fails it too, its connection abandoned rather than a
    /// short body finished. The state is saved either way.
    ///
    /// Dropping the future leaves `upload` as it was when last answered (a request in flight
    /// never answered): save it and resume with [`Upload::restore`].
    pub async fn run(&mut self, upload: &mut Upload, path: &Path) -> Result<Completion, Error> {
        let file_error = |e| Error::File {
            path: path.to_owned(),
            source: e,
        };
        // Refuse a file that cannot be opened before anything is sent, and note its
        // modification time: a file modified from here on is not sent from.
        let file = tokio::fs::File::open(path).await.map_err(file_error)?;
        let modified = file.metadata().await.map_err(file_error)?.modified().ok();
        drop(file);
        let mut cancel_seen = false;
        loop {
            let now = now();
            if !cancel_seen && self.cancel.requested() {
                cancel_seen = true;
                upload.cancel(now);
            }
            match upload.poll(now) {
                Action::Send(req) => self.exchange(upload, &req, path, modified).await?,
                // The core never sleeps; the driver does, until the time it was given, or until
                // a cancel, which the core is then told of.
                Action::Wait { until, .. } => {
                    let sleep = tokio::time::sleep(until.saturating_duration_since(now));
                    if cancel_seen {
                        sleep.await;
                    } else {
                        tokio::select! {
                            () = sleep => {}
                            () = self.cancel.wait() => {}
                        }
                    }
                }
                Action::RefreshToken => {
                    if let Some(source) = self.source.as_mut() {
                        self.token = source.refresh().await.map_err(Error::Token)?;
                    }
                    // Without a source, the same token once more: a second 401 in a row
                    // ends the upload in the core.
                    upload.token_refreshed(self::now()).map_err(internal)?;
                }
                Action::Done(completion) => return Ok(completion),
                Action::Failed(e) => return Err(Error::Upload(e)),
                Action::Cancelled => return Err(Error::Cancelled),
                other => return Err(Error::Internal(format!("an unknown action {other:?}"))),
            }
        }
    }

    /// Sends one request and feeds back what came of it; saves around it.
    async fn exchange(
        &mut self,
        upload: &mut Upload,
        req: &Request,
        path: &Path,
        modified: Option<SystemTime>,
    ) -> Result<(), Error> {
        // A request that may create the result (the single POST, a final PUT): save first,
        // so that a process that dies with it in flight resumes by looking for the result
        // rather than sending it twice (docs/protocol.md §11).
        if req.save_before_sending() {
            self.save(upload).await?;
        }
        // The file is checked (same size, not modified) and the body set up (opened afresh,
        // its length checked, seeked) before connecting: a file that changed stops here,
        // with nothing sent, and the core hears that nothing was.
        let body = match body_for(upload, req, path, modified).await {
            Ok(body) => body.with_frame_size(self.frame),
            Err(e) => {
                return self
                    .stop_on_file(upload, req, path, e, TransportError::Connect)
                    .await
            }
        };
        let token = req.needs_token().then_some(self.token.as_str());
        let result = self.client.send(req, body, token).await;
        let now = now();
        match result {
            Ok(answer) => {
                upload
                    .handle_response(now, req.id(), Response::from(&answer))
                    .map_err(internal)?;
            }
            Err(SendError::Transport(failure)) => {
                upload
                    .handle_transport_error(now, req.id(), failure.kind())
                    .map_err(internal)?;
                self.last_failure = Some(failure);
            }
            // The body failed part way: the connection was abandoned, never finished short.
            // Some of it may have gone, so the outcome counts as unknown.
            Err(SendError::File(e)) => {
                return self
                    .stop_on_file(upload, req, path, e, TransportError::Interrupted)
                    .await
            }
            Err(SendError::Request(m)) => return Err(Error::Request(m)),
        }
        // After every answer: a finished upload saves as finished, so that a process that
        // dies before removing the state resumes into the same result, sending nothing.
        self.save(upload).await
    }

    /// Ends the upload on a file error: the core hears what became of the request (`how`),
    /// the state is saved with nothing in flight, and the file error is returned.
    async fn stop_on_file(
        &mut self,
        upload: &mut Upload,
        req: &Request,
        path: &Path,
        e: io::Error,
        how: TransportError,
    ) -> Result<(), Error> {
        upload
            .handle_transport_error(now(), req.id(), how)
            .map_err(internal)?;
        // The file error is what the caller needs to hear; a failed save comes second.
        let _ = self.save(upload).await;
        Err(Error::File {
            path: path.to_owned(),
            source: e,
        })
    }

    async fn save(&mut self, upload: &Upload) -> Result<(), Error> {
        let Some(sink) = self.sink.as_mut() else {
            return Ok(());
        };
        let state = upload.save();
        if self.last_saved.as_deref() == Some(state.as_str()) {
            return Ok(());
        }
        sink.save(&state).await.map_err(Error::State)?;
        self.last_saved = Some(state);
        Ok(())
    }
}

/// The request's body, once the file is seen to be the one the upload started with.
async fn body_for(
    upload: &Upload,
    req: &Request,
    path: &Path,
    modified: Option<SystemTime>,
) -> io::Result<RequestBody> {
    let reads_file = match req.body() {
        Body::FileRange(_) => true,
        Body::JsonWithBase64File { range, .. } => range.is_some(),
        _ => false,
    };
    if reads_file {
        let meta = tokio::fs::metadata(path).await?;
        let size = upload.file().size();
        if meta.len() != size {
            let kind = if meta.len() < size {
                io::ErrorKind::UnexpectedEof
            } else {
                io::ErrorKind::InvalidData
            };
            return Err(io::Error::new(
                kind,
                format!(
                    "the file changed during the upload: {} bytes, was {size}",
                    meta.len()
                ),
            ));
        }
        if modified.is_some() && meta.modified().ok() != modified {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "the file changed during the upload (modified since the upload started)",
            ));
        }
    }
    RequestBody::for_request(req, path).await
}

/// The core refused a call: a bug in this driver, reported rather than panicking.
fn internal(e: impl fmt::Display) -> Error {
    Error::Internal(format!("the core refused the driver's call: {e}"))
}

#[derive(Default)]
struct CancelState {
    requested: AtomicBool,
    notify: Notify,
}

impl CancelState {
    fn requested(&self) -> bool {
        self.requested.load(Ordering::SeqCst)
    }

    async fn wait(&self) {
        let notified = self.notify.notified();
        if self.requested() {
            return;
        }
        notified.await;
    }
}

/// Cancels an [`Uploader`]'s upload: a session that exists is deleted once the request in
/// flight, if any, has been answered, and [`Uploader::run`] ends with [`Error::Cancelled`]
/// (or with the result, if the upload completed first). A cancel during a wait reaches the
/// core at once; an upload with nothing to delete then ends at once, while a server's
/// `Retry-After` still covers the DELETE.
#[derive(Clone)]
pub struct CancelHandle(Arc<CancelState>);

impl CancelHandle {
    /// Asks to cancel; asking again does nothing more.
    pub fn cancel(&self) {
        self.0.requested.store(true, Ordering::SeqCst);
        self.0.notify.notify_waiters();
    }
}

impl fmt::Debug for CancelHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CancelHandle")
            .field("requested", &self.0.requested())
            .finish()
    }
}
