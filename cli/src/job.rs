//! One upload as both command lines describe it ([`Job`]), and running it: the state file,
//! the drive loop, a stop (Ctrl-C, a changed file), the read-back from the embedded emulator,
//! and what is printed at the end. Where it goes is `route.rs`.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::Duration;

use graph_emulator::{Emulator, Parent};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use upload_session::{
    ConfigError, Conflict, Drive, DrivePlace, Options, OutlookItem, QuickXorHash, RestoreError,
    RetryPolicy, Upload,
};

use crate::drive::{Driver, Outcome, Stop};
pub use crate::route::with_names_resolved;
use crate::route::{destination, target};
use crate::source::SourceFile;
use crate::state_file::StateFile;
use crate::token::TokenSource;
use crate::transport::Http;
use crate::CliError;

/// Where the file goes (docs/protocol.md §8). IDs left out are the embedded emulator's own,
/// and are required with a Graph URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dest {
    /// A To Do task's attachment.
    Todo {
        /// The list.
        list: Option<String>,
        /// The task.
        task: Option<String>,
        /// The list by its name, looked up when `list` is not given.
        list_name: Option<String>,
        /// The task by its title, looked up when `task` is not given.
        task_title: Option<String>,
        /// `/users/{id}` instead of `/me`.
        user: Option<String>,
    },
    /// A OneDrive or SharePoint file.
    Drive {
        /// In which drive.
        drive: Drive,
        /// Where in it; `None`: the file's name at the root.
        place: Option<DrivePlace>,
        /// What to do when the name is taken.
        conflict: Conflict,
        /// Make the item by an explicit commit (`deferCommit`).
        defer_commit: bool,
    },
    /// An Outlook message's or event's attachment.
    Outlook {
        /// Message or event.
        item: OutlookItem,
        /// Its ID.
        id: Option<String>,
        /// `/users/{id}` instead of `/me`.
        user: Option<String>,
        /// An inline attachment's content ID.
        content_id: Option<String>,
    },
    /// A Universal Print document.
    Print {
        /// The printer.
        printer: Option<String>,
        /// The job.
        job: Option<String>,
        /// The document.
        document: Option<String>,
    },
}

impl Dest {
    /// The name `--json` prints as `target`.
    pub fn name(&self) -> &'static str {
        match self {
            Dest::Todo { .. } => "todo",
            Dest::Drive { .. } => "drive",
            Dest::Outlook {
                item: OutlookItem::Message,
                ..
            } => "mail",
            Dest::Outlook { .. } => "event",
            Dest::Print { .. } => "print",
        }
    }
}

/// How `--json` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsonShape {
    /// `todo-upload`'s: `attachment_id`, `location`, `size`, `requests`, `sessions`.
    Attachment,
    /// `graph-upload`'s: `target`, `id`, `location`, `size`, `requests`, `sessions`, and
    /// `quick_xor_hash` and `web_url` for a drive item.
    Graph,
}

/// One upload, as a command line describes it.
#[derive(Debug, Clone)]
pub struct Job {
    /// The program, for messages.
    pub program: &'static str,
    /// The file.
    pub file: PathBuf,
    /// Where it goes.
    pub dest: Dest,
    /// Graph base URL; `None`: the embedded emulator.
    pub graph_url: Option<String>,
    /// Where the bearer token comes from, with a Graph URL.
    pub token: Option<TokenSource>,
    /// Bytes per PUT; `None`: the destination's default.
    pub chunk_size: Option<u64>,
    /// The state file.
    pub state: Option<PathBuf>,
    /// One of several files: messages and `--json` objects name it.
    pub name_files: bool,
    /// Never the one-request path.
    pub session_only: bool,
    /// One JSON object on stdout.
    pub json: bool,
    /// How that object reads.
    pub json_shape: JsonShape,
    /// Cancel the saved upload.
    pub cancel: bool,
    /// A line per request and answer on stderr.
    pub verbose: bool,
    /// Per-request timeout.
    pub timeout_ms: u64,
    /// The first retry backoff.
    pub retry_initial_ms: Option<u64>,
    /// Overrides the destination's size limit.
    pub size_limit: Option<u64>,
    /// Faults of the embedded emulator.
    pub emulator_faults: Vec<String>,
}

