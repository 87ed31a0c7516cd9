//! The command line: `todo-upload [OPTIONS] <FILE>`.

use std::path::PathBuf;

use clap::Parser;

/// The chunk size To Do is sent when none is given: 12 × 320 KiB, under 4 MB (docs/protocol.md §3).
pub const DEFAULT_CHUNK: u64 = 3_932_160;

/// Attach a file to a Microsoft To Do task through a resumable Graph upload session.
///
/// Without --graph-url, an emulated Graph is started on 127.0.0.1 and the file goes there,
/// then is read back and compared with the file.
#[derive(Parser, Debug, Clone)]
#[command(name = "todo-upload", version, args_override_self = true)]
pub struct Args {
    /// The file to attach.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,

    /// Graph base URL including the version, e.g. https://graph.microsoft.com/v1.0.
    /// Absent: an embedded emulator on 127.0.0.1.
    #[arg(long, value_name = "URL", requires_all = ["token", "list", "task"])]
    pub graph_url: Option<String>,

    /// Bearer token for Graph (required with --graph-url). Never printed or saved.
    #[arg(
        long,
        value_name = "TOKEN",
        env = "GRAPH_TOKEN",
        hide_env_values = true
    )]
    pub token: Option<crate::token::Secret>,

    /// The To Do list's ID (required with --graph-url).
    #[arg(long, value_name = "ID", requires = "graph_url")]
    pub list: Option<String>,

    /// The task's ID (required with --graph-url).
    #[arg(long, value_name = "ID", requires = "graph_url")]
    pub task: Option<String>,

    /// Upload to /users/{ID}/todo/... instead of /me/todo/...
    #[arg(long, value_name = "ID")]
    pub user: Option<String>,

    /// Bytes per PUT: at least 1 and under 4,000,000.
    #[arg(long, value_name = "BYTES", default_value_t = DEFAULT_CHUNK,
          value_parser = clap::value_parser!(u64).range(1..4_000_000))]
    pub chunk_size: u64,

    /// Save the session here after every acknowledged chunk (never the token); if the file
    /// exists, resume from it. Removed after success.
    #[arg(long, value_name = "PATH")]
    pub state: Option<PathBuf>,

    /// Always use an upload session, never the single POST for small files.
    #[arg(long)]
    pub session_only: bool,

    /// Print one JSON object on stdout at the end: attachment_id, location, size, requests,
    /// sessions.
    #[arg(long)]
    pub json: bool,

    /// With --state: delete the saved session on the server and remove the state file.
    #[arg(long, requires = "state")]
    pub cancel: bool,

    /// One line per request and answer on stderr (URL queries redacted, never the token).
    #[arg(short, long)]
    pub verbose: bool,

    /// Options for tests and benchmarks, hidden from `--help`.
    #[command(flatten)]
    pub tuning: Tuning,
}

/// Options for tests and benchmarks, hidden from `--help`; both programs take them.
#[derive(clap::Args, Debug, Clone)]
pub struct Tuning {
    /// How long an answer may take to start, and any read or write may stall, in ms.
    #[arg(long, value_name = "MS", default_value_t = 60_000, hide = true)]
    pub timeout_ms: u64,

    /// The first retry backoff in ms (the core's default is 3,000).
    #[arg(long, value_name = "MS", hide = true)]
    pub retry_initial_ms: Option<u64>,

    /// Overrides the destination's file size limit (25 MiB for To Do), e.g. for an emulator
    /// started with `--max-size unlimited`; the embedded emulator keeps its own limit.
    #[arg(long, value_name = "BYTES", hide = true)]
    pub size_limit: Option<u64>,

    /// A fault for the embedded emulator, in graph-emulator's text form (repeatable).
    #[arg(long = "emulator-fault", value_name = "SPEC", hide = true)]
    pub emulator_faults: Vec<String>,
}

impl Args {
    /// The upload this command line describes.
    pub fn to_job(&self) -> crate::job::Job {
        crate::job::Job {
            program: "todo-upload",
            file: self.file.clone(),
            dest: crate::job::Dest::Todo {
                list: self.list.clone(),
                task: self.task.clone(),
                list_name: None,
                task_title: None,
                user: self.user.clone(),
            },
            graph_url: self.graph_url.clone(),
            token: self
                .token
                .as_ref()
                .map(|t| crate::token::TokenSource::Fixed(t.expose().to_owned())),
            chunk_size: Some(self.chunk_size),
            state: self.state.clone(),
            name_files: false,
            session_only: self.session_only,
            json: self.json,
            json_shape: crate::job::JsonShape::Attachment,
            cancel: self.cancel,
            verbose: self.verbose,
            timeout_ms: self.tuning.timeout_ms,
            retry_initial_ms: self.tuning.retry_initial_ms,
            size_limit: self.tuning.size_limit,
            emulator_faults: self.tuning.emulator_faults.clone(),
        }
    }
}
