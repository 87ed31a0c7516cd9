//! A machine and the Graph model joined in memory (in the spirit of quinn's `Pair`): each
//! request the machine emits is turned into the bytes a driver would send, handed to the
//! model, and its outcome fed back, on a virtual clock. [`Pair::drive_bounded`] runs a
//! whole upload with a step cap; [`Pair::send`] is the one step for a driver of your own.

use std::time::Duration;

use graph_model::{Config, Model, Origin, Outcome, WireAnswer, WireBody, WireRequest};
use upload_session::{
    Action, Base64Encoder, Body, ByteRange, CallerError, Completion, ConfigError, Error, FileInfo,
    Method, Options, Owner, QuickXorHash, Request, Response, RestoreError, Target, Timestamp,
    TransportError, Upload,
};

use crate::check::Checker;

/// Where virtual time starts: 2023-11-14T22:13:20Z.
pub const START: u64 = 1_700_000_000_000;
/// How far the clock moves per exchange: a request and its answer take 10 ms.
pub const ROUND_TRIP: Duration = Duration::from_millis(10);
/// Files up to this size are held as bytes and checked byte for byte; longer ones are
/// sent to the model as lengths only ([`WireBody::Unseen`]).
pub const HELD_BYTES: u64 = 8 * 1024 * 1024;

/// The file under upload: its bytes, made from its size, so a test never stores them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestFile {
    name: String,
    size: u64,
}

impl TestFile {
    /// A file of `size` bytes named `name`.
    pub fn new(name: impl Into<String>, size: u64) -> Self {
        TestFile {
            name: name.into(),
            size,
        }
    }

    /// Its size.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The byte at `offset`: a pattern that repeats only every 251 × 256 bytes, so a byte
    /// sent at the wrong offset shows.
    pub fn byte(offset: u64) -> u8 {
        ((offset % 251) as u8).wrapping_add((offset / 251 % 256) as u8)
    }

    /// The bytes of `range`.
    pub fn read(&self, range: ByteRange) -> Vec<u8> {
        (range.start()..range.end()).map(Self::byte).collect()
    }

    /// Whether `bytes` are this whole file.
    pub fn is(&self, bytes: &[u8]) -> bool {
        bytes.len() as u64 == self.size
            && bytes.iter().zip(0u64..).all(|(b, i)| *b == Self::byte(i))
    }

    /// Its QuickXorHash (docs/protocol.md §8), read in pieces as a driver would.
    pub fn quick_xor_hash(&self) -> String {
        let mut hash = QuickXorHash::new();
        let mut at = 0;
        while let Some(range) = ByteRange::new(at, (at + 64 * 1024).min(self.size)) {
            hash.update(&self.read(range));
            at = range.end();
        }
        hash.to_base64()
    }

    /// The file as the core sees it; with its QuickXorHash when the model holds its bytes
    /// (up to [`HELD_BYTES`]), so that drive items' hashes are checked on every upload.
    pub fn info(&self) -> FileInfo {
        let info = FileInfo::new(self.name.clone(), self.size)
            .with_fingerprint(format!("{}:kit", self.size));
        match self.size <= HELD_BYTES {
            true => info.with_quick_xor_hash(self.quick_xor_hash()),
            false => info,
        }
    }
}

/// What a driver sees for one request: an answer, or a failure with no answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// The server answered (perhaps late: the clock has moved past the stall).
    Answer(WireAnswer),
    /// The connection closed with no answer.
    Lost(TransportError),
}

impl Delivery {
    /// The status, if an answer came.
    pub fn status(&self) -> Option<u16> {
        match self {
            Delivery::Answer(a) => Some(a.status),
            Delivery::Lost(_) => None,
        }
    }

    /// Feeds this to the machine as the outcome of request `req`.
    pub fn feed(&self, up: &mut Upload, now: Timestamp, req: &Request) -> Result<(), CallerError> {
        match self {
            Delivery::Answer(a) => {
                let resp = Response::new(a.status)
                    .headers(a.headers.iter().map(|(n, v)| (n.as_str(), v.as_str())))
                    .body(&a.body);
                up.handle_response(now, req.id(), resp)
            }
            Delivery::Lost(e) => up.handle_transport_error(now, req.id(), *e),
        }
    }
}

