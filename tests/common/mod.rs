//! A reference model of the Graph To Do upload-session server, sans-IO like the machine it
//! tests, with a virtual clock and injectable faults; and a driving loop with a step cap that
//! checks the invariants of DESIGN.md section 4 on every request.
#![allow(dead_code)]

use std::collections::HashMap;
use std::time::Duration;

use upload_session::{
    Action, Body, ByteRange, Completion, ContentRange, Error, FileInfo, Method, Options, Owner,
    Request, Response, Target, Timestamp, TransportError, Upload,
};

pub const BASE: &str = "https://graph.example.com/v1.0";
pub const FOREIGN: &str = "https://upload.foreign.example";
pub const LIST: &str = "AAMDiF/kfh=";
pub const TASK: &str = "AAMkAD+liMm=";
pub const START: u64 = 1_700_000_000_000;

pub fn target() -> Target {
    Target::todo_task(BASE, Owner::Me, LIST, TASK).unwrap()
}

pub fn collection() -> String {
    target().collection_url().unwrap().to_owned()
}

/// What the model does with one request.
#[derive(Clone, Debug, PartialEq)]
pub enum Fault {
    None,
    /// No answer; `keep`: the request took effect first.
    Drop {
        keep: bool,
    },
    /// 503, the request taking effect or not, with an optional Retry-After.
    Unavailable {
        keep: bool,
        retry_after: Option<String>,
    },
    /// 429 with an optional Retry-After.
    Throttle(Option<String>),
    /// 500.
    Internal,
    /// 416 on a PUT, nothing kept.
    RangeRefused,
    /// Keep the chunk, then forget the first half of what was held before it.
    LoseRange,
    /// The session disappears before this request.
    Expire,
    /// 401: the token expired.
    Unauthorized,
}

/// A half-open interval set.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Held(Vec<(u64, u64)>);

impl Held {
    pub fn add(&mut self, s: u64, e: u64) {
        self.0.push((s, e));
        self.0.sort();
        let mut out: Vec<(u64, u64)> = Vec::new();
        for (s, e) in self.0.drain(..) {
            match out.last_mut() {
                Some(last) if s <= last.1 => last.1 = last.1.max(e),
                _ => out.push((s, e)),
            }
        }
        self.0 = out;
    }
    pub fn remove(&mut self, s: u64, e: u64) {
        let mut out = Vec::new();
        for &(a, b) in &self.0 {
            if b <= s || a >= e {
                out.push((a, b));
            } else {
                if a < s {
                    out.push((a, s));
                }
                if b > e {
                    out.push((e, b));
                }
            }
        }
        self.0 = out;
    }
    pub fn total(&self) -> u64 {
        self.0.iter().map(|(a, b)| b - a).sum()
    }
    pub fn missing(&self, size: u64) -> Vec<(u64, u64)> {
        let mut out = Vec::new();
        let mut at = 0;
        for &(a, b) in &self.0 {
            if a > at {
                out.push((at, a));
            }
            at = b;
        }
        if at < size {
            out.push((at, size));
        }
        out
    }
}

#[derive(Debug)]
pub struct SessionModel {
    pub upload_url: String,
    pub held: Held,
    pub expires: u64,
    pub gone: bool,
    pub status_refused: bool,
    pub pascal: bool,
    /// The machine received the answer that created it.
    pub delivered: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Stored {
    pub id: String,
    pub name: String,
    pub size: u64,
    /// When it was made, on the server's clock (ms).
    pub created: u64,
    /// Every byte arrived exactly once at its own offset.
    pub exact: bool,
}

/// Per-session behaviour chosen at creation.
#[derive(Clone, Debug, Default)]
pub struct SessionStyle {
    pub created_201: bool,
    pub pascal: bool,
    pub status_refused: bool,
    pub foreign: bool,
    pub query: bool,
    pub lifetime: Option<Duration>,
}

pub enum Answer {
    Http {
        status: u16,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    },
    Transport(TransportError),
}

pub struct Model {
    pub size: u64,
    pub name: String,
    pub sessions: Vec<SessionModel>,
    pub attachments: Vec<Stored>,
    pub violations: Vec<String>,
    pub style: SessionStyle,
    /// Server time (ms) before which no request may come, and why.
    pub not_before: Option<(u64, String)>,
    pub puts: u64,
    /// The server's clock minus the client's, in ms: a client that runs fast has a negative
    /// skew.
    pub skew_ms: i64,
}

impl Model {
    pub fn new(file: &FileInfo) -> Model {
        Model {
            size: file.size(),
            name: file.name().to_owned(),
            sessions: Vec::new(),
            attachments: Vec::new(),
            violations: Vec::new(),
            style: SessionStyle::default(),
            not_before: None,
            puts: 0,
            skew_ms: 0,
        }
    }