/// Runs `job`: uploads (or cancels), prints the result on `out` and messages on `err`, and
/// returns the exit status: 0 success, 1 failure, 2 bad usage, 130 interrupted.
pub fn run(job: &Job, out: &mut dyn Write, err: &mut dyn Write) -> i32 {
    let terminal = std::io::stdout().is_terminal() && std::io::stderr().is_terminal();
    let bars = (terminal && !job.verbose).then(MultiProgress::new);
    run_with(job, out, err, bars.as_ref())
}

/// [`run`], with progress lines drawn in `bars` (several files share one set of lines).
pub fn run_with(
    job: &Job,
    out: &mut dyn Write,
    err: &mut dyn Write,
    bars: Option<&MultiProgress>,
) -> i32 {
    match execute(job, out, err, bars) {
        Ok(()) => 0,
        Err(e) => {
            let label = match job.name_files {
                true => format!("{}: ", job.file.display()),
                false => String::new(),
            };
            let _ = writeln!(err, "{}: {label}{e}", job.program);
            if job.json && job.name_files && !matches!(e, CliError::Usage(_)) {
                let line = serde_json::json!({
                    "file": job.file.display().to_string(),
                    "target": job.dest.name(),
                    "error": e.to_string(),
                });
                let _ = writeln!(out, "{line}");
            }
            e.exit_code()
        }
    }
}