/// One line of the log: what was sent, and what came back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Exchange {
    /// The method.
    pub method: Method,
    /// The URL.
    pub url: String,
    /// The file range of a PUT.
    pub range: Option<ByteRange>,
    /// The status answered, `None` when no answer came.
    pub status: Option<u16>,
    /// When it was sent, on the client's clock (ms).
    pub at: u64,
}

impl Exchange {
    /// `PUT 0-4999999` or `POST 201`-style shorthand: the method, then the range of a PUT.
    pub fn line(&self) -> String {
        match self.range {
            Some(r) => format!("PUT {}-{}", r.start(), r.end().saturating_sub(1)),
            None => self.method.as_str().to_string(),
        }
    }
}

/// How a drive ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum End {
    /// The upload finished.
    Done(Completion),
    /// The upload failed.
    Failed(Error),
    /// The upload was cancelled.
    Cancelled,
}

/// A whole drive: how it ended, and every exchange on the way.
#[derive(Debug, Clone)]
pub struct Run {
    /// How it ended.
    pub end: End,
    /// Every exchange, in order.
    pub log: Vec<Exchange>,
}

impl Run {
    /// The exchanges as [`Exchange::line`]s.
    pub fn lines(&self) -> Vec<String> {
        self.log.iter().map(Exchange::line).collect()
    }

    /// The status of each exchange; `None` where no answer came.
    pub fn statuses(&self) -> Vec<Option<u16>> {
        self.log.iter().map(|e| e.status).collect()
    }

    /// The completion of a run that must have finished.
    ///
    /// # Panics
    /// When it did not, naming how it ended and its requests.
    pub fn done(&self) -> &Completion {
        match &self.end {
            End::Done(c) => c,
            other => panic!("expected Done, got {other:?}; lines {:?}", self.lines()),
        }
    }

    /// The error of a run that must have failed.
    ///
    /// # Panics
    /// When it did not.
    pub fn failed(&self) -> &Error {
        match &self.end {
            End::Failed(e) => e,
            other => panic!("expected Failed, got {other:?}; lines {:?}", self.lines()),
        }
    }
}

/// A drive that hit its step cap without an end.
#[derive(Debug, Clone)]
pub struct Stuck {
    /// The cap.
    pub steps: usize,
    /// The last exchanges.
    pub last: Vec<Exchange>,
}

/// The Graph model and a file, joined to machines on a virtual clock.
#[derive(Debug)]
pub struct Pair {
    /// The server.
    pub model: Model,
    /// The file.
    pub file: TestFile,
    /// The client's clock.
    pub now: Timestamp,
    /// Every exchange so far.
    pub log: Vec<Exchange>,
    /// Where the uploads go, for [`Pair::attachments`] and [`Pair::assert_sound`]: the
    /// model's default task unless changed.
    pub parent: graph_model::Parent,
    /// PUT bodies of files up to this size carry the file's bytes; longer ones go as
    /// lengths only ([`WireBody::Unseen`]). [`HELD_BYTES`] unless changed.
    pub hold_bytes: u64,
    /// Text no error of the machine may show: a URL's credential. `tempauth=` unless
    /// changed; `None` checks nothing.
    pub secret: Option<String>,
    checker: Option<Checker>,
    /// Attachments there before the first upload: not this pair's.
    before: Vec<String>,
}

impl Pair {
    /// A model made with `config` and a file of `size` bytes.
    pub fn new(config: Config, size: u64) -> Self {
        let model = Model::new(config);
        Pair {
            parent: model.task(),
            model,
            file: TestFile::new("flower.jpg", size),
            now: Timestamp::from_unix_millis(START),
            log: Vec::new(),
            hold_bytes: HELD_BYTES,
            secret: Some("tempauth=".to_string()),
            checker: None,
            before: Vec::new(),
        }
    }

    /// A model under the fault plan `plan` (`"throttle=2@1/create drop@3/put"`, see
    /// [`graph_model::SPEC_HELP`]) and a file of `size` bytes.
    pub fn with_plan(plan: &str, size: u64) -> Result<Self, graph_model::FaultSpecError> {
        Ok(Pair::new(
            Config {
                faults: graph_model::Faults::plan(plan)?,
                ..Config::default()
            },
            size,
        ))
    }

