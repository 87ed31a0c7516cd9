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
//! one, both read into a [`job::Job`]; [`job`] runs one (state file, the drive loop, the
//! result), `route` says where it goes, [`batch`] runs several `--parallel`; [`source`] the
//! file and its byte ranges, [`transport`] one request over ureq, [`drive`] the loop around
//! the core, [`state_file`] the atomic `--state` file, [`token`] `--token-command`, [`names`]
//! To Do names looked up as IDs, [`interrupt`] Ctrl-C.
//! The embedded emulator serves only the demo mode (no `--graph-url`).

#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]

pub mod args;
pub mod batch;
pub mod drive;
pub mod graph_args;
pub mod interrupt;
pub mod job;
pub mod names;
mod route;
pub mod source;
pub mod state_file;
pub mod token;
pub mod transport;

use std::fmt;
use std::io::{IsTerminal, Write};

pub use args::Args;
pub use graph_args::GraphArgs;

/// Why the program stops without success.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CliError {
    /// The command line cannot work (exit status 2).
    Usage(String),
    /// The upload, or what it needed, failed (exit status 1).
    Failed(String),
    /// Stopped by Ctrl-C (exit status 130).
    Interrupted(String),
}

impl CliError {
    /// The process exit status.
    pub fn exit_code(&self) -> i32 {
        match self {
            CliError::Usage(_) => 2,
            CliError::Failed(_) => 1,
            CliError::Interrupted(_) => interrupt::EXIT_INTERRUPTED,
        }
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CliError::Usage(m) | CliError::Failed(m) | CliError::Interrupted(m) => f.write_str(m),
        }
    }
}

/// Runs `todo-upload`: uploads (or cancels), prints the result on `out` and messages on
/// `err`, and returns the exit status: 0 success, 1 failure, 2 bad usage.
pub fn run(args: &Args, out: &mut dyn Write, err: &mut dyn Write) -> i32 {
    job::run(&args.to_job(), out, err)
}

/// Runs `graph-upload`, the same uploader for every Graph destination: see [`graph_args`].
pub fn run_graph(
    args: &GraphArgs,
    out: &mut (dyn Write + Send),
    err: &mut (dyn Write + Send),
) -> i32 {
    if let graph_args::Target::Completions { shell } = &args.target {
        let mut cmd = <GraphArgs as clap::CommandFactory>::command();
        clap_complete::generate(*shell, &mut cmd, "graph-upload", out);
        return 0;
    }
    let mut batch = match args.to_jobs() {
        Ok(batch) => batch,
        Err(e) => {
            let _ = writeln!(err, "graph-upload: {e}");
            return e.exit_code();
        }
    };
    // Several files to one To Do task named by its list's and its own name: looked up once.
    if let [first, _, ..] = batch.jobs.as_slice() {
        if matches!(first.dest, job::Dest::Todo { .. }) {
            match job::with_names_resolved(first) {
                Ok(resolved) => batch
                    .jobs
                    .iter_mut()
                    .for_each(|j| j.dest = resolved.dest.clone()),
                Err(e) => {
                    let _ = writeln!(err, "graph-upload: {e}");
                    return e.exit_code();
                }
            }
        }
    }
    match batch.jobs.as_slice() {
        [job] => job::run(job, out, err),
        _ => {
            let terminal = std::io::stdout().is_terminal() && std::io::stderr().is_terminal();
            let verbose = batch.jobs.iter().any(|j| j.verbose);
            let bars = (terminal && !verbose).then(indicatif::MultiProgress::new);
            batch::run(&batch, out, err, bars.as_ref())
        }
    }
}