fn execute(
    job: &Job,
    out: &mut dyn Write,
    err: &mut dyn Write,
    bars: Option<&MultiProgress>,
) -> Result<(), CliError> {
    let program = job.program;
    let mut file = SourceFile::open(&job.file)
        .map_err(|e| CliError::Failed(format!("cannot read {}: {e}", job.file.display())))?;
    let dest = destination(job)?;
    let http = Http::new(
        Duration::from_millis(job.timeout_ms.max(1)),
        Some(dest.token.fetch()?),
    );
    let (target, parent) = target(job, &file, &dest, &http)?;
    let mut retry = RetryPolicy::default();
    if let Some(ms) = job.retry_initial_ms {
        retry.initial = Duration::from_millis(ms.max(1));
    }
    let mut options = Options::default()
        .with_force_session(job.session_only)
        .with_retry(retry)
        .with_size_limit(job.size_limit);
    options.chunk_size = job.chunk_size;

    // A drive item's hash, from one read of the file: the server's is checked against it,
    // and a lost final answer is settled only by an item with these bytes (§8).
    let info = match job.dest {
        Dest::Drive { .. } if !job.cancel => {
            file.info().with_quick_xor_hash(quick_xor_hash(&mut file)?)
        }
        _ => file.info(),
    };
    let mut state = job.state.as_deref().map(StateFile::new);
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
            let cannot = |e: RestoreError| {
                CliError::Failed(format!(
                    "cannot resume from the state file {}: {e}",
                    s.path().display()
                ))
            };
            match Upload::restore(bytes, target.clone(), info, options.clone()) {
                Ok(up) => up,
                // The file changed since: its session can still be deleted, as the saved
                // file's (nothing of the file is sent on the way).
                Err(RestoreError::DifferentFile { .. }) if job.cancel => {
                    let saved = Upload::saved_file(bytes).map_err(cannot)?;
                    Upload::restore(bytes, target, saved, options).map_err(cannot)?
                }
                Err(e) => return Err(cannot(e)),
            }
        }
        _ => Upload::new(target, info, options).map_err(config_error)?,
    };
    if job.cancel {
        match &state {
            Some(s) if saved.is_none() => {
                return Err(CliError::Failed(format!(
                    "no saved upload at {}: nothing to cancel",
                    s.path().display()
                )))
            }
            _ => upload.cancel(crate::drive::now()),
        }
    }

    let had_session = upload.upload_url().is_some();
    // What this run sends and creates: a resumed upload carries the earlier runs' counts.
    let (requests_before, sessions_before) = (upload.requests(), upload.sessions());
    let progress = bars.map(|bars| {
        let bar = bars.add(ProgressBar::with_draw_target(
            Some(file.size()),
            ProgressDrawTarget::stderr(),
        ));
        // The file's name first; a wait's reason and countdown last, in the message.
        if let Ok(style) = ProgressStyle::with_template(
            "{prefix} {bar:30} {bytes}/{total_bytes} {bytes_per_sec} {msg}",
        ) {
            bar.set_style(style);
        }
        bar.set_prefix(file.name());
        bar.set_position(upload.progress().confirmed);
        bar
    });
    let mut driver = Driver::new(&http, &dest.token, &mut file, &mut *err, program);
    driver.state = state.as_mut();
    driver.verbose = job.verbose;
    driver.progress = progress;
    let completion = match driver.run(&mut upload)? {
        Outcome::Stopped(stop) => return Err(stopped(&mut driver, &mut upload, stop)),
        Outcome::Cancelled => {
            remove_state(state.as_mut())?;
            let what = if had_session {
                "the upload was cancelled and its session deleted"
            } else {
                "the upload was cancelled; it had no session to delete"
            };
            let _ = writeln!(err, "{program}: {what}");
            if job.json {
                let mut line = serde_json::json!({
                    "cancelled": true,
                    "session_deleted": had_session,
                    "requests": upload.requests() - requests_before,
                });
                if job.json_shape == JsonShape::Graph {
                    line["target"] = job.dest.name().into();
                }
                if job.name_files {
                    line["file"] = job.file.display().to_string().into();
                }
                let _ = writeln!(out, "{line}");
            }
            return Ok(());
        }
        Outcome::Done(c) => c,
    };
    remove_state(state.as_mut())?;

    let verified = match (&dest.emulator, &parent) {
        (Some(emu), Some(parent)) => {
            Some(verify(emu, parent, &job.dest, &completion.id, &mut file)?)
        }
        _ => None,
    };
    let requests = upload.requests() - requests_before;
    let sessions = upload.sessions() - sessions_before;
    if job.json {
        let mut line = match job.json_shape {
            JsonShape::Attachment => serde_json::json!({
                "attachment_id": completion.id,
                "location": completion.location,
                "size": completion.size,
                "requests": requests,
                "sessions": sessions,
            }),
            JsonShape::Graph => serde_json::json!({
                "target": job.dest.name(),
                "id": completion.id,
                "location": completion.location,
                "size": completion.size,
                "requests": requests,
                "sessions": sessions,
            }),
        };
        if job.name_files {
            line["file"] = job.file.display().to_string().into();
        }
        if let (JsonShape::Graph, Dest::Drive { .. }) = (job.json_shape, &job.dest) {
            // The server's, which the machine found equal to the file's; the file's when
            // the server reported none.
            let hash = completion.quick_xor_hash.clone();
            let hash = hash.or_else(|| upload.file().quick_xor_hash().map(str::to_owned));
            line["quick_xor_hash"] = hash.into();
            line["web_url"] = completion.web_url.clone().into();
        }
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
            match (completion.found_by_lookup, &job.dest) {
                (false, _) => "",
                (true, Dest::Todo { .. }) => {
                    " (found among the task's attachments after the final answer was lost)"
                }
                (true, _) => " (found at the destination after the final answer was lost)",
            },
            requests,
            sessions
        );
        if let Some(v) = verified {
            let _ = writeln!(out, "{v}");
        }
    }
    Ok(())
}