    /// Puts an attachment (or drive item) named like the file on the parent, made `age`
    /// before the server's clock's now, as an earlier upload would have left it.
    pub fn attach_earlier(&mut self, id: &str, size: u64, age: Duration) {
        let server_now = self.model.server_time(self.now.as_unix_millis());
        let made = graph_model::Attachment {
            id: id.to_string(),
            name: self.file.name().to_string(),
            size,
            content_type: "application/octet-stream".to_string(),
            bytes: Vec::new(),
            last_modified: graph_model::system_time(
                server_now.saturating_sub(age.as_millis() as u64),
            ),
        };
        let parent = self.parent.clone();
        assert!(self.model.attach(&parent, made), "the parent exists");
    }

    /// The model's default task as a To Do target, the `/me` way.
    pub fn target(&self) -> Target {
        Target::todo_task(
            &self.model.base_url(),
            Owner::Me,
            self.model.list_id(),
            self.model.task_id(),
        )
        .expect("the model's own ids make a target")
    }

    /// A machine for this pair's file and target.
    pub fn upload(&mut self, options: Options) -> Upload {
        let target = self.target();
        self.upload_to(target, options)
            .expect("the pair's upload is well-formed")
    }

    /// A machine for this pair's file to `target`, checked from here on; the core's
    /// refusal when it refuses.
    pub fn upload_to(&mut self, target: Target, options: Options) -> Result<Upload, ConfigError> {
        let up = Upload::new(target, self.file.info(), options.clone())?;
        if self.checker.is_none() {
            self.before = self.attachments().iter().map(|a| a.id.clone()).collect();
        }
        self.watch(&up, &options);
        Ok(up)
    }

    /// Restores `saved` for this pair's file and target and checks it from here on.
    pub fn restore(&mut self, saved: &str, options: Options) -> Result<Upload, RestoreError> {
        let up = Upload::restore(
            saved.as_bytes(),
            self.target(),
            self.file.info(),
            options.clone(),
        )?;
        self.watch(&up, &options);
        Ok(up)
    }

    /// Checks `up` (made or restored with `options`) from here on.
    pub fn watch(&mut self, up: &Upload, options: &Options) {
        let checker = Checker::new(up, options);
        self.checker = Some(match &self.secret {
            Some(secret) => checker.with_secret(secret.clone()),
            None => checker,
        });
    }

    /// The checker of the machine watched last.
    ///
    /// # Panics
    /// When no machine is watched yet.
    pub fn checker(&mut self) -> &mut Checker {
        self.checker.as_mut().expect("a machine is watched")
    }

    /// Polls `up` and checks the action.
    pub fn poll(&mut self, up: &mut Upload) -> Action {
        match &mut self.checker {
            Some(c) => c.poll(up, self.now),
            None => up.poll(self.now),
        }
    }

    /// The request as a driver sends it: the token where asked for, the file's bytes.
    fn wire_body(&self, req: &Request) -> Vec<u8> {
        match req.body() {
            Body::Empty | Body::FileRange(_) => Vec::new(),
            Body::Json(text) => text.as_bytes().to_vec(),
            Body::JsonWithBase64File {
                prefix,
                range,
                suffix,
            } => {
                let mut out = prefix.as_bytes().to_vec();
                let mut enc = Base64Encoder::new();
                if let Some(r) = range {
                    enc.push(&self.file.read(*r), &mut out);
                }
                enc.finish(&mut out);
                out.extend_from_slice(suffix.as_bytes());
                out
            }
        }
    }

