//! Many uploads at once through the async driver (`upload_session_async`: tokio, hyper,
//! rustls) against a `graph-emulator` in another process: 1,000 uploads of 1 MiB by default,
//! each in its own task, all started together, so that this process's memory is the driver's
//! alone.
//!
//! ```text
//! cargo build --release -p graph-emulator
//! cargo bench -p upload-session-async --bench concurrent -- [--uploads N] [--size BYTES]
//!     [--chunk BYTES] [--files K] [--frame BYTES] [--emulator PATH]
//! ```
//!
//! The emulator binary is `--emulator PATH`, else `$GRAPH_EMULATOR`, else
//! `target/release/graph-emulator` of this workspace (or of `$CARGO_TARGET_DIR`); it is run
//! with `--port 0 --max-size unlimited` and killed at the end. Every attachment is read back
//! through the emulator (`GET …/attachments/{id}/$value`) and compared byte for byte with its
//! file. Prints the wall time of the uploads, the aggregate throughput, and this process's
//! peak resident memory (`VmHWM` in `/proc/self/status`) when the uploads have ended and again
//! after the read-back.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use upload_session::{FileInfo, Options, Owner, RetryPolicy, Target, Upload};
use upload_session_async::{Client, ProxyConfig, Uploader};

/// The emulator process, killed when dropped.
struct EmulatorProcess {
    child: Child,
    base_url: String,
    token: String,
    list_id: String,
    task_id: String,
}