    /// The server's clock at client instant `now`.
    pub fn server_ms(&self, now: Timestamp) -> u64 {
        (now.as_unix_millis() as i64 + self.skew_ms) as u64
    }

    /// An attachment of this file's name and size that was there before the upload.
    pub fn with_existing(mut self, id: &str, created_server_ms: u64) -> Self {
        self.attachments.push(Stored {
            id: id.to_owned(),
            name: self.name.clone(),
            size: self.size,
            created: created_server_ms,
            exact: false,
        });
        self
    }

    /// Attachments this upload created (those made before it are not counted).
    pub fn created(&self) -> Vec<&Stored> {
        self.attachments.iter().filter(|a| a.exact).collect()
    }

    fn violation(&mut self, what: String) -> Answer {
        self.violations.push(what.clone());
        error(400, "invalidRequest", &what)
    }

    fn session_index(&self, url: &str) -> Option<usize> {
        self.sessions.iter().position(|s| s.upload_url == url)
    }

    fn session_json(&self, i: usize, with_url: bool) -> Vec<u8> {
        let s = &self.sessions[i];
        let ranges: Vec<String> = s
            .held
            .missing(self.size)
            .iter()
            .map(|&(a, b)| {
                if b == self.size {
                    format!("{a}")
                } else {
                    format!("{a}-{}", b - 1)
                }
            })
            .collect();
        let (u, e, n) = if s.pascal {
            ("UploadUrl", "ExpirationDateTime", "NextExpectedRanges")
        } else {
            ("uploadUrl", "expirationDateTime", "nextExpectedRanges")
        };
        let mut v = serde_json::json!({
            e: format!("{}", Timestamp::from_unix_millis(s.expires)).replace('Z', "0000Z"),
            n: ranges,
        });
        if with_url {
            v[u] = serde_json::Value::String(s.upload_url.clone());
        }
        serde_json::to_vec(&v).unwrap()
    }

    /// Answers one request at client instant `now` under `fault`, checking that it is
    /// well-formed; every HTTP answer carries the server's `Date`.
    pub fn handle(&mut self, req: &Request, now: Timestamp, fault: &Fault) -> Answer {
        let now_ms = self.server_ms(now);
        match self.answer(req, now_ms, fault) {
            Answer::Http {
                status,
                mut headers,
                body,
            } => {
                headers.push(("Date".into(), http_date(now_ms)));
                Answer::Http {
                    status,
                    headers,
                    body,
                }
            }
            t => t,
        }
    }

