//! What the async driver's tests share: files, an emulator with faults, a runtime, a TLS front
//! with a generated certificate, and a recording proxy.

#![allow(dead_code)]

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use graph_emulator::{Config, Emulator, Faults};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use upload_session::{FileInfo, Options, Owner, RetryPolicy, Target, Upload};
use upload_session_async::{Client, ProxyConfig};

pub const TOKEN: &str = "tok-SECRET-async-never-leak";

pub fn temp_dir(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("async-driver-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `size` bytes of a seeded sequence, written to `dir/name`.
pub fn make_file(dir: &Path, name: &str, size: u64, seed: u64) -> PathBuf {
    let bytes: Vec<u8> = (0..size)
        .map(|i| (i.wrapping_mul(seed | 1) >> 3) as u8)
        .collect();
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

/// An emulator with the faults of these text rules (`drop@2/put`, ...).
pub fn emulator(specs: &[&str]) -> Emulator {
    Emulator::start(Config {
        token: TOKEN.to_owned(),
        faults: Faults::parse(specs).unwrap(),
        ..Config::default()
    })
    .unwrap()
}

/// Runs `f` on a runtime of its own, so that the emulator (which stops its own runtime when
/// dropped) is created and dropped outside any async context.
pub fn block_on<F: Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

/// Options for a session upload in `chunk`-byte chunks, whatever the file's size, retrying
/// quickly.
pub fn options(chunk: u64) -> Options {
    Options::default()
        .with_chunk_size(chunk)
        .with_force_session(true)
        .with_retry(RetryPolicy {
            initial: Duration::from_millis(20),
            ..RetryPolicy::default()
        })
}

/// Options for a file small enough for the single POST.
pub fn post_options() -> Options {
    options(3_932_160).with_force_session(false)
}

/// An upload of `size` bytes named `name` to the emulator's task, through `base` (the
/// emulator's own base URL, or a front's).
pub fn new_upload_at(
    base: &str,
    emu: &Emulator,
    size: u64,
    name: &str,
    options: Options,
) -> Upload {
    let target = Target::todo_task(base, Owner::Me, emu.list_id(), emu.task_id()).unwrap();
    Upload::new(target, FileInfo::new(name, size), options).unwrap()
}

pub fn new_upload(emu: &Emulator, size: u64, name: &str, chunk: u64) -> Upload {
    new_upload_at(&emu.base_url(), emu, size, name, options(chunk))
}

/// A client for the emulator: no system roots, no proxy, short timeouts.
pub fn plain_client() -> Client {
    Client::builder()
        .native_roots(false)
        .proxy(ProxyConfig::none())
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

/// The task holds exactly one attachment, and it is the file, byte for byte.
pub fn assert_stored(emu: &Emulator, file: &Path) {
    let stored = emu.task_attachments();
    assert_eq!(stored.len(), 1, "exactly one attachment");
    assert!(
        stored[0].bytes == std::fs::read(file).unwrap(),
        "stored bytes differ"
    );
}

pub fn faulted(emu: &Emulator, name: &str) -> usize {
    emu.requests()
        .iter()
        .filter(|r| r.fault == Some(name))
        .count()
}

/// A self-signed certificate for `localhost` and 127.0.0.1: (certificate, its PEM, the key).
pub fn certificate() -> (CertificateDer<'static>, String, PrivateKeyDer<'static>) {
    let ck =
        rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(ck.signing_key.serialize_der()));
    (ck.cert.der().clone(), ck.cert.pem(), key)
}

/// What a TLS front saw.
#[derive(Default, Debug)]
pub struct FrontLog {
    pub accepted: usize,
    pub handshakes_failed: usize,
}

/// A TLS server on 127.0.0.1 with `cert`, relaying the bytes of each connection to
/// `upstream` (the emulator's plain port). Runs on the caller's runtime.
pub async fn tls_front(
    upstream: SocketAddr,
    cert: CertificateDer<'static>,
    key: PrivateKeyDer<'static>,
) -> (SocketAddr, Arc<Mutex<FrontLog>>) {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let log = Arc::new(Mutex::new(FrontLog::default()));
    let front_log = log.clone();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            front_log.lock().unwrap().accepted += 1;
            let acceptor = acceptor.clone();
            let log = front_log.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    log.lock().unwrap().handshakes_failed += 1;
                    return;
                };
                if let Ok(mut up) = TcpStream::connect(upstream).await {
                    let _ = tokio::io::copy_bidirectional(&mut tls, &mut up).await;
                }
            });
        }
    });
    (addr, log)
}

/// What a proxy saw: each request's first line, and its `Proxy-Authorization` if any.
#[derive(Default, Debug, Clone)]
pub struct ProxyLog {
    pub lines: Vec<String>,
    pub authorizations: Vec<String>,
}

/// An HTTP proxy on 127.0.0.1: `CONNECT host:port` opens a tunnel; a request in absolute
/// form (`PUT http://host:port/path HTTP/1.1`) is sent on to its host in origin form. One
/// request per connection, which is what the driver sends.
pub async fn proxy() -> (SocketAddr, Arc<Mutex<ProxyLog>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let log = Arc::new(Mutex::new(ProxyLog::default()));
    let proxy_log = log.clone();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            tokio::spawn(relay(client, proxy_log.clone()));
        }
    });
    (addr, log)
}

async fn relay(mut client: TcpStream, log: Arc<Mutex<ProxyLog>>) {
    let mut buf = Vec::new();
    let mut piece = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        match client.read(&mut piece).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&piece[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let rest = buf[head_end..].to_vec();
    let mut lines = head.split("\r\n");
    let first = lines.next().unwrap_or("").to_owned();
    let mut others = Vec::new();
    {
        let mut log = log.lock().unwrap();
        log.lines.push(first.clone());
        for line in lines.filter(|l| !l.is_empty()) {
            match line.split_once(':') {
                Some((n, v)) if n.eq_ignore_ascii_case("proxy-authorization") => {
                    log.authorizations.push(v.trim().to_owned())
                }
                _ => others.push(line.to_owned()),
            }
        }
    }
    let mut parts = first.split(' ');
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    if method == "CONNECT" {
        let Ok(mut up) = TcpStream::connect(target).await else {
            let _ = client.write_all(b"HTTP/1.1 502 Bad Gateway\r\n\r\n").await;
            return;
        };
        let _ = client
            .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
            .await;
        let _ = up.write_all(&rest).await;
        let _ = tokio::io::copy_bidirectional(&mut client, &mut up).await;
        return;
    }
    let Some(after) = target.strip_prefix("http://") else {
        let _ = client.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n").await;
        return;
    };
    let (authority, path) = match after.find('/') {
        Some(i) => (&after[..i], &after[i..]),
        None => (after, "/"),
    };
    let Ok(mut up) = TcpStream::connect(authority).await else {
        let _ = client.write_all(b"HTTP/1.1 502 Bad Gateway\r\n\r\n").await;
        return;
    };
    let mut out = format!("{method} {path} HTTP/1.1\r\n");
    for line in others {
        out.push_str(&line);
        out.push_str("\r\n");
    }
    out.push_str("\r\n");
    let _ = up.write_all(out.as_bytes()).await;
    let _ = up.write_all(&rest).await;
    let _ = tokio::io::copy_bidirectional(&mut client, &mut up).await;
}
