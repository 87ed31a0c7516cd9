//! `todo-upload`: attaches a file to a Microsoft To Do task over a resumable Graph upload
//! session, driving the sans-IO core [`upload_session`] with blocking HTTP (ureq).
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
//! Modules: [`args`] the command line, [`source`] the file and its byte ranges,
//! [`transport`] one request over ureq, [`drive`] the loop around the core, and
//! [`state_file`] the atomic `--state` file. The embedded emulator serves only the demo mode
//! (no `--graph-url`).

#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]

pub mod args;
pub mod drive;
pub mod source;
pub mod state_file;
pub mod transport;

use std::fmt;
use std::io::{IsTerminal, Write};
use std::time::Duration;

use graph_emulator::{Config, Emulator, Faults};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use upload_session::{ConfigError, Options, Owner, RetryPolicy, Target, Upload};

pub use args::Args;
use drive::{Driver, Outcome};
use source::SourceFile;
use state_file::StateFile;
use transport::Http;

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

/// Runs the command: uploads (or cancels), prints the result on `out` and messages on `err`,
/// and returns the exit status: 0 success, 1 failure, 2 bad usage.
pub fn run(args: &Args, out: &mut dyn Write, err: &mut dyn Write) -> i32 {
    match execute(args, out, err) {
        Ok(()) => 0,
        Err(e) => {
            let _ = writeln!(err, "todo-upload: {e}");
            e.exit_code()
        }
    }
}

/// Where the upload goes: a real Graph, or the embedded emulator.
struct Destination {
    base: String,
    token: String,
    owner: Owner,
    list: String,
    task: String,
    emulator: Option<Emulator>,
}

fn destination(args: &Args) -> Result<Destination, CliError> {
    if let Some(base) = &args.graph_url {
        let missing = |what: &str| CliError::Usage(format!("--graph-url needs {what}"));
        return Ok(Destination {
            base: base.clone(),
            token: args
                .token
                .clone()
                .ok_or_else(|| missing("--token or GRAPH_TOKEN"))?,
            owner: args.user.clone().map_or(Owner::Me, Owner::User),
            list: args.list.clone().ok_or_else(|| missing("--list"))?,
            task: args.task.clone().ok_or_else(|| missing("--task"))?,
            emulator: None,
        });
    }
    let faults =
        Faults::parse(&args.emulator_faults).map_err(|e| CliError::Usage(e.to_string()))?;
    let emu = Emulator::start(Config {
        faults,
        ..Config::default()
    })
    .map_err(|e| CliError::Failed(format!("cannot start the embedded emulator: {e}")))?;
    Ok(Destination {
        base: emu.base_url(),
        token: emu.token().to_owned(),
        owner: if args.user.is_some() {
            Owner::User(emu.user_id().to_owned())
        } else {
            Owner::Me
        },
        list: emu.list_id().to_owned(),
        task: emu.task_id().to_owned(),
        emulator: Some(emu),
    })
}