    /// Carries `req` to the model and returns what the driver sees; the clock moves by
    /// [`ROUND_TRIP`] plus any stall. Checks the request first.
    pub fn send(&mut self, up: &Upload, req: &Request) -> Delivery {
        if let Some(c) = &mut self.checker {
            c.check_request(up, req);
        }
        let url = req.url();
        let Some(origin) = self.model.origin_of(url) else {
            // Nothing listens there: the connection fails before a byte is sent.
            return self.lost(req, TransportError::Connect);
        };
        let rest = match origin {
            Origin::Graph => &url[self.model.graph_origin().len()..],
            Origin::Foreign => &url[self.model.foreign_origin().len()..],
        };
        let auth = format!("Bearer {}", self.model.token());
        let header_values: Vec<(&'static str, String)> =
            req.headers().map(|(n, v)| (n, v.to_string())).collect();
        let mut headers: Vec<(&str, &[u8])> = header_values
            .iter()
            .map(|(n, v)| (*n, v.as_bytes()))
            .collect();
        if req.needs_token() {
            headers.push(("Authorization", auth.as_bytes()));
        }
        let json = self.wire_body(req);
        let held;
        let body = match req.file_range() {
            Some(r) if self.file.size() <= self.hold_bytes => {
                held = self.file.read(r);
                WireBody::Bytes(vec![&held[..]])
            }
            Some(r) => WireBody::Unseen(r.len()),
            None => WireBody::Bytes(vec![&json[..]]),
        };
        let wire = WireRequest {
            origin,
            method: req.method().as_str(),
            target: if rest.is_empty() { "/" } else { rest },
            headers,
            body,
        };
        let outcome = self.model.handle(self.now.as_unix_millis(), &wire);
        let at = self.now.as_unix_millis();
        let delivery = match outcome {
            Outcome::Answer(a) => Delivery::Answer(a),
            Outcome::Late { after, answer } => {
                self.now = self.now.saturating_add(after);
                Delivery::Answer(answer)
            }
            Outcome::Drop { after, .. } => {
                self.now = self.now.saturating_add(after);
                Delivery::Lost(TransportError::Interrupted)
            }
        };
        self.record(req, at, delivery)
    }

    /// Logs `req` as met by `error` with no answer.
    fn lost(&mut self, req: &Request, error: TransportError) -> Delivery {
        self.record(req, self.now.as_unix_millis(), Delivery::Lost(error))
    }

    /// Logs what `req`, sent at `at`, met, and tells the checker.
    fn record(&mut self, req: &Request, at: u64, delivery: Delivery) -> Delivery {
        self.log.push(Exchange {
            method: req.method(),
            url: req.url().to_string(),
            range: req.file_range(),
            status: delivery.status(),
            at,
        });
        if let Some(c) = &mut self.checker {
            c.answered(delivery.status());
        }
        delivery
    }

    /// One step of a driver: poll, then send, wait or refresh as asked. `Some` once the
    /// upload ended.
    pub fn step(&mut self, up: &mut Upload) -> Option<End> {
        match self.poll(up) {
            Action::Send(req) => {
                let delivery = self.send(up, &req);
                self.now = self.now.saturating_add(ROUND_TRIP);
                delivery
                    .feed(up, self.now, &req)
                    .expect("the outcome of the request in flight is taken");
                None
            }
            Action::Wait { until, .. } => {
                self.now = until;
                None
            }
            Action::RefreshToken => {
                up.token_refreshed(self.now)
                    .expect("a refresh that was asked for is taken");
                None
            }
            Action::Done(c) => Some(End::Done(c)),
            Action::Failed(e) => Some(End::Failed(e)),
            Action::Cancelled => Some(End::Cancelled),
            other => panic!("an action this kit does not know: {other:?}"),
        }
    }

    /// Drives `up` until it ends, at most `cap` steps, checking every action.
    pub fn drive_bounded(&mut self, up: &mut Upload, cap: usize) -> Result<Run, Stuck> {
        let from = self.log.len();
        for _ in 0..cap {
            if let Some(end) = self.step(up) {
                return Ok(Run {
                    end,
                    log: self.log[from..].to_vec(),
                });
            }
        }
        Err(Stuck {
            steps: cap,
            last: self.log[self.log.len().saturating_sub(5)..].to_vec(),
        })
    }

    /// What the uploads' parent holds: attachments, drive items, a print document.
    pub fn attachments(&self) -> &[graph_model::Attachment] {
        self.model.attachments_of(&self.parent)
    }

    /// The attachments this pair's uploads made (those there before are not counted).
    pub fn created(&self) -> Vec<&graph_model::Attachment> {
        self.attachments()
            .iter()
            .filter(|a| !self.before.contains(&a.id))
            .collect()
    }

    /// What a sound upload leaves behind, checked: no violation of the model's rules, at
    /// most one attachment of the file, and exactly one, byte-exact, when it is `Done`.
    pub fn assert_sound(&self, end: &End) {
        assert!(
            self.model.violations().is_empty(),
            "the client broke the protocol: {:?}",
            self.model.violations()
        );
        let mine = self.created();
        assert!(mine.len() <= 1, "{} attachments of one file", mine.len());
        if let End::Done(c) = end {
            assert_eq!(mine.len(), 1, "Done without an attachment");
            assert_eq!(c.size, self.file.size());
            if self.file.size() <= HELD_BYTES {
                assert!(
                    self.file.is(&mine[0].bytes),
                    "the attachment's bytes differ"
                );
            }
        }
    }
}
