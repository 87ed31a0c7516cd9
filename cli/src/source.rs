//! The file being uploaded: what the core needs to know of it ([`FileInfo`]), and bounded reads
//! of the byte ranges the core names. Nothing here reads the whole file: a PUT streams its
//! range through [`Read::take`] on a seeked handle, and the single POST streams its base64
//! through [`Base64JsonReader`].

use std::fs::{File, Metadata};
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use upload_session::{Base64Encoder, ByteRange, FileInfo};

/// Bytes read from the file per step when encoding base64 or comparing contents.
const PIECE: usize = 48 * 1024;

/// An open file to upload.
#[derive(Debug)]
pub struct SourceFile {
    path: PathBuf,
    file: File,
    size: u64,
    fingerprint: String,
}

impl SourceFile {
    /// Opens `path` and reads its size and modification time.
    pub fn open(path: &Path) -> io::Result<SourceFile> {
        let file = File::open(path)?;
        let meta = file.metadata()?;
        if !meta.is_file() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "not a regular file",
            ));
        }
        Ok(SourceFile {
            path: path.to_owned(),
            size: meta.len(),
            fingerprint: fingerprint(&meta),
            file,
        })
    }

    /// The file's size in bytes, as it was when opened.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// `size:mtime-in-nanoseconds`: saved state for another version of the file is refused.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// The attachment's name: the file name without its directory.
    pub fn name(&self) -> String {
        self.path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    }

    /// Whether the file is still the one opened: same size and modification time
    /// (docs/protocol.md §11: bytes sent must be the file's). `Err` says what changed.
    pub fn check_unchanged(&self) -> Result<(), String> {
        let meta = std::fs::metadata(&self.path)
            .map_err(|e| format!("{} can no longer be read: {e}", self.path.display()))?;
        if meta.len() != self.size {
            return Err(format!(
                "{} changed during the upload: {} bytes, was {}",
                self.path.display(),
                meta.len(),
                self.size
            ));
        }
        if fingerprint(&meta) != self.fingerprint {
            return Err(format!(
                "{} changed during the upload (modified since it was opened)",
                self.path.display()
            ));
        }
        Ok(())
    }

    /// What the core needs to know of the file.
    pub fn info(&self) -> FileInfo {
        FileInfo::new(self.name(), self.size)
            .with_content_type(content_type_for(&self.path))
            .with_fingerprint(self.fingerprint.clone())
    }

    /// A reader of exactly the bytes of `range`: a seek and a bounded read, never the file.
    pub fn range_reader(&mut self, range: ByteRange) -> io::Result<RangeReader<'_>> {
        self.file.seek(SeekFrom::Start(range.start()))?;
        Ok(RangeReader {
            inner: (&mut self.file).take(range.len()),
            failed: None,
        })
    }

    /// A reader of the single POST's JSON: `prefix`, the base64 of `range`, `suffix`.
    pub fn base64_json_reader<'a>(
        &'a mut self,
        prefix: &'a str,
        range: Option<ByteRange>,
        suffix: &'a str,
    ) -> io::Result<Base64JsonReader<'a>> {
        let start = range.map_or(0, |r| r.start());
        let len = range.map_or(0, |r| r.len());
        self.file.seek(SeekFrom::Start(start))?;
        Ok(Base64JsonReader {
            prefix: prefix.as_bytes(),
            file: (&mut self.file).take(len),
            encoder: Some(Base64Encoder::new()),
            piece: vec![0; PIECE],
            out: Vec::with_capacity(PIECE / 3 * 4 + 4),
            out_pos: 0,
            suffix: suffix.as_bytes(),
            failed: None,
        })
    }

    /// Whether `bytes` are exactly the file's contents, compared piece by piece.
    pub fn same_bytes(&mut self, bytes: &[u8]) -> io::Result<bool> {
        if bytes.len() as u64 != self.size {
            return Ok(false);
        }
        self.file.seek(SeekFrom::Start(0))?;
        let mut piece = vec![0u8; PIECE];
        let mut at = 0usize;
        loop {
            let n = self.file.read(&mut piece)?;
            if n == 0 {
                return Ok(at == bytes.len());
            }
            if bytes.get(at..at + n) != Some(&piece[..n]) {
                return Ok(false);
            }
            at += n;
        }
    }
}

/// The bytes of one range of the file, read from a seeked handle.
#[derive(Debug)]
pub struct RangeReader<'a> {
    inner: io::Take<&'a mut File>,
    failed: Option<String>,
}

impl RangeReader<'_> {
    /// Why reading the file failed, if it did: the HTTP client sees only a broken body.
    pub fn file_error(&self) -> Option<&str> {
        self.failed.as_deref()
    }
}

impl Read for RangeReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let want = self.inner.limit();
        let n = self
            .inner
            .read(buf)
            .map_err(|e| note(&mut self.failed, e))?;
        if n == 0 && want > 0 && !buf.is_empty() {
            // The file shrank since it was opened: never send fewer bytes than promised.
            return Err(note(&mut self.failed, shrunk()));
        }
        Ok(n)
    }
}

