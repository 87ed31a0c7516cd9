//! An emulator of the Microsoft Graph To Do task-attachment endpoints, with
//! seeded fault injection, for testing upload clients over real HTTP.
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

mod codec;
mod faults;
mod rng;
mod server;
mod store;
mod time;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::io;
use std::net::{SocketAddr, TcpListener as StdListener};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

pub use faults::{
    Fault, FaultRule, FaultSpecError, Faults, KeyCase, RequestKind, RetryAfter, When, SPEC_HELP,
};
pub use server::{DEFAULT_MAX_SIZE, MAX_CHUNK, SINGLE_POST_LIMIT};
pub use store::{Attachment, Origin, RecordedRequest};

use faults::ActivePlan;
use rng::SplitMix64;
use server::Shared;
use store::State;

/// The user id `/me` stands for.
pub const ME_USER_ID: &str = "6f9a1c2e-4b7d-4e0a-9c3b-2d8e5f7a1b4c";
/// The default accepted bearer token.
pub const DEFAULT_TOKEN: &str = "emulator-token";

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

        let mut state = State {
            ids: SplitMix64::new(config.seed),
            request_ids: SplitMix64::new(config.seed ^ 0x7265_7175_6573_7473),
            plan: ActivePlan::new(config.faults, config.seed),
            seed: config.seed,
            lists: BTreeMap::new(),
            sessions: HashMap::new(),
            sessions_created: 0,
            records: VecDeque::new(),
        };
        let list_id = state.new_id("AAMkAGI2", 40);
        let task_id = state.new_id("AAMkADli", 40);
        state
            .lists
            .entry(list_id.clone())
            .or_default()
            .insert(task_id.clone(), Vec::new());

        let shared = Arc::new(Shared {
            state: Mutex::new(state),
            token: config.token,
            user_id: ME_USER_ID.to_string(),
            max_size: config.max_size,
            lifetime: config.session_lifetime,
            clock_skew_ms: config.clock_skew_ms,
            graph_origin: format!("http://{graph_addr}"),
            foreign_origin: format!("http://{foreign_addr}"),
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
        format!("{}/v1.0", self.shared.graph_origin)
    }

    /// `http://127.0.0.1:{port}`, the Graph origin.
    pub fn graph_origin(&self) -> String {
        self.shared.graph_origin.clone()
    }

    /// `http://127.0.0.1:{port}` of the second listener, where uploadUrls of
    /// [`Fault::ForeignOrigin`] sessions point.
    pub fn foreign_origin(&self) -> String {
        self.shared.foreign_origin.clone()
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
        &self.shared.token
    }

    /// The user id; `/me` stands for it.
    pub fn user_id(&self) -> &str {
        &self.shared.user_id
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
        let mut st = self.shared.lock();
        let id = st.new_id("AAMkAGI2", 40);
        st.lists.entry(id.clone()).or_default();
        id
    }

    /// Adds a task to the default list; returns its id.
    pub fn create_task(&self) -> String {
        self.create_task_in(&self.list_id).unwrap_or_default()
    }

    /// Adds a task to `list_id`; `None` if the list is unknown.
    pub fn create_task_in(&self, list_id: &str) -> Option<String> {
        let mut st = self.shared.lock();
        if !st.lists.contains_key(list_id) {
            return None;
        }
        let id = st.new_id("AAMkADli", 40);
        st.lists.get_mut(list_id)?.insert(id.clone(), Vec::new());
        Some(id)
    }

    /// Replaces the fault plan; its counters start from zero. With no seed
    /// of its own, its generator is seeded from [`Config::seed`].
    pub fn set_faults(&self, faults: Faults) {
        let mut st = self.shared.lock();
        let seed = st.seed;
        st.plan = ActivePlan::new(faults, seed);
    }

    /// The attachments of a task (empty if unknown), in creation order.
    pub fn attachments(&self, list_id: &str, task_id: &str) -> Vec<Attachment> {
        self.shared
            .lock()
            .lists
            .get(list_id)
            .and_then(|t| t.get(task_id))
            .cloned()
            .unwrap_or_default()
    }

    /// Removes the attachments of a task and hands them over, without copying
    /// their bytes (empty if the task is unknown). Benchmarks use it to check
    /// an upload and keep a long-lived emulator's memory flat.
    pub fn take_attachments(&self, list_id: &str, task_id: &str) -> Vec<Attachment> {
        self.shared
            .lock()
            .lists
            .get_mut(list_id)
            .and_then(|t| t.get_mut(task_id))
            .map(std::mem::take)
            .unwrap_or_default()
    }

    /// The attachments of the default task.
    pub fn task_attachments(&self) -> Vec<Attachment> {
        self.attachments(&self.list_id, &self.task_id)
    }

    /// Every request so far (the latest 100,000), oldest first.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.lock().records.iter().cloned().collect()
    }

    /// Forgets the recorded requests.
    pub fn clear_requests(&self) {
        self.shared.lock().records.clear();
    }

    /// How many requests to the foreign origin carried an `Authorization`
    /// header (each was refused with `InvalidAudience`).
    pub fn tokens_sent_to_foreign_origin(&self) -> usize {
        self.shared
            .lock()
            .records
            .iter()
            .filter(|r| r.origin == Origin::Foreign && r.authorization)
            .count()
    }

    /// How many upload sessions were created.
    pub fn sessions_created(&self) -> usize {
        self.shared.lock().sessions_created
    }

    /// How many sessions are open (neither completed, deleted nor expired).
    pub fn live_sessions(&self) -> usize {
        let now = time::skewed_now(self.shared.clock_skew_ms);
        self.shared
            .lock()
            .sessions
            .values()
            .filter(|s| !s.dead && now < s.expires_at)
            .count()
    }

    /// Expires every open session now: each answers 404 from here on.
    pub fn expire_sessions(&self) {
        for s in self.shared.lock().sessions.values_mut() {
            s.dead = true;
        }
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
            let service = service_fn(move |req| server::handle(shared.clone(), origin, req));
            // Date comes from the emulated server's clock, set per answer.
            let _ = http1::Builder::new()
                .auto_date_header(false)
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