fn execute(args: &Args, out: &mut dyn Write, err: &mut dyn Write) -> Result<(), CliError> {
    let mut file = SourceFile::open(&args.file)
        .map_err(|e| CliError::Failed(format!("cannot read {}: {e}", args.file.display())))?;
    let dest = destination(args)?;
    let target = Target::todo_task(&dest.base, dest.owner.clone(), &dest.list, &dest.task)
        .map_err(|e| CliError::Usage(e.to_string()))?;
    let mut retry = RetryPolicy::default();
    if let Some(ms) = args.retry_initial_ms {
        retry.initial = Duration::from_millis(ms.max(1));
    }
    let options = Options::default()
        .with_chunk_size(args.chunk_size)
        .with_force_session(args.session_only)
        .with_retry(retry)
        .with_size_limit(args.size_limit);

    let mut state = args.state.as_deref().map(StateFile::new);
    let saved = match state.as_mut() {
        Some(s) => s.load().map_err(|e| {
            CliError::Failed(format!(
                "cannot read the state file {}: {e}",
                s.path().display()
            ))
        })?,
        None => None,
    };
    let mut upload = match (&saved, &state) {
        (Some(bytes), Some(s)) => {
            Upload::restore(bytes, target, file.info(), options).map_err(|e| {
                CliError::Failed(format!(
                    "cannot resume from the state file {}: {e}",
                    s.path().display()
                ))
            })?
        }
        _ => Upload::new(target, file.info(), options).map_err(config_error)?,
    };
    if args.cancel {
        match &state {
            Some(s) if saved.is_none() => {
                return Err(CliError::Failed(format!(
                    "no saved upload at {}: nothing to cancel",
                    s.path().display()
                )))
            }
            _ => upload.cancel(drive::now()),
        }
    }

    let had_session = upload.upload_url().is_some();
    // What this run sends and creates: a resumed upload carries the earlier runs' counts.
    let (requests_before, sessions_before) = (upload.requests(), upload.sessions());
    let show_bar =
        !args.verbose && std::io::stdout().is_terminal() && std::io::stderr().is_terminal();
    let progress = show_bar.then(|| {
        let bar = ProgressBar::with_draw_target(Some(file.size()), ProgressDrawTarget::stderr());
        if let Ok(style) =
            ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {bytes_per_sec} {eta}")
        {
            bar.set_style(style);
        }
        bar.set_position(upload.progress().confirmed);
        bar
    });
    let http = Http::new(
        Duration::from_millis(args.timeout_ms.max(1)),
        Some(dest.token.clone()),
    );
    let mut driver = Driver {
        http: &http,
        file: &mut file,
        state: state.as_mut(),
        log: if args.verbose { Some(&mut *err) } else { None },
        progress,
        bytes_sent: 0,
    };
    let outcome = driver.run(&mut upload)?;

    let completion = match outcome {
        Outcome::Cancelled => {
            remove_state(state.as_mut())?;
            let what = if had_session {
                "the upload was cancelled and its session deleted"
            } else {
                "the upload was cancelled; it had no session to delete"
            };
            let _ = writeln!(err, "todo-upload: {what}");
            return Ok(());
        }
        Outcome::Done(c) => c,
    };
    remove_state(state.as_mut())?;

    let verified = match &dest.emulator {
        Some(emu) => Some(verify(emu, &completion.id, &mut file)?),
        None => None,
    };
    if args.json {
        let line = serde_json::json!({
            "attachment_id": completion.id,
            "location": completion.location,
            "size": completion.size,
            "requests": upload.requests() - requests_before,
            "sessions": upload.sessions() - sessions_before,
        });
        let _ = writeln!(out, "{line}");
        if let Some(v) = verified {
            let _ = writeln!(err, "{v}");
        }
    } else {
        let _ = writeln!(
            out,
            "attached {} ({} bytes) as {}{}; {} requests, {} session(s)",
            file.name(),
            completion.size,
            completion.id,
            if completion.found_by_lookup {
                " (found among the task's attachments after the final answer was lost)"
            } else {
                ""
            },
            upload.requests() - requests_before,
            upload.sessions() - sessions_before
        );
        if let Some(v) = verified {
            let _ = writeln!(out, "{v}");
        }
    }
    Ok(())
}

fn config_error(e: ConfigError) -> CliError {
    match e {
        ConfigError::FileTooLarge { .. } | ConfigError::EmptyName => {
            CliError::Failed(e.to_string())
        }
        other => CliError::Usage(other.to_string()),
    }
}

fn remove_state(state: Option<&mut StateFile>) -> Result<(), CliError> {
    match state {
        Some(s) => s.remove().map_err(|e| {
            CliError::Failed(format!(
                "cannot remove the state file {}: {e}",
                s.path().display()
            ))
        }),
        None => Ok(()),
    }
}

/// Reads the attachment back from the embedded emulator and compares it with the file.
fn verify(emu: &Emulator, id: &str, file: &mut SourceFile) -> Result<String, CliError> {
    let attachments = emu.task_attachments();
    let Some(stored) = attachments.iter().find(|a| a.id == id) else {
        return Err(CliError::Failed(format!(
            "the emulator holds no attachment {id}"
        )));
    };
    if attachments.len() != 1 {
        return Err(CliError::Failed(format!(
            "the task holds {} attachments; one was expected",
            attachments.len()
        )));
    }
    let same = file
        .same_bytes(&stored.bytes)
        .map_err(|e| CliError::Failed(format!("cannot read {} to compare: {e}", file.name())))?;
    if !same {
        return Err(CliError::Failed(format!(
            "the stored attachment ({} bytes) differs from the file ({} bytes)",
            stored.bytes.len(),
            file.size()
        )));
    }
    Ok(format!(
        "verified: the emulator's attachment is byte-identical to {} ({} bytes)",
        file.name(),
        file.size()
    ))
}