fn shrunk() -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        "the file is shorter than when the upload started",
    )
}

/// Records a file error for [`RangeReader::file_error`] and passes it on.
fn note(failed: &mut Option<String>, e: io::Error) -> io::Error {
    failed.get_or_insert_with(|| e.to_string());
    e
}

/// Streams `prefix`, then the base64 of a range of the file, then `suffix`: the single POST's
/// body (docs/protocol.md §7), encoded piece by piece with [`Base64Encoder`].
#[derive(Debug)]
pub struct Base64JsonReader<'a> {
    prefix: &'a [u8],
    file: io::Take<&'a mut File>,
    encoder: Option<Base64Encoder>,
    piece: Vec<u8>,
    out: Vec<u8>,
    out_pos: usize,
    suffix: &'a [u8],
    failed: Option<String>,
}

impl Base64JsonReader<'_> {
    /// Why reading the file failed, if it did.
    pub fn file_error(&self) -> Option<&str> {
        self.failed.as_deref()
    }

    /// Refills `out` with the next piece of base64; false once the base64 is all out.
    fn refill(&mut self) -> io::Result<bool> {
        let Some(encoder) = self.encoder.as_mut() else {
            return Ok(false);
        };
        self.out.clear();
        self.out_pos = 0;
        let want = self.file.limit();
        let n = self
            .file
            .read(&mut self.piece)
            .map_err(|e| note(&mut self.failed, e))?;
        if n > 0 {
            encoder.push(&self.piece[..n], &mut self.out);
            return Ok(true);
        }
        if want > 0 {
            return Err(note(&mut self.failed, shrunk()));
        }
        if let Some(encoder) = self.encoder.take() {
            encoder.finish(&mut self.out);
        }
        Ok(true)
    }
}

impl Read for Base64JsonReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if !self.prefix.is_empty() {
            let n = self.prefix.len().min(buf.len());
            buf[..n].copy_from_slice(&self.prefix[..n]);
            self.prefix = &self.prefix[n..];
            return Ok(n);
        }
        while self.out_pos == self.out.len() {
            if !self.refill()? {
                let n = self.suffix.len().min(buf.len());
                buf[..n].copy_from_slice(&self.suffix[..n]);
                self.suffix = &self.suffix[n..];
                return Ok(n);
            }
        }
        let n = (self.out.len() - self.out_pos).min(buf.len());
        buf[..n].copy_from_slice(&self.out[self.out_pos..self.out_pos + n]);
        self.out_pos += n;
        Ok(n)
    }
}

/// `size:mtime` with the modification time in nanoseconds since the epoch (0 if unknown).
pub fn fingerprint(meta: &Metadata) -> String {
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    format!("{}:{}", meta.len(), mtime)
}

/// The content type for a file name's extension; `application/octet-stream` when unknown.
pub fn content_type_for(path: &Path) -> &'static str {
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "txt" | "log" | "md" => "text/plain",
        "csv" => "text/csv",
        "html" | "htm" => "text/html",
        "json" => "application/json",
        "xml" => "application/xml",
        "pdf" => "application/pdf",
        "zip" => "application/zip",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "svg" => "image/svg+xml",
        "mp3" => "audio/mpeg",
        "mp4" => "video/mp4",
        "docx" => "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "xlsx" => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "pptx" => "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn temp(name: &str, bytes: &[u8]) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("todo-upload-src-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join(name);
        std::fs::File::create(&p).unwrap().write_all(bytes).unwrap();
        p
    }

    #[test]
    fn ranges_and_base64_stream_exactly() {
        let data: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let p = temp("r.bin", &data);
        let mut f = SourceFile::open(&p).unwrap();
        let mut got = Vec::new();
        f.range_reader(ByteRange::new(10, 70_010).unwrap())
            .unwrap()
            .read_to_end(&mut got)
            .unwrap();
        assert_eq!(got, &data[10..70_010]);

        let mut json = Vec::new();
        f.base64_json_reader("{\"b\":\"", ByteRange::new(0, data.len() as u64), "\"}")
            .unwrap()
            .read_to_end(&mut json)
            .unwrap();
        let mut expect = b"{\"b\":\"".to_vec();
        let mut e = Base64Encoder::new();
        e.push(&data, &mut expect);
        e.finish(&mut expect);
        expect.extend_from_slice(b"\"}");
        assert_eq!(json, expect);
        assert_eq!(
            json.len() as u64,
            6 + upload_session::base64_len(data.len() as u64) + 2
        );
        assert!(f.same_bytes(&data).unwrap());
        assert!(!f.same_bytes(&data[1..]).unwrap());

        let mut empty = Vec::new();
        f.base64_json_reader("[", None, "]")
            .unwrap()
            .read_to_end(&mut empty)
            .unwrap();
        assert_eq!(empty, b"[]");
    }

    #[test]
    fn content_types() {
        assert_eq!(content_type_for(Path::new("a/B.PNG")), "image/png");
        assert_eq!(content_type_for(Path::new("x")), "application/octet-stream");
        assert_eq!(
            content_type_for(Path::new("x.bin")),
            "application/octet-stream"
        );
    }
}