    fn answer(&mut self, req: &Request, now_ms: u64, fault: &Fault) -> Answer {
        if let Some((t, what)) = &self.not_before {
            if now_ms < *t {
                let msg = format!("{what}: request at {now_ms} before Retry-After allowed {t}");
                self.violations.push(msg);
            }
        }
        self.not_before = None;
        let url = req.url().to_owned();
        let graph = url.starts_with(BASE);
        if req.needs_token() != graph {
            return self.violation(format!("needs_token {} for {url}", req.needs_token()));
        }
        // Well-formed headers, always.
        let headers: HashMap<&str, String> =
            req.headers().map(|(n, v)| (n, v.to_string())).collect();
        if let Some(cl) = req.content_length() {
            if headers.get("Content-Length") != Some(&cl.to_string()) {
                return self.violation("Content-Length header disagrees".into());
            }
        }
        match fault {
            Fault::Unauthorized if graph => {
                return error(401, "InvalidAuthenticationToken", "expired")
            }
            Fault::Throttle(ra) => {
                self.arm_retry_after(ra, now_ms, "429");
                return with_retry_after(error(429, "TooManyRequests", "slow down"), ra);
            }
            Fault::Internal => return error(500, "generalException", "oops"),
            Fault::Unavailable {
                keep: false,
                retry_after,
            } => {
                self.arm_retry_after(retry_after, now_ms, "503");
                return with_retry_after(error(503, "serviceNotAvailable", "busy"), retry_after);
            }
            Fault::Drop { keep: false } => return Answer::Transport(TransportError::Interrupted),
            Fault::Expire => {
                for s in &mut self.sessions {
                    s.gone = true;
                }
            }
            _ => {}
        }
        let answer = self.route(req, now_ms, fault, &headers);
        match fault {
            Fault::Drop { keep: true } => Answer::Transport(TransportError::Interrupted),
            Fault::Unavailable {
                keep: true,
                retry_after,
            } => {
                self.arm_retry_after(retry_after, now_ms, "503");
                with_retry_after(error(503, "serviceNotAvailable", "busy"), retry_after)
            }
            _ => answer,
        }
    }

    fn arm_retry_after(&mut self, ra: &Option<String>, now_ms: u64, what: &str) {
        if let Some(t) = ra.as_deref().and_then(|v| retry_after_until(v, now_ms)) {
            self.not_before = Some((t, what.to_owned()));
        }
    }

    fn route(
        &mut self,
        req: &Request,
        now_ms: u64,
        fault: &Fault,
        headers: &HashMap<&str, String>,
    ) -> Answer {
        let url = req.url().to_owned();
        let coll = collection();
        match req.method() {
            Method::Post if url == format!("{coll}/createUploadSession") => {
                self.create(req, now_ms)
            }
            Method::Post if url == coll => self.single_post(req, now_ms),
            Method::Get if url == coll => self.listing(),
            Method::Put => self.put(req, now_ms, fault, headers),
            Method::Get => match self.live_session(&url, now_ms) {
                Some(i) if self.sessions[i].status_refused => {
                    error(405, "methodNotAllowed", "no status")
                }
                Some(i) => json_answer(200, self.session_json(i, true)),
                None => error(404, "itemNotFound", "no session"),
            },
            Method::Delete => match self.live_session(&url, now_ms) {
                Some(i) => {
                    self.sessions[i].gone = true;
                    Answer::Http {
                        status: 204,
                        headers: vec![],
                        body: vec![],
                    }
                }
                None => error(404, "itemNotFound", "no session"),
            },
            m => self.violation(format!("{m:?} {url} is no endpoint")),
        }
    }

    fn live_session(&self, url: &str, now_ms: u64) -> Option<usize> {
        let i = self.session_index(url)?;
        let s = &self.sessions[i];
        (!s.gone && now_ms < s.expires).then_some(i)
    }

    fn create(&mut self, req: &Request, now_ms: u64) -> Answer {
        let Body::Json(body) = req.body() else {
            return self.violation("create without JSON".into());
        };
        let v: serde_json::Value = serde_json::from_str(body).unwrap();
        let info = &v["attachmentInfo"];
        if info["attachmentType"] != "file"
            || info["name"] != self.name.as_str()
            || info["size"] != self.size
        {
            return self.violation(format!("bad attachmentInfo {body}"));
        }
        if self.size > 25 * 1024 * 1024 {
            return error(400, "invalidRequest", "too large");
        }
        let n = self.sessions.len();
        let style = self.style.clone();
        let mut upload_url = if style.foreign {
            format!("{FOREIGN}/up/{n}=")
        } else {
            format!("{BASE}/users/u/todo/lists/L=/tasks/T=/attachmentSessions/S{n}=")
        };
        if style.query || style.foreign {
            upload_url.push_str("?tempauth=SECRET-");
            upload_url.push_str(&n.to_string());
        }
        let lifetime = style.lifetime.unwrap_or(Duration::from_secs(900));
        self.sessions.push(SessionModel {
            upload_url,
            held: Held::default(),
            expires: now_ms + lifetime.as_millis() as u64,
            gone: false,
            status_refused: style.status_refused,
            pascal: style.pascal,
            delivered: false,
        });
        json_answer(
            if style.created_201 { 201 } else { 200 },
            self.session_json(n, true),
        )
    }

