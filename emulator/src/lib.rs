//! An emulator of the Microsoft Graph To Do task-attachment endpoints (and OneDrive drive
//! items), with seeded fault injection, for testing upload clients over real HTTP: the
//! HTTP face of the sans-IO [`graph_model::Model`], which holds every Graph rule. The face
//! reads each request whole before the model decides, so a dropped connection comes after
//! the client sent its last byte.
//!
//! It serves HTTP/1.1 on `127.0.0.1` (see `docs/protocol.md` in the project for
//! the protocol): `createUploadSession`, `PUT {uploadUrl}/content`, the
//! session status `GET` and `DELETE`, the single `POST` of a
//! `taskFileAttachment`, and reading attachments back. It is strict where the
//! real service is, so that a client that passes it passes Graph:
//!
//! - the bearer token on every Graph-origin request, and no `Authorization`
//!   at all on a foreign-origin uploadUrl (401 `InvalidAudience`);
//! - IDs are opaque, with `=` and `+` or `/`: each path segment is
//!   percent-decoded, so an ID whose `/` was not encoded misses (404), and
//!   `=` / `+` may come literal or encoded (docs/protocol.md §2);
//! - the uploadUrl is used as given: `/content` on its path, its query kept;
//! - a PUT goes to `uploadUrl` + `/content` (before any query), with
//!   `Content-Type: application/octet-stream`, an exact `Content-Length`, a
//!   `Content-Range: bytes S-E/T` that agrees with it, `T` the size given at
//!   creation, fewer than 4,000,000 bytes, starting at the first byte the
//!   server still expects and not running past that gap; no
//!   `Transfer-Encoding`, no `Content-Encoding`;
//! - file sizes up to a limit (25 MiB by default), the single POST under 3 MiB;
//! - every refusal is a 4xx with Graph's error JSON, never a panic.
//!
//! Faults ([`Faults`], [`FaultRule`], [`Fault`]) are chosen per session or per
//! request, on a schedule or with a seeded probability, so a run is
//! reproducible from its seed.
//!
//! ```no_run
//! use graph_emulator::{Config, Emulator, Fault, FaultRule, Faults};
//!
//! let emu = Emulator::start(Config::default())?;
//! emu.set_faults(Faults::none().with(FaultRule::nth(2, Fault::DropMidBody)));
//! // Point a client at emu.base_url() with emu.token(), list emu.list_id(),
//! // task emu.task_id(); then inspect:
//! let files = emu.task_attachments();
//! let requests = emu.requests();
//! # let _ = (files, requests);
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! A 0-byte file: its session completes with one PUT of
//! `Content-Range: bytes */0` and `Content-Length: 0`.

#![warn(missing_docs, unreachable_pub)]

mod face;

use std::io;
use std::net::{SocketAddr, TcpListener as StdListener};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime};

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

pub use graph_model::{
    Attachment, Fault, FaultRule, FaultSpecError, Faults, KeyCase, Origin, Parent, RecordedRequest,
    RequestKind, RetryAfter, When, DEFAULT_MAX_SIZE, DEFAULT_TOKEN, MAX_CHUNK, ME_USER_ID,
    SINGLE_POST_LIMIT, SPEC_HELP,
};

use graph_model::{millis, Model};

/// What every connection task shares: the model behind one lock, never held across an
/// await.
#[derive(Debug)]
pub(crate) struct Shared {
    model: Mutex<Model>,
}

impl Shared {
    pub(crate) fn lock(&self) -> MutexGuard<'_, Model> {
        self.model.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// This machine's clock, as the model counts time.
pub(crate) fn now() -> graph_model::Millis {
    millis(SystemTime::now())
}

/// How to start an [`Emulator`].
#[derive(Debug, Clone)]
pub struct Config {
    /// Seed of every id and, unless [`Faults::seed`] is set, of fault draws.
    pub seed: u64,
    /// The bearer token accepted on the Graph origin.
    pub token: String,
    /// Largest file size createUploadSession accepts; `u64::MAX` lifts it.
    pub max_size: u64,
    /// How long a session lives after creation (15 minutes by default).
    pub session_lifetime: Duration,
    /// The fault plan at start.
    pub faults: Faults,
    /// Port of the Graph listener; 0 picks a free one.
    pub port: u16,
    /// Port of the second (foreign) listener; 0 picks a free one.
    pub foreign_port: u16,
    /// How far the emulated server's clock runs ahead of this machine's, in milliseconds
    /// (negative: behind). Every server instant follows it: `Date` headers,
    /// `expirationDateTime`, `lastModifiedDateTime`, `Retry-After` dates and expiry itself.
    pub clock_skew_ms: i64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            seed: 0x5eed,
            token: DEFAULT_TOKEN.to_string(),
            max_size: DEFAULT_MAX_SIZE,
            session_lifetime: Duration::from_secs(15 * 60),
            faults: Faults::none(),
            port: 0,
            foreign_port: 0,
            clock_skew_ms: 0,
        }
    }
}

