//! Request bodies streamed from the file in bounded frames: a PUT's byte range, or the single
//! POST's JSON with the range base64-encoded in the middle (docs/protocol.md §7). Neither holds
//! more than one frame of the file; each yields exactly [`Request::content_length`] bytes or
//! fails, never fewer (docs/protocol.md §9: a short body is a broken request, not a small one).

use std::future::Future;
use std::io::{self, Read};
use std::path::Path;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{ready, Context, Poll};

use http_body::{Frame, SizeHint};
use hyper::body::Bytes;
use tokio::fs::File;
use tokio::io::AsyncSeekExt;
use tokio::task::JoinHandle;
use upload_session::{Base64Encoder, Body, ByteRange, Request};

/// Bytes per frame of a body by default: 32 KiB of file per PUT frame, 32 KiB of base64 (24 KiB
/// of file) per frame of the single POST. With 1,000 uploads streaming at once that is about
/// 70 KiB per upload in all (the frame, hyper's buffers, the task); 64 KiB frames move a
/// single upload about a quarter faster on loopback at about 100 KiB per upload
/// (`async/benches/concurrent.rs`).
pub const DEFAULT_FRAME_SIZE: usize = 32 * 1024;

/// The smallest and largest frame sizes [`RequestBody::with_frame_size`] takes.
const FRAME_LIMITS: (usize, usize) = (4 * 1024, 4 * 1024 * 1024);

/// The body of one [`Request`], read from the file as the connection takes it.
///
/// Built by [`RequestBody::for_request`], which opens the file afresh (so that a request
/// abandoned mid-read can never move the next one's file offset), checks that the file still
/// holds the range, and seeks to its start. While streaming, a file that ends early or fails
/// to read makes the body fail: the HTTP connection is then abandoned rather than finished with
/// fewer bytes than its `Content-Length`, and [`RequestBody::file_error`] (kept by a
/// [`FileErrorSlot`] that outlives the body) says why.
pub struct RequestBody {
    kind: Kind,
    frame: usize,
    /// Bytes still to yield.
    left: u64,
    failed: FileErrorSlot,
}

enum Kind {
    /// Everything already yielded, or nothing to yield.
    Done,
    /// A JSON document, yielded as one frame.
    Bytes(Bytes),
    /// A PUT's range.
    Range(FileReader),
    /// The single POST: prefix, base64 of a range, suffix.
    Base64 {
        prefix: Option<Bytes>,
        file: Option<FileReader>,
        encoder: Option<Base64Encoder>,
        suffix: Option<Bytes>,
    },
    /// The file failed: every later poll fails too.
    Failed,
}

/// Reads up to `left` bytes of an open file, one frame at a time, on tokio's blocking
/// threads. Each frame is read straight into the buffer that becomes the frame: no second
/// copy, and no buffer kept between frames.
struct FileReader {
    /// The file; `None` while a read is in flight.
    file: Option<std::fs::File>,
    left: u64,
    reading: Option<JoinHandle<(std::fs::File, io::Result<Vec<u8>>)>>,
}

impl FileReader {
    /// The next piece of at most `max` bytes; an error if the file ends before `left` bytes.
    fn poll_piece(&mut self, cx: &mut Context<'_>, max: usize) -> Poll<io::Result<Vec<u8>>> {
        if self.reading.is_none() {
            let want = usize::try_from(self.left).unwrap_or(usize::MAX).min(max);
            let Some(mut file) = self.file.take() else {
                return Poll::Ready(Err(io::Error::other("the file was lost by a failed read")));
            };
            // Allocated here, filled there, sent from here: one buffer per frame.
            let mut buf = vec![0u8; want];
            self.reading = Some(tokio::task::spawn_blocking(move || {
                let read = read_full(&mut file, &mut buf).map(|()| buf);
                (file, read)
            }));
        }
        let Some(reading) = self.reading.as_mut() else {
            return Poll::Ready(Err(io::Error::other("no read in flight")));
        };
        let joined = ready!(Pin::new(reading).poll(cx));
        self.reading = None;
        let (file, read) = match joined {
            Ok(done) => done,
            Err(e) => return Poll::Ready(Err(io::Error::other(e))),
        };
        self.file = Some(file);
        let piece = read?;
        self.left -= piece.len() as u64;
        Poll::Ready(Ok(piece))
    }
}

/// Fills `buf` from the file; the file ending first is an error, not a short piece.
fn read_full(file: &mut std::fs::File, mut buf: &mut [u8]) -> io::Result<()> {
    while !buf.is_empty() {
        match file.read(buf) {
            Ok(0) => return Err(shrunk()),
            Ok(n) => buf = &mut buf[n..],
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Where a body records why the file could not be read; shared with the driver, which reads
/// it once the connection has given up on the body.
#[derive(Clone, Default)]
pub struct FileErrorSlot(Arc<Mutex<Option<io::Error>>>);

impl FileErrorSlot {
    /// Takes the recorded error, if any.
    pub fn take(&self) -> Option<io::Error> {
        self.0.lock().ok().and_then(|mut slot| slot.take())
    }

    fn record(&self, e: io::Error) -> io::Error {
        let kind = e.kind();
        if let Ok(mut slot) = self.0.lock() {
            slot.get_or_insert(e);
        }
        io::Error::new(kind, "the file could not be read")
    }
}

impl std::fmt::Debug for FileErrorSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let failed = self.0.lock().map(|s| s.is_some()).unwrap_or(true);
        f.debug_struct("FileErrorSlot")
            .field("failed", &failed)
            .finish()
    }
}

fn shrunk() -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        "the file is shorter than when the upload started (it changed during the upload)",
    )
}