    fn put(
        &mut self,
        req: &Request,
        now_ms: u64,
        fault: &Fault,
        headers: &HashMap<&str, String>,
    ) -> Answer {
        self.puts += 1;
        let url = req.url().to_owned();
        let Some(range) = req.file_range() else {
            return self.violation("PUT without a file range".into());
        };
        // PUT goes to uploadUrl + /content before the query (docs/protocol.md §3).
        let session_url = match url.split_once('?') {
            Some((p, q)) => p.strip_suffix("/content").map(|p| format!("{p}?{q}")),
            None => url.strip_suffix("/content").map(str::to_owned),
        };
        let Some(session_url) = session_url else {
            return self.violation(format!("PUT to {url} lacks /content"));
        };
        let Some(cr) = headers
            .get("Content-Range")
            .and_then(|v| ContentRange::parse(v))
        else {
            return self.violation("PUT without a valid Content-Range".into());
        };
        if cr.range != range || cr.total != self.size {
            return self.violation(format!("Content-Range {cr} disagrees with body {range}"));
        }
        if headers.get("Content-Type").map(String::as_str) != Some("application/octet-stream") {
            return self.violation("PUT Content-Type".into());
        }
        if range.len() >= 4_000_000 || range.end() > self.size {
            return self.violation(format!("PUT range {range} too large or outside"));
        }
        let Some(i) = self.session_index(&session_url) else {
            return self.violation(format!("PUT to unknown session {session_url}"));
        };
        if self.live_session(&session_url, now_ms).is_none() {
            return error(404, "itemNotFound", "session expired");
        }
        let size = self.size;
        let missing = self.sessions[i].held.missing(size);
        let Some(&(first, first_end)) = missing.first() else {
            return error(416, "invalidRange", "nothing missing");
        };
        if matches!(fault, Fault::RangeRefused) {
            return error(416, "invalidRange", "refused");
        }
        // In order: the PUT must start where the server's first gap starts.
        if range.start() != first || range.end() > first_end {
            return error(
                416,
                "invalidRange",
                &format!("expected {first}, got {range}"),
            );
        }
        let s = &mut self.sessions[i];
        s.held.add(range.start(), range.end());
        if s.held.total() == size {
            s.gone = true;
            let id = format!("ATT{}=", self.attachments.len());
            self.attachments.push(Stored {
                id: id.clone(),
                name: self.name.clone(),
                size,
                created: now_ms,
                exact: true,
            });
            let loc = format!("{BASE}/users/u/todo/lists/L=/tasks/T=/Attachments/{id}");
            return Answer::Http {
                status: 201,
                headers: vec![("Location".into(), loc)],
                body: vec![],
            };
        }
        if matches!(fault, Fault::LoseRange) {
            let before = range.start();
            if before > 1 {
                s.held.remove(before / 4, before / 2 + 1);
            }
        }
        json_answer(200, self.session_json(i, false))
    }

    fn single_post(&mut self, req: &Request, now_ms: u64) -> Answer {
        let Body::JsonWithBase64File {
            prefix,
            range,
            suffix,
        } = req.body()
        else {
            return self.violation("single POST body".into());
        };
        if range.map_or(0, ByteRange::len) != self.size
            || !prefix.contains("taskFileAttachment")
            || suffix != "\"}"
        {
            return self.violation("single POST content".into());
        }
        if self.size >= 3 * 1024 * 1024 {
            return error(413, "RequestBodyTooLarge", "too large");
        }
        let id = format!("ATT{}=", self.attachments.len());
        self.attachments.push(Stored {
            id: id.clone(),
            name: self.name.clone(),
            size: self.size,
            created: now_ms,
            exact: true,
        });
        let body = serde_json::json!({"@odata.type": "#microsoft.graph.taskFileAttachment", "id": id, "name": self.name, "size": self.size});
        json_answer(201, serde_json::to_vec(&body).unwrap())
    }