impl Drop for EmulatorProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn emulator_binary(flag: Option<PathBuf>) -> PathBuf {
    if let Some(p) = flag.or_else(|| std::env::var_os("GRAPH_EMULATOR").map(PathBuf::from)) {
        return p;
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    target.join("release/graph-emulator")
}

fn start_emulator(binary: &Path) -> EmulatorProcess {
    let mut child = Command::new(binary)
        .args(["--port", "0", "--max-size", "unlimited"])
        .stdout(Stdio::piped())
        .stdin(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run {} ({e}); build it first: cargo build --release -p graph-emulator",
                binary.display()
            )
        });
    let mut line = String::new();
    let stdout = child.stdout.take().expect("the emulator's stdout");
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("the emulator's first line");
    let v: serde_json::Value = serde_json::from_str(&line).expect("the emulator's JSON line");
    let field = |name: &str| v[name].as_str().expect(name).to_owned();
    EmulatorProcess {
        base_url: field("base_url"),
        token: field("token"),
        list_id: field("list_id"),
        task_id: field("task_id"),
        child,
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mut uploads = 1_000usize;
    let mut size: u64 = 1024 * 1024;
    let mut chunk: u64 = 12 * 320 * 1024;
    let mut files = 8usize;
    let mut frame = upload_session_async::DEFAULT_FRAME_SIZE;
    let mut binary = None;
    while let Some(a) = args.next() {
        let mut num = |flag: &str| -> u64 {
            args.next()
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("{flag} needs a number"))
        };
        match a.as_str() {
            "--uploads" => uploads = num("--uploads") as usize,
            "--size" => size = num("--size"),
            "--chunk" => chunk = num("--chunk"),
            "--files" => files = num("--files").max(1) as usize,
            "--frame" => frame = num("--frame") as usize,
            "--emulator" => binary = args.next().map(PathBuf::from),
            "--bench" => {}
            other => eprintln!("concurrent: ignoring argument {other:?}"),
        }
    }

    let emu = start_emulator(&emulator_binary(binary));
    let dir = std::env::temp_dir().join(format!("async-conc-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    // A few distinct files, so that an upload that took another's bytes is caught.
    let contents: Vec<(PathBuf, Vec<u8>)> = (0..files)
        .map(|k| {
            let mut x = 0x2545_F491_4F6C_DD1D_u64 ^ (k as u64 + 1);
            let data: Vec<u8> = (0..size)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x as u8
                })
                .collect();
            let path = dir.join(format!("f{k}.bin"));
            std::fs::write(&path, &data).expect("write a file");
            (path, data)
        })
        .collect();
    let hwm_before = vm_hwm_kib();

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let client = Client::builder()
        .proxy(ProxyConfig::none())
        .timeout(Duration::from_secs(120))
        .build()
        .expect("client");
    let token: Arc<str> = emu.token.as_str().into();
    let started = Instant::now();
    let results = runtime.block_on(async {
        let handles: Vec<_> = (0..uploads)
            .map(|i| {
                let target =
                    Target::todo_task(&emu.base_url, Owner::Me, &emu.list_id, &emu.task_id)
                        .expect("target");
                let options = Options::default()
                    .with_chunk_size(chunk)
                    .with_force_session(true)
                    .with_size_limit(Some(u64::MAX))
                    .with_retry(RetryPolicy {
                        initial: Duration::from_millis(50),
                        ..RetryPolicy::default()
                    });
                let path = contents[i % files].0.clone();
                let mut upload =
                    Upload::new(target, FileInfo::new(format!("u{i}.bin"), size), options)
                        .expect("upload");
                let mut uploader = Uploader::new(client.clone(), &*token).with_frame_size(frame);
                tokio::spawn(async move { uploader.run(&mut upload, &path).await })
            })
            .collect();
        let mut results = Vec::with_capacity(handles.len());
        for h in handles {
            results.push(h.await.expect("task"));
        }
        results
    });
    let elapsed = started.elapsed();
    let hwm_uploads = vm_hwm_kib();

    let mut failed = 0;
    let mut done = Vec::new();
    for (i, r) in results.into_iter().enumerate() {
        match r {
            Ok(c) => done.push((i, c)),
            Err(e) => {
                failed += 1;
                eprintln!("upload {i} failed: {e}");
            }
        }
    }
    // Read each attachment back through the emulator, a few at a time.
    let checked = runtime.block_on(async {
        let mut exact = 0;
        for batch in done.chunks(4) {
            let reads: Vec<_> = batch
                .iter()
                .map(|(i, c)| {
                    let url = match &c.location {
                        Some(l) => format!("{l}/$value"),
                        None => String::new(),
                    };
                    let token = token.clone();
                    let i = *i;
                    tokio::spawn(async move { (i, read_back(&url, &token).await) })
                })
                .collect();
            for r in reads {
                let (i, bytes) = r.await.expect("read task");
                match bytes {
                    Ok(b) if b == contents[i % files].1 => exact += 1,
                    Ok(b) => eprintln!("upload {i}: {} bytes stored, not the file's", b.len()),
                    Err(e) => eprintln!("upload {i}: cannot read it back: {e}"),
                }
            }
        }
        exact
    });
    let hwm_end = vm_hwm_kib();

    let total = uploads as u64 * size;
    println!(
        "{uploads} concurrent uploads of {size} bytes ({chunk}-byte chunks, {frame}-byte frames) through the async driver, emulator in another process: {:.3} s, {:.1} MiB/s in all",
        elapsed.as_secs_f64(),
        total as f64 / (1024.0 * 1024.0) / elapsed.as_secs_f64()
    );
    println!("byte-exact (read back through the emulator): {checked}/{uploads}; failed: {failed}");
    println!(
        "driver process peak RSS (VmHWM): {:.1} MiB after the uploads, {:.1} MiB at the end ({:.1} MiB before, holding the {files} files' bytes for the check)",
        hwm_uploads as f64 / 1024.0,
        hwm_end as f64 / 1024.0,
        hwm_before as f64 / 1024.0
    );
    drop(emu);
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(checked, uploads, "every upload must arrive byte-exact");
}

/// `GET url` with the token, over plain http (the emulator's), the whole body.
async fn read_back(url: &str, token: &str) -> Result<Bytes, String> {
    let uri: hyper::Uri = url.parse().map_err(|e| format!("{url:?}: {e}"))?;
    let authority = uri.authority().ok_or("no host")?.clone();
    let stream = tokio::net::TcpStream::connect(authority.as_str())
        .await
        .map_err(|e| e.to_string())?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| e.to_string())?;
    let conn = tokio::spawn(conn);
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let req = hyper::Request::get(path)
        .header(hyper::header::HOST, authority.as_str())
        .header(hyper::header::AUTHORIZATION, format!("Bearer {token}"))
        .body(Empty::<Bytes>::new())
        .map_err(|e| e.to_string())?;
    let resp = sender.send_request(req).await.map_err(|e| e.to_string())?;
    if !resp.status().is_success() {
        return Err(format!("HTTP {}", resp.status()));
    }
    let body = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    conn.abort();
    Ok(body)
}

/// The process's peak resident set, in KiB, from `/proc/self/status` (0 where there is none).
fn vm_hwm_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}
