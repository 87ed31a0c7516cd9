//! `todo-upload` attaches a file to a Microsoft To Do task over a resumable Graph upload
//! session; `graph-upload` does the same for every Graph destination (To Do, OneDrive and
//! SharePoint, Outlook mail and events, Universal Print). Both drive the sans-IO core
//! [`upload_session`] with blocking HTTP (ureq).
//!
//! The binary is a thin shell over [`run`], so tests drive the real uploader in-process:
//!
//! ```no_run
//! use clap::Parser;
//! let args = todo_upload::Args::parse_from(["todo-upload", "report.pdf", "--json"]);
//! let (mut out, mut err) = (Vec::new(), Vec::new());
//! let code = todo_upload::run(&args, &mut out, &mut err);
//! assert_eq!(code, 0);
//! ```
//!
//! Modules: [`args`] the `todo-upload` command line and [`graph_args`] the `graph-upload`
//! one, both read into a [`job::Job`]; [`job`] runs one (destination, state file, the drive
//! loop, the result); [`source`] the file and its byte ranges, [`transport`] one request over
//! ureq, [`drive`] the loop around the core, and [`state_file`] the atomic `--state` file.
//! The embedded emulator serves only the demo mode (no `--graph-url`).

#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]

pub mod args;
pub mod drive;
pub mod graph_args;
pub mod job;
pub mod source;
pub mod state_file;
pub mod transport;

use std::fmt;
use std::io::Write;

pub use args::Args;
pub use graph_args::GraphArgs;

/// Why the program stops without success.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CliError {
    /// The command line cannot work (exit status 2).
    Usage(String),
    /// The upload, or what it needed, failed (exit status 1).
    Failed(String),
}

impl CliError {
    /// The process exit status.
    pub fn exit_code(&self) -> i32 {
        match self {
            CliError::Usage(_) => 2,
            CliError::Failed(_) => 1,
        }
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CliError::Usage(m) | CliError::Failed(m) => f.write_str(m),
        }
    }
}

/// Runs `todo-upload`: uploads (or cancels), prints the result on `out` and messages on
/// `err`, and returns the exit status: 0 success, 1 failure, 2 bad usage.
pub fn run(args: &Args, out: &mut dyn Write, err: &mut dyn Write) -> i32 {
    job::run(&args.to_job(), out, err)
}

/// Runs `graph-upload`, the same uploader for every Graph destination: see [`graph_args`].
pub fn run_graph(args: &GraphArgs, out: &mut dyn Write, err: &mut dyn Write) -> i32 {
    match args.to_job() {
        Ok(job) => job::run(&job, out, err),
        Err(e) => {
            let _ = writeln!(err, "graph-upload: {e}");
            e.exit_code()
        }
    }
}
