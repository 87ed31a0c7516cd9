//! An async driver for the [`upload_session`] core on tokio, hyper 1.x (HTTP/1.1) and rustls.
//!
//! The core decides everything about the protocol and does no I/O; this crate owns the I/O
//! it leaves to its driver ("What the driver owes the machine" in [`upload_session`]):
//!
//! - [`Client`]: one request on the wire. `https://` with rustls on the ring provider,
//!   trusting the system's roots (`SSL_CERT_FILE`/`SSL_CERT_DIR` honoured) and any extra PEM
//!   roots given; `HTTPS_PROXY`/`HTTP_PROXY`/`NO_PROXY` read once into a [`ProxyConfig`];
//!   a connection per request; a timeout for connecting and one for the exchange; failures
//!   sorted into the core's [`TransportError`](upload_session::TransportError) by whether any
//!   byte of the request may have left ([`TransportFailure`] keeps the detail).
//! - [`RequestBody`]: the file's bytes streamed into the request in bounded frames
//!   ([`DEFAULT_FRAME_SIZE`], 32 KiB, each read straight into the buffer sent), never a
//!   chunk-sized buffer; exactly `Content-Length` bytes or an error, never a short body.
//! - [`Uploader`]: the driving loop. The token only where
//!   [`Request::needs_token`](upload_session::Request::needs_token) says; `Wait` slept with tokio; `RefreshToken`
//!   answered by a [`TokenSource`]; the state saved through a [`StateSink`] (such as
//!   [`StateFile`]) before a request that may create the result and after every answer;
//!   cancellation through a [`CancelHandle`].
//!
//! Errors are typed ([`Error`], [`SendError`]); neither they nor any `Debug` output hold the
//! bearer token or a URL's query.
//!
//! # Example
//!
//! ```no_run
//! use std::path::Path;
//! use upload_session::{FileInfo, Options, Owner, Target, Upload};
//! use upload_session_async::{Client, StateFile, TokenError, Uploader};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let path = Path::new("report.pdf");
//! let size = tokio::fs::metadata(path).await?.len();
//! let target = Target::todo_task("https://graph.microsoft.com/v1.0", Owner::Me, "LIST", "TASK")?;
//! let mut upload = Upload::new(target, FileInfo::new("report.pdf", size), Options::default())?;
//!
//! // The system's roots and the proxy environment; one client for any number of uploads.
//! let client = Client::new()?;
//! let mut uploader = Uploader::new(client, std::env::var("GRAPH_TOKEN")?)
//!     // Asked when the server refuses the token: get a new one (here, from the environment).
//!     .with_token_source(|| async {
//!         std::env::var("GRAPH_TOKEN").map_err(|e| TokenError::from(e.to_string()))
//!     })
//!     .with_state_sink(StateFile::new("report.pdf.upload-state"));
//! let done = uploader.run(&mut upload, path).await?;
//! println!("attachment {} ({} bytes)", done.id, done.size);
//! # Ok(())
//! # }
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]

mod body;
mod client;
mod driver;
mod proxy;
mod state;
mod token;

use std::fmt;
use std::io;
use std::path::PathBuf;

pub use body::{FileErrorSlot, RequestBody, DEFAULT_FRAME_SIZE};
pub use client::{
    Answer, Client, ClientBuilder, SendError, Stage, TransportFailure, DEFAULT_MAX_ANSWER,
};
pub use driver::{CancelHandle, Uploader};
pub use proxy::{NoProxy, Proxy, ProxyConfig};
pub use state::{SaveFuture, StateFile, StateSink};
pub use token::{SyncTokenSource, TokenError, TokenFuture, TokenSource};

/// Why an upload, or setting up a [`Client`], failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The core gave up: its typed error says why (retries exhausted, a refusal, ...).
    Upload(upload_session::Error),
    /// The upload was cancelled (its session, if any, deleted).
    Cancelled,
    /// The file could not be opened or read, or it ended before the range being sent (it
    /// changed during the upload). Nothing short was sent.
    File {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        source: io::Error,
    },
    /// The [`StateSink`] failed: the upload stopped rather than go on without a durable state.
    State(io::Error),
    /// The [`TokenSource`] failed.
    Token(TokenError),
    /// A request this driver cannot send (a URL that is not `http://` or `https://`).
    Request(String),
    /// A setting that cannot be used: a broken root certificate, a proxy URL of a kind not
    /// supported.
    Config(String),
    /// The core refused a call of the driver's: a bug, reported rather than panicking.
    Internal(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Upload(e) => e.fmt(f),
            Error::Cancelled => f.write_str("the upload was cancelled"),
            Error::File { path, source } => {
                write!(f, "cannot read {}: {source}", path.display())
            }
            Error::State(e) => write!(f, "cannot save the upload's state: {e}"),
            Error::Token(e) => write!(f, "cannot get a new token: {e}"),
            Error::Request(m) => f.write_str(m),
            Error::Config(m) => write!(f, "invalid setting: {m}"),
            Error::Internal(m) => write!(f, "internal error in the upload driver: {m}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Upload(e) => Some(e),
            Error::File { source, .. } => Some(source),
            Error::State(e) => Some(e),
            Error::Token(e) => Some(e.as_ref()),
            _ => None,
        }
    }
}