/// A running emulator: two listeners on their own thread and tokio runtime.
/// Every method is blocking and cheap; usable from sync tests and from inside
/// async ones. Dropping it stops the server.
pub struct Emulator {
    shared: Arc<Shared>,
    token: String,
    graph_addr: SocketAddr,
    foreign_addr: SocketAddr,
    list_id: String,
    task_id: String,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Emulator {
    /// Binds both listeners and starts serving.
    pub fn start(config: Config) -> io::Result<Emulator> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let graph = listen(&runtime, config.port)?;
        let foreign = listen(&runtime, config.foreign_port)?;
        let graph_addr = graph.local_addr()?;
        let foreign_addr = foreign.local_addr()?;

        let model = Model::new(graph_model::Config {
            seed: config.seed,
            token: config.token,
            max_size: config.max_size,
            session_lifetime: config.session_lifetime,
            faults: config.faults,
            clock_skew_ms: config.clock_skew_ms,
            graph_origin: format!("http://{graph_addr}"),
            foreign_origin: format!("http://{foreign_addr}"),
        });
        let list_id = model.list_id().to_string();
        let task_id = model.task_id().to_string();
        let token = model.token().to_string();
        let shared = Arc::new(Shared {
            model: Mutex::new(model),
        });
        let (stop, stopped) = oneshot::channel();
        let serving = shared.clone();
        let thread = std::thread::Builder::new()
            .name("graph-emulator".into())
            .spawn(move || {
                runtime.block_on(serve(serving, graph, foreign, stopped));
                // Dropping the runtime cancels connections still open.
                drop(runtime);
            })?;
        Ok(Emulator {
            shared,
            token,
            graph_addr,
            foreign_addr,
            list_id,
            task_id,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// `http://127.0.0.1:{port}/v1.0` (`/beta` is served too).
    pub fn base_url(&self) -> String {
        format!("http://{}/v1.0", self.graph_addr)
    }

    /// `http://127.0.0.1:{port}`, the Graph origin.
    pub fn graph_origin(&self) -> String {
        format!("http://{}", self.graph_addr)
    }

    /// `http://127.0.0.1:{port}` of the second listener, where uploadUrls of
    /// [`Fault::ForeignOrigin`] sessions point.
    pub fn foreign_origin(&self) -> String {
        format!("http://{}", self.foreign_addr)
    }

    /// Address of the Graph listener.
    pub fn graph_addr(&self) -> SocketAddr {
        self.graph_addr
    }

    /// Address of the second listener.
    pub fn foreign_addr(&self) -> SocketAddr {
        self.foreign_addr
    }

    /// The accepted bearer token.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// The user id; `/me` stands for it.
    pub fn user_id(&self) -> &str {
        ME_USER_ID
    }

    /// The list created at start.
    pub fn list_id(&self) -> &str {
        &self.list_id
    }

    /// The task created at start, in [`Emulator::list_id`].
    pub fn task_id(&self) -> &str {
        &self.task_id
    }

    /// Adds a list; returns its id.
    pub fn create_list(&self) -> String {
        self.shared.lock().create_list()
    }

    /// Adds a task to the default list; returns its id.
    pub fn create_task(&self) -> String {
        self.create_task_in(&self.list_id).unwrap_or_default()
    }

    /// Adds a task to `list_id`; `None` if the list is unknown.
    pub fn create_task_in(&self, list_id: &str) -> Option<String> {
        self.shared.lock().create_task_in(list_id)
    }

    /// Adds a list called `name`; returns its id. The default list is called `Tasks`.
    pub fn create_named_list(&self, name: &str) -> String {
        self.shared.lock().create_named_list(name)
    }

    /// Adds a task titled `title` to `list_id`; `None` if the list is unknown. The default
    /// task is titled `Demo task`.
    pub fn create_titled_task(&self, list_id: &str, title: &str) -> Option<String> {
        self.shared.lock().create_titled_task(list_id, title)
    }

    /// The bearer token accepted now: [`Emulator::token`] until a `rotate-token` fault
    /// changes it.
    pub fn current_token(&self) -> String {
        self.shared.lock().token().to_owned()
    }

    /// Replaces the fault plan; its counters start from zero. With no seed
    /// of its own, its generator is seeded from [`Config::seed`].
    pub fn set_faults(&self, faults: Faults) {
        self.shared.lock().set_faults(faults);
    }

    /// The attachments of a task (empty if unknown), in creation order.
    pub fn attachments(&self, list_id: &str, task_id: &str) -> Vec<Attachment> {
        self.shared
            .lock()
            .attachments_of(&task(list_id, task_id))
            .to_vec()
    }

    /// Removes the attachments of a task and hands them over, without copying
    /// their bytes (empty if the task is unknown). Benchmarks use it to check
    /// an upload and keep a long-lived emulator's memory flat.
    pub fn take_attachments(&self, list_id: &str, task_id: &str) -> Vec<Attachment> {
        self.shared
            .lock()
            .take_attachments_of(&task(list_id, task_id))
    }

    /// What a parent holds (a task's or message's attachments, a drive folder's items, a
    /// print document), in creation order.
    pub fn items(&self, parent: &Parent) -> Vec<Attachment> {
        self.shared.lock().attachments_of(parent).to_vec()
    }

    /// Removes what a parent holds and hands it over, without copying the bytes.
    pub fn take_items(&self, parent: &Parent) -> Vec<Attachment> {
        self.shared.lock().take_attachments_of(parent)
    }

    /// The attachments of the default task.
    pub fn task_attachments(&self) -> Vec<Attachment> {
        self.attachments(&self.list_id, &self.task_id)
    }

    /// Every request so far (the latest 100,000), oldest first.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.lock().requests().cloned().collect()
    }

    /// Forgets the recorded requests.
    pub fn clear_requests(&self) {
        self.shared.lock().clear_requests();
    }

    /// What clients did that a correct client never does, one line each (see
    /// [`graph_model::Model::violations`]).
    pub fn violations(&self) -> Vec<String> {
        self.shared.lock().violations().to_vec()
    }

    /// How many requests to the foreign origin carried an `Authorization`
    /// header (each was refused with `InvalidAudience`).
    pub fn tokens_sent_to_foreign_origin(&self) -> usize {
        self.shared
            .lock()
            .requests()
            .filter(|r| r.origin == Origin::Foreign && r.authorization)
            .count()
    }

    /// How many upload sessions were created.
    pub fn sessions_created(&self) -> usize {
        self.shared.lock().sessions_created()
    }

    /// How many sessions are open (neither completed, deleted nor expired).
    pub fn live_sessions(&self) -> usize {
        self.shared.lock().live_sessions(now())
    }

    /// Expires every open session now: each answers 404 from here on.
    pub fn expire_sessions(&self) {
        self.shared.lock().expire_sessions();
    }
}

fn task(list: &str, task: &str) -> Parent {
    Parent::TodoTask {
        list: list.to_string(),
        task: task.to_string(),
    }
}

impl std::fmt::Debug for Emulator {
    // The token stays out of Debug output.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Emulator")
            .field("graph_addr", &self.graph_addr)
            .field("foreign_addr", &self.foreign_addr)
            .field("list_id", &self.list_id)
            .field("task_id", &self.task_id)
            .finish_non_exhaustive()
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// How many connections may wait to be accepted: std's 128 drops SYNs (a second's
/// retransmit each) when a thousand clients connect at once.
const BACKLOG: u32 = 1024;

/// A non-blocking listener on `127.0.0.1:port` with room for [`BACKLOG`] pending connections.
fn listen(runtime: &tokio::runtime::Runtime, port: u16) -> io::Result<StdListener> {
    // tokio registers the listener with the runtime's reactor; `into_std` takes it back.
    let _enter = runtime.enter();
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.set_reuseaddr(true)?;
    socket.bind(SocketAddr::from(([127, 0, 0, 1], port)))?;
    socket.listen(BACKLOG)?.into_std()
}

async fn serve(
    shared: Arc<Shared>,
    graph: StdListener,
    foreign: StdListener,
    mut stopped: oneshot::Receiver<()>,
) {
    let (Ok(graph), Ok(foreign)) = (TcpListener::from_std(graph), TcpListener::from_std(foreign))
    else {
        return;
    };
    loop {
        let (accepted, origin) = tokio::select! {
            _ = &mut stopped => return,
            a = graph.accept() => (a, Origin::Graph),
            a = foreign.accept() => (a, Origin::Foreign),
        };
        let Ok((stream, _)) = accepted else {
            // Out of descriptors or similar: breathe, then go on.
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let _ = stream.set_nodelay(true);
        let shared = shared.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| face::handle(shared.clone(), origin, req));
            // Date comes from the emulated server's clock, set per answer.
            let _ = http1::Builder::new()
                .auto_date_header(false)
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