/// The loop stopped on its own. With `--state` the upload is saved to go on later (a changed
/// file: once it is as it was, or to be cancelled with `--cancel`); without, the session is
/// deleted rather than left open.
fn stopped(driver: &mut Driver<'_>, upload: &mut Upload, stop: Stop) -> CliError {
    let (why, interrupted) = match stop {
        Stop::Interrupted => ("interrupted".to_owned(), true),
        Stop::FileChanged(why) => (why, false),
    };
    let make = |text: String| match interrupted {
        true => CliError::Interrupted(text),
        false => CliError::Failed(text),
    };
    let state_path = driver
        .state
        .as_deref()
        .map(|s| s.path().display().to_string());
    if let Some(path) = &state_path {
        if let Err(e) = driver.save(upload) {
            return make(format!("{why}; {e}"));
        }
        return make(match interrupted {
            true => format!(
                "{why}; the upload is saved in {path}: run the same command again to resume"
            ),
            false => format!(
                "{why}; nothing more was sent. The upload is saved in {path}: it goes on once \
                 the file is as it was (same size and modification time); --cancel deletes \
                 its session"
            ),
        });
    }
    let forget = |driver: &mut Driver<'_>| match driver.state.as_deref_mut().map(|s| s.remove()) {
        Some(Err(e)) => format!("; the state file could not be removed: {e}"),
        Some(Ok(())) => "; the state file is removed".to_owned(),
        None => String::new(),
    };
    if upload.upload_url().is_none() && !upload.result_may_exist() {
        let gone = forget(driver);
        return make(format!("{why}; nothing was left on the server{gone}"));
    }
    // Nothing to go on from: delete the session (a second Ctrl-C ends this at once). A
    // result that may exist is looked for first, and reported.
    upload.cancel(crate::drive::now());
    driver.stop_on_interrupt = false;
    let text = match driver.run(upload) {
        Ok(Outcome::Cancelled) => format!("{why}; the upload session was deleted"),
        Ok(Outcome::Done(c)) => format!("{why}; but the upload had already completed, as {}", c.id),
        Ok(Outcome::Stopped(_)) => format!("{why}; the upload session may be left open"),
        Err(e) => format!("{why}; deleting the upload session failed: {e}"),
    };
    let gone = forget(driver);
    make(format!("{text}{gone}"))
}

/// The file's QuickXorHash, read in order once (docs/protocol.md §8).
fn quick_xor_hash(file: &mut SourceFile) -> Result<String, CliError> {
    let mut hash = QuickXorHash::new();
    let range = upload_session::ByteRange::new(0, file.size());
    if let Some(range) = range {
        let mut reader = file
            .range_reader(range)
            .map_err(|e| CliError::Failed(format!("cannot read the file to hash it: {e}")))?;
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = std::io::Read::read(&mut reader, &mut buf)
                .map_err(|e| CliError::Failed(format!("cannot read the file to hash it: {e}")))?;
            if n == 0 {
                break;
            }
            hash.update(&buf[..n]);
        }
    }
    Ok(hash.to_base64())
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

/// Reads the result back from the embedded emulator and compares it with the file.
fn verify(
    emu: &Emulator,
    parent: &Parent,
    dest: &Dest,
    id: &str,
    file: &mut SourceFile,
) -> Result<String, CliError> {
    let what = match dest {
        Dest::Todo { .. } | Dest::Outlook { .. } => "attachment",
        Dest::Drive { .. } => "item",
        Dest::Print { .. } => "document",
    };
    let items = emu.items(parent);
    let Some(stored) = items.iter().find(|a| a.id == id) else {
        return Err(CliError::Failed(format!(
            "the emulator holds no {what} {id}"
        )));
    };
    if items.len() != 1 {
        return Err(CliError::Failed(format!(
            "the destination holds {} of them; one {what} was expected",
            items.len()
        )));
    }
    let same = file
        .same_bytes(&stored.bytes)
        .map_err(|e| CliError::Failed(format!("cannot read {} to compare: {e}", file.name())))?;
    if !same {
        return Err(CliError::Failed(format!(
            "the stored {what} ({} bytes) differs from the file ({} bytes)",
            stored.bytes.len(),
            file.size()
        )));
    }
    Ok(format!(
        "verified: the emulator's {what} is byte-identical to {} ({} bytes)",
        file.name(),
        file.size()
    ))
}