    fn listing(&self) -> Answer {
        let value: Vec<_> = self
            .attachments
            .iter()
            .map(|a| {
                serde_json::json!({"id": a.id, "name": a.name, "size": a.size,
                "contentType": "application/octet-stream",
                "lastModifiedDateTime": rfc3339(a.created)})
            })
            .collect();
        json_answer(
            200,
            serde_json::to_vec(&serde_json::json!({"value": value})).unwrap(),
        )
    }
}

pub fn json_answer(status: u16, body: Vec<u8>) -> Answer {
    Answer::Http {
        status,
        headers: vec![("Content-Type".into(), "application/json".into())],
        body,
    }
}

pub fn error(status: u16, code: &str, message: &str) -> Answer {
    let body = serde_json::json!({"error": {"code": code, "message": message, "innerError": {"request-id": "r-1"}}});
    json_answer(status, serde_json::to_vec(&body).unwrap())
}

fn with_retry_after(a: Answer, ra: &Option<String>) -> Answer {
    match (a, ra) {
        (
            Answer::Http {
                status,
                mut headers,
                body,
            },
            Some(v),
        ) => {
            headers.push(("Retry-After".into(), v.clone()));
            Answer::Http {
                status,
                headers,
                body,
            }
        }
        (a, _) => a,
    }
}

/// How a drive ended.
#[derive(Debug)]
pub enum End {
    Done(Completion),
    Failed(Error),
    Cancelled,
}

/// One line of the log: what was sent, and what came back.
#[derive(Clone, Debug)]
pub struct Exchange {
    pub method: Method,
    pub url: String,
    pub range: Option<ByteRange>,
    pub status: Option<u16>,
    pub at: u64,
}

pub struct Run {
    pub end: End,
    pub log: Vec<Exchange>,
    pub clock: Timestamp,
}

/// Drives `up` against `model` until it ends, with faults chosen per request by `faults`
/// (given the request's index and the request), at most `cap` steps.
pub fn drive(
    up: &mut Upload,
    model: &mut Model,
    mut faults: impl FnMut(usize, &Request) -> Fault,
    cap: usize,
) -> Run {
    let mut now = Timestamp::from_unix_millis(START);
    let mut log = Vec::new();
    for _ in 0..cap {
        match up.poll(now) {
            Action::Send(req) => {
                check_request(up, &req);
                let fault = faults(log.len(), &req);
                let answer = model.handle(&req, now, &fault);
                let mut ex = Exchange {
                    method: req.method(),
                    url: req.url().to_owned(),
                    range: req.file_range(),
                    status: None,
                    at: now.as_unix_millis(),
                };
                match answer {
                    Answer::Http {
                        status,
                        headers,
                        body,
                    } => {
                        ex.status = Some(status);
                        let resp = Response::new(status)
                            .headers(headers.iter().map(|(n, v)| (n.as_str(), v.as_str())))
                            .body(&body);
                        up.handle_response(now, req.id(), resp).unwrap();
                    }
                    Answer::Transport(t) => up.handle_transport_error(now, req.id(), t).unwrap(),
                }
                log.push(ex);
                now = now.saturating_add(Duration::from_millis(10));
            }
            Action::Wait { until, .. } => {
                assert!(until > now, "a wait must lie in the future");
                now = until;
            }
            Action::RefreshToken => up.token_refreshed(now).unwrap(),
            Action::Done(c) => {
                return Run {
                    end: End::Done(c),
                    log,
                    clock: now,
                }
            }
            Action::Failed(e) => {
                return Run {
                    end: End::Failed(e),
                    log,
                    clock: now,
                }
            }
            Action::Cancelled => {
                return Run {
                    end: End::Cancelled,
                    log,
                    clock: now,
                }
            }
            other => panic!("an action this kit does not know: {other:?}"),
        }
    }
    panic!(
        "no end after {cap} steps; last requests: {:?}",
        &log[log.len().saturating_sub(5)..]
    );
}

/// DESIGN.md 4 invariant 2 on every PUT: inside the file, starting where the server expects,
/// non-empty, under the limit, headers agreeing with the range.
pub fn check_request(up: &Upload, req: &Request) {
    if let Some(r) = req.file_range() {
        let size = up.file().size();
        assert!(r.end() <= size, "PUT {r} outside file of {size}");
        assert!(r.len() < 4_000_000, "PUT {r} too long");
        assert!(
            r.len() <= up.chunk_size(),
            "PUT {r} longer than the chunk size"
        );
        let first = up
            .expected_ranges()
            .and_then(|e| e.first())
            .expect("a PUT while nothing is expected");
        assert_eq!(
            r.start(),
            first.start(),
            "PUT {r} does not start at the first expected range {first}"
        );
        assert!(
            r.end() <= first.end(),
            "PUT {r} runs past the expected range {first}"
        );
        let cr = req.content_range().unwrap();
        assert_eq!(
            cr.to_string(),
            format!("bytes {}-{}/{}", r.start(), r.end() - 1, size)
        );
        assert_eq!(req.content_length(), Some(r.len()));
    }
    if !req.url().starts_with(BASE) {
        assert!(
            !req.needs_token(),
            "token requested for a foreign origin: {}",
            req.redacted_url()
        );
    }
}

pub fn new_upload(size: u64, options: Options) -> (Upload, Model) {
    let file = FileInfo::new("flower.jpg", size).with_fingerprint(format!("{size}:1"));
    let model = Model::new(&file);
    (Upload::new(target(), file, options).unwrap(), model)
}

pub fn puts(log: &[Exchange]) -> Vec<String> {
    log.iter()
        .filter_map(|e| e.range.map(|r| r.to_string()))
        .collect()
}

pub fn methods(log: &[Exchange]) -> Vec<&'static str> {
    log.iter().map(|e| e.method.as_str()).collect()
}