impl RequestBody {
    /// The body of `req`, reading any file bytes it names from the file at `path`. Fails
    /// before anything is sent when the file cannot be opened or no longer holds the range.
    pub async fn for_request(req: &Request, path: &Path) -> io::Result<RequestBody> {
        let left = req.content_length().unwrap_or(0);
        let kind = match req.body() {
            Body::Empty => Kind::Done,
            Body::Json(json) => Kind::Bytes(Bytes::from(json.clone())),
            Body::FileRange(range) => Kind::Range(open_range(path, *range).await?),
            Body::JsonWithBase64File {
                prefix,
                range,
                suffix,
            } => {
                let file = match range {
                    Some(range) => Some(open_range(path, *range).await?),
                    None => None,
                };
                Kind::Base64 {
                    prefix: Some(Bytes::from(prefix.clone())),
                    file,
                    encoder: Some(Base64Encoder::new()),
                    suffix: Some(Bytes::from(suffix.clone())),
                }
            }
        };
        Ok(RequestBody {
            kind,
            frame: DEFAULT_FRAME_SIZE,
            left,
            failed: FileErrorSlot::default(),
        })
    }

    /// Reads the file `bytes` at a time (clamped to 4 KiB – 4 MiB; for the single POST, the
    /// base64 of a frame's worth of file is about `bytes`). Larger frames mean fewer reads
    /// and writes; every upload streaming at once holds about one frame.
    pub fn with_frame_size(mut self, bytes: usize) -> RequestBody {
        self.frame = bytes.clamp(FRAME_LIMITS.0, FRAME_LIMITS.1);
        self
    }

    /// The slot where a file error met while streaming is kept; it outlives the body, which
    /// the HTTP connection owns and drops.
    pub fn file_error(&self) -> FileErrorSlot {
        self.failed.clone()
    }

    fn fail(&mut self, e: io::Error) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        self.kind = Kind::Failed;
        Poll::Ready(Some(Err(self.failed.record(e))))
    }

    fn yield_bytes(&mut self, bytes: Bytes) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        let n = bytes.len() as u64;
        if n > self.left {
            // More than the Content-Length promised: a bug, stopped rather than sent.
            return self.fail(io::Error::other(
                "the body is longer than its Content-Length",
            ));
        }
        self.left -= n;
        Poll::Ready(Some(Ok(Frame::data(bytes))))
    }
}

/// Opens the file afresh, checks it still holds `range`, and seeks to the range's start.
async fn open_range(path: &Path, range: ByteRange) -> io::Result<FileReader> {
    let mut file = File::open(path).await?;
    let len = file.metadata().await?.len();
    if len < range.end() {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            format!(
                "the file is {len} bytes long, shorter than the {} bytes being uploaded (it changed during the upload)",
                range.end()
            ),
        ));
    }
    file.seek(io::SeekFrom::Start(range.start())).await?;
    Ok(FileReader {
        file: Some(file.into_std().await),
        left: range.len(),
        reading: None,
    })
}

impl http_body::Body for RequestBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        let this = self.get_mut();
        loop {
            match &mut this.kind {
                Kind::Done => {
                    if this.left > 0 {
                        return this.fail(shrunk());
                    }
                    return Poll::Ready(None);
                }
                Kind::Failed => {
                    return Poll::Ready(Some(Err(io::Error::other("the file could not be read"))))
                }
                Kind::Bytes(bytes) => {
                    let bytes = std::mem::take(bytes);
                    this.kind = Kind::Done;
                    return this.yield_bytes(bytes);
                }
                Kind::Range(reader) => {
                    if reader.left == 0 {
                        this.kind = Kind::Done;
                        continue;
                    }
                    return match ready!(reader.poll_piece(cx, this.frame)) {
                        Ok(piece) => this.yield_bytes(Bytes::from(piece)),
                        Err(e) => this.fail(e),
                    };
                }
                Kind::Base64 {
                    prefix,
                    file,
                    encoder,
                    suffix,
                } => {
                    if let Some(p) = prefix.take().filter(|p| !p.is_empty()) {
                        return this.yield_bytes(p);
                    }
                    if let Some(reader) = file.as_mut().filter(|r| r.left > 0) {
                        // A multiple of 3: each frame's encoding carries nothing over.
                        let piece = this.frame / 4 * 3;
                        let piece = match ready!(reader.poll_piece(cx, piece)) {
                            Ok(piece) => piece,
                            Err(e) => return this.fail(e),
                        };
                        let mut out = Vec::with_capacity(piece.len() / 3 * 4 + 4);
                        if let Some(enc) = encoder.as_mut() {
                            enc.push(&piece, &mut out);
                        }
                        if out.is_empty() {
                            continue;
                        }
                        return this.yield_bytes(Bytes::from(out));
                    }
                    if let Some(enc) = encoder.take() {
                        let mut out = Vec::new();
                        enc.finish(&mut out);
                        if !out.is_empty() {
                            return this.yield_bytes(Bytes::from(out));
                        }
                    }
                    match suffix.take().filter(|s| !s.is_empty()) {
                        Some(s) => return this.yield_bytes(s),
                        None => this.kind = Kind::Done,
                    }
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.left == 0 && matches!(self.kind, Kind::Done)
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.left)
    }
}

impl std::fmt::Debug for RequestBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match &self.kind {
            Kind::Done => "done",
            Kind::Bytes(_) => "json",
            Kind::Range(_) => "file range",
            Kind::Base64 { .. } => "json with base64 file",
            Kind::Failed => "failed",
        };
        f.debug_struct("RequestBody")
            .field("kind", &kind)
            .field("left", &self.left)
            .finish()
    }
}
