//! A tiny HTTP/1.1 client over `std::net::TcpStream`, enough to drive the
//! emulator byte by byte: one request per connection, `Connection: close`.

#![allow(dead_code)]

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use graph_emulator::Emulator;
use serde_json::Value;

/// An answer.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", String::from_utf8_lossy(&self.body)))
    }

    /// The Graph error code, asserting the error shape.
    pub fn error_code(&self) -> String {
        let v = self.json();
        assert!(
            self.header("content-type")
                .unwrap_or("")
                .starts_with("application/json"),
            "{self:?}"
        );
        let inner = &v["error"]["innerError"];
        assert!(
            inner["request-id"].as_str().is_some_and(|s| s.len() == 36),
            "{v}"
        );
        assert!(inner["client-request-id"].is_string(), "{v}");
        assert!(inner["date"].is_string(), "{v}");
        assert!(v["error"]["message"].is_string(), "{v}");
        v["error"]["code"].as_str().unwrap_or_default().to_string()
    }

    /// A key of a JSON object, matched case-insensitively.
    pub fn key(&self, key: &str) -> Value {
        let v = self.json();
        v.as_object()
            .and_then(|o| o.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)))
            .map(|(_, v)| v.clone())
            .unwrap_or(Value::Null)
    }

    pub fn ranges(&self) -> Vec<String> {
        match self.key("nextExpectedRanges") {
            Value::Array(a) => a
                .iter()
                .map(|r| r.as_str().unwrap_or("?").to_string())
                .collect(),
            other => panic!("no nextExpectedRanges: {other}"),
        }
    }
}

/// Splits `http://host:port/path?q` into (`host:port`, `/path?q`).
pub fn split_url(url: &str) -> (String, String) {
    let rest = url.strip_prefix("http://").expect("http URL");
    match rest.find('/') {
        Some(i) => (rest[..i].to_string(), rest[i..].to_string()),
        None => (rest.to_string(), "/".to_string()),
    }
}

/// Sends raw header lines and body; no header is added but `Host` and
/// `Connection: close`. `Err` when the connection closed without an answer.
pub fn send_raw(
    url: &str,
    method: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> io::Result<Resp> {
    let (host, target) = split_url(url);
    let mut stream = TcpStream::connect(&host)?;
    stream.set_read_timeout(Some(Duration::from_secs(20)))?;
    let mut head = format!("{method} {target} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    stream.write_all(body)?;
    stream.flush()?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    parse(&raw)
}

fn parse(raw: &[u8]) -> io::Result<Resp> {
    let eof = || io::Error::new(io::ErrorKind::UnexpectedEof, "closed without an answer");
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(eof)?;
    let head = String::from_utf8_lossy(&raw[..end]).into_owned();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().ok_or_else(eof)?;
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(eof)?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let mut body = raw[end + 4..].to_vec();
    if let Some(len) = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse::<usize>().ok())
    {
        assert!(body.len() >= len, "short body");
        body.truncate(len);
    }
    Ok(Resp {
        status,
        headers,
        body,
    })
}

/// Sends with `Content-Length` set from the body.
pub fn send(url: &str, method: &str, headers: &[(&str, &str)], body: &[u8]) -> io::Result<Resp> {
    let len = body.len().to_string();
    let mut all: Vec<(&str, &str)> = headers.to_vec();
    all.push(("Content-Length", &len));
    send_raw(url, method, &all, body)
}

/// `{uploadUrl}/content`, `/content` on the path before any query (docs/protocol.md §3).
pub fn content_url(upload_url: &str) -> String {
    match upload_url.split_once('?') {
        Some((path, q)) => format!("{path}/content?{q}"),
        None => format!("{upload_url}/content"),
    }
}

pub fn enc(segment: &str) -> String {
    segment
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Drives one emulator as a client would.
pub struct Client<'a> {
    pub emu: &'a Emulator,
    pub auth: String,
}

impl<'a> Client<'a> {
    pub fn new(emu: &'a Emulator) -> Self {
        Client {
            emu,
            auth: format!("Bearer {}", emu.token()),
        }
    }

    pub fn task_url(&self) -> String {
        format!(
            "{}/me/todo/lists/{}/tasks/{}",
            self.emu.base_url(),
            enc(self.emu.list_id()),
            enc(self.emu.task_id())
        )
    }

    pub fn create(&self, name: &str, size: u64) -> Resp {
        let body = serde_json::json!({"attachmentInfo": {"attachmentType": "file", "name": name, "size": size}});
        self.post_json(
            &format!("{}/attachments/createUploadSession", self.task_url()),
            &body.to_string(),
        )
        .expect("create answered")
    }

    pub fn post_json(&self, url: &str, body: &str) -> io::Result<Resp> {
        send(
            url,
            "POST",
            &[
                ("Authorization", &self.auth),
                ("Content-Type", "application/json"),
            ],
            body.as_bytes(),
        )
    }

    /// Creates a session and returns its uploadUrl.
    pub fn session(&self, name: &str, size: u64) -> String {
        let r = self.create(name, size);
        assert!(r.status == 200 || r.status == 201, "{r:?}");
        r.key("uploadUrl").as_str().expect("uploadUrl").to_string()
    }

    /// PUTs `data[start..start+len]` of a file of `data.len()` bytes. The
    /// token goes only to the Graph origin.
    pub fn put(&self, upload_url: &str, data: &[u8], start: usize, len: usize) -> io::Result<Resp> {
        let range = format!("bytes {}-{}/{}", start, start + len - 1, data.len());
        let mut headers = vec![
            ("Content-Type", "application/octet-stream"),
            ("Content-Range", range.as_str()),
        ];
        if upload_url.starts_with(&self.emu.graph_origin()) {
            headers.push(("Authorization", &self.auth));
        }
        send(
            &content_url(upload_url),
            "PUT",
            &headers,
            &data[start..start + len],
        )
    }

    pub fn get(&self, url: &str) -> io::Result<Resp> {
        let headers: Vec<(&str, &str)> = if url.starts_with(&self.emu.graph_origin()) {
            vec![("Authorization", &self.auth)]
        } else {
            vec![]
        };
        send(url, "GET", &headers, b"")
    }

    pub fn delete(&self, url: &str) -> io::Result<Resp> {
        let headers: Vec<(&str, &str)> = if url.starts_with(&self.emu.graph_origin()) {
            vec![("Authorization", &self.auth)]
        } else {
            vec![]
        };
        send(url, "DELETE", &headers, b"")
    }
}

/// A file of `n` bytes with a pattern that catches misplaced ranges.
pub fn file(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 31 + i / 251) as u8).collect()
}