/// `Retry-After` read independently of the crate: seconds (with a fraction) or an
/// IMF-fixdate, as the server time (ms) before which no request may come.
pub fn retry_after_until(v: &str, now_ms: u64) -> Option<u64> {
    if v.bytes().next().is_some_and(|b| b.is_ascii_digit()) {
        // Exact decimal reading, rounded up to the millisecond.
        let (int, frac) = v.split_once('.').unwrap_or((v, ""));
        let mut ms = int.parse::<u64>().ok()? * 1000;
        let digits: Vec<u64> = frac.bytes().map(|b| u64::from(b - b'0')).collect();
        for (i, d) in digits.iter().take(3).enumerate() {
            ms += d * [100, 10, 1][i];
        }
        if digits.iter().skip(3).any(|d| *d != 0) {
            ms += 1;
        }
        return Some(now_ms + ms);
    }
    // "Tue, 14 Nov 2023 22:13:23 GMT"
    let p: Vec<&str> = v.split([' ', ':']).collect();
    if p.len() != 8 || p[7] != "GMT" {
        return None;
    }
    let months = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let m = months.iter().position(|m| *m == p[2])? as i64 + 1;
    let (d, y): (i64, i64) = (p[1].parse().ok()?, p[3].parse().ok()?);
    let (hh, mm, ss): (i64, i64, i64) =
        (p[4].parse().ok()?, p[5].parse().ok()?, p[6].parse().ok()?);
    let days = days_from_civil(y, m, d);
    Some(((days * 86_400 + hh * 3600 + mm * 60 + ss) * 1000) as u64)
}

fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil(ms: u64) -> (i64, i64, i64, u64) {
    let days = (ms / 86_400_000) as i64;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d, ms % 86_400_000)
}

/// An IMF-fixdate, cut to the second as servers write it.
pub fn http_date(ms: u64) -> String {
    let (y, m, d, rem) = civil(ms);
    let days = (ms / 86_400_000) as i64;
    let wd = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"][days.rem_euclid(7) as usize];
    let months = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let s = rem / 1000;
    format!(
        "{wd}, {d:02} {} {y} {:02}:{:02}:{:02} GMT",
        months[(m - 1) as usize],
        s / 3600,
        s % 3600 / 60,
        s % 60
    )
}

/// RFC 3339 with seven fractional digits, as Graph writes dates.
pub fn rfc3339(ms: u64) -> String {
    let (y, m, d, rem) = civil(ms);
    let s = rem / 1000;
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}0000Z",
        s / 3600,
        s % 3600 / 60,
        s % 60,
        rem % 1000
    )
}
