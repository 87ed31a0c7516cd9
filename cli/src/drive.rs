//! The blocking driving loop: poll the core, do what it says (send, sleep, refresh the
//! token), feed the answer back; save the state before every request the core marks as one
//! that may create the result, and after every answer. It says what is happening: `-v`
//! lines per request, a progress line naming the file on a terminal (with each wait's
//! reason and countdown), and otherwise one line per retry.

use std::io::Write;
use std::time::{Duration, Instant, SystemTime};

use indicatif::ProgressBar;
use upload_session::{
    Action, Body, Completion, Error, Failure, Request, Response, State, Timestamp, TransportError,
    Upload, WaitReason,
};

use crate::interrupt;
use crate::source::SourceFile;
use crate::state_file::StateFile;
use crate::token::TokenSource;
use crate::transport::{Http, SendError};
use crate::CliError;

/// How an upload that did not fail ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The attachment exists.
    Done(Completion),
    /// The upload was cancelled and its session deleted.
    Cancelled,
    /// The loop stopped before sending anything more; the upload can go on from its state.
    Stopped(Stop),
}

/// Why the loop stopped on its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stop {
    /// Ctrl-C.
    Interrupted,
    /// The file is no longer the one being uploaded: nothing more of it may be sent.
    FileChanged(String),
}

/// What the loop needs besides the upload itself.
pub struct Driver<'a> {
    /// The HTTP client, holding the token.
    pub http: &'a Http,
    /// Where a fresh token comes from when the server refuses the one sent.
    pub token: &'a TokenSource,
    /// The file.
    pub file: &'a mut SourceFile,
    /// Where to save the state, if anywhere.
    pub state: Option<&'a mut StateFile>,
    /// Messages: `-v` lines, retry lines.
    pub err: &'a mut dyn Write,
    /// `-v`: a line per request and answer.
    pub verbose: bool,
    /// The program, for messages.
    pub program: &'a str,
    /// The progress bar, on a terminal.
    pub progress: Option<ProgressBar>,
    /// File bytes sent in PUT bodies, counting resends.
    pub bytes_sent: u64,
    /// What went wrong last (a transport failure or a refusal), said with the retry that
    /// follows it and with a final failure.
    pub last_problem: Option<String>,
    /// Whether Ctrl-C stops the loop; not while deleting the session after a stop.
    pub stop_on_interrupt: bool,
}

/// The current time, as the core takes it.
pub fn now() -> Timestamp {
    Timestamp::from_system_time(SystemTime::now())
}

impl<'a> Driver<'a> {
    /// A quiet loop: no state file, no progress line, messages only for retries.
    pub fn new(
        http: &'a Http,
        token: &'a TokenSource,
        file: &'a mut SourceFile,
        err: &'a mut dyn Write,
        program: &'a str,
    ) -> Driver<'a> {
        Driver {
            http,
            token,
            file,
            state: None,
            err,
            verbose: false,
            program,
            progress: None,
            bytes_sent: 0,
            last_problem: None,
            stop_on_interrupt: true,
        }
    }

    /// Drives `upload` until it ends, or until it must stop (Ctrl-C, the file changed).
    pub fn run(&mut self, upload: &mut Upload) -> Result<Outcome, CliError> {
        loop {
            // Between requests: nothing is in flight.
            if self.may_stop(upload) {
                return Ok(Outcome::Stopped(Stop::Interrupted));
            }
            let now = now();
            match upload.poll(now) {
                Action::Send(req) => {
                    let has_file = !matches!(req.body(), Body::Empty | Body::Json(_));
                    if has_file {
                        if let Err(why) = self.file.check_unchanged() {
                            // Not sent: the core hears so, and nothing is in flight.
                            upload
                                .handle_transport_error(now, req.id(), TransportError::Connect)
                                .map_err(|e| bug(&e))?;
                            return Ok(Outcome::Stopped(Stop::FileChanged(why)));
                        }
                    }
                    self.exchange(upload, &req)?;
                }
                Action::Wait { until, reason } => {
                    let wait = until.saturating_duration_since(now);
                    let interruptible = self.may_stop_later(upload);
                    if self.wait(wait, reason, interruptible) {
                        return Ok(Outcome::Stopped(Stop::Interrupted));
                    }
                }
                Action::RefreshToken => match self.refresh(upload, now) {
                    Err(_) if self.may_stop(upload) => {
                        return Ok(Outcome::Stopped(Stop::Interrupted))
                    }
                    other => other?,
                },
                Action::Done(c) => {
                    self.finish_progress();
                    // The last bytes must have been the file's: a change while they went
                    // out would not show anywhere else (drive items aside, by their hash).
                    if let Err(why) = self.file.check_unchanged() {
                        return Err(CliError::Failed(format!(
                            "{why}: the upload completed as {}, but it may not hold the file as it is now",
                            c.id
                        )));
                    }
                    return Ok(Outcome::Done(c));
                }
                Action::Failed(e) => {
                    self.finish_progress();
                    return Err(CliError::Failed(self.failure_text(&e)));
                }
                Action::Cancelled => {
                    self.finish_progress();
                    return Ok(Outcome::Cancelled);
                }
                other => return Err(bug(&format_args!("an unknown action {other:?}"))),
            }
        }
    }

    /// Whether Ctrl-C stops the loop now: it was pressed, the upload is not over, and it can
    /// go on later (a state file) or be abandoned without doubt (no result may exist). A
    /// result that may exist without a state file to find it again is looked for first:
    /// stopping then could make the next run attach the file twice.
    fn may_stop(&self, upload: &Upload) -> bool {
        interrupt::asked() && self.may_stop_later(upload)
    }

    /// [`Driver::may_stop`] without the Ctrl-C: whether a wait may be cut short by one.
    fn may_stop_later(&self, upload: &Upload) -> bool {
        let over = matches!(
            upload.state(),
            State::Done | State::Failed | State::Cancelled
        );
        self.stop_on_interrupt && !over && (self.state.is_some() || !upload.result_may_exist())
    }

    /// The core's error, and what failed last on the wire when that is what it gave up on.
    fn failure_text(&self, e: &Error) -> String {
        match (e, &self.last_problem) {
            (
                Error::RetriesExhausted {
                    last: Failure::Transport(_),
                    ..
                },
                Some(p),
            ) => format!("{e}; last: {p}"),
            _ => e.to_string(),
        }
    }

    /// Waits `wait`, saying so; true when interrupted (only if `interruptible`).
    fn wait(&mut self, wait: Duration, reason: WaitReason, interruptible: bool) -> bool {
        let why = match reason {
            WaitReason::RetryAfter => "the server's Retry-After",
            _ => "backoff",
        };
        self.line(format_args!(
            ".. waiting {:.3} s ({why})",
            wait.as_secs_f64()
        ));
        let problem = self
            .last_problem
            .clone()
            .unwrap_or_else(|| "waiting".into());
        let name = self.file.name();
        match &self.progress {
            Some(bar) => {
                let bar = bar.clone();
                let stopped = interrupt::sleep(wait, interruptible, |left| {
                    bar.set_message(format!(
                        "{problem}; retrying in {} s ({why})",
                        left.as_secs_f64().ceil()
                    ));
                });
                bar.set_message("");
                stopped
            }
            None => {
                if !self.verbose && !wait.is_zero() {
                    let _ = writeln!(
                        self.err,
                        "{}: {name}: {problem}; retrying in {:.1} s ({why})",
                        self.program,
                        wait.as_secs_f64()
                    );
                }
                interrupt::sleep(wait, interruptible, |_| {})
            }
        }
    }

    /// The server refused the token: a fresh one from the token command, or (a fixed token)
    /// the same once more; the core fails on a second 401 in a row.
    fn refresh(&mut self, upload: &mut Upload, now: Timestamp) -> Result<(), CliError> {
        if self.token.can_refresh() {
            let refused = self.http.token().unwrap_or_default();
            let token = self.token.refresh(&refused)?;
            self.http.set_token(token);
            self.line(format_args!(
                ".. the server refused the token; got a new one from the token command"
            ));
        } else {
            self.line(format_args!(
                ".. the server refused the token; trying it once more"
            ));
        }
        upload.token_refreshed(now).map_err(|e| bug(&e))
    }

    /// Sends one request and feeds back what came of it.
    fn exchange(&mut self, upload: &mut Upload, req: &Request) -> Result<(), CliError> {
        let range = req
            .content_range()
            .map(|r| format!(" {r}"))
            .unwrap_or_default();
        self.line(format_args!(
            "-> {} {} {}{range}",
            req.id(),
            req.method().as_str(),
            req.redacted_url()
        ));
        // A request that may create the result (the single POST, a final PUT): save first,
        // so that a run that dies with it in flight is resumed by a look-up, not a repeat.
        if req.save_before_sending() {
            self.save(upload)?;
        }
        let started = Instant::now();
        let result = self.http.send(req, self.file);
        let ms = started.elapsed().as_millis();
        if let Some(r) = req.file_range() {
            self.bytes_sent += r.len();
        }
        let now = now();
        match result {
            Ok(answer) => {
                let retry = answer
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .map(|v| format!(", Retry-After: {v}"))
                    .unwrap_or_default();
                let status = answer.status().as_u16();
                self.line(format_args!("<- {} {status} ({ms} ms{retry})", req.id()));
                if status >= 400 {
                    self.last_problem = Some(format!("HTTP {status} to the {}", req.purpose()));
                }
                upload
                    .handle_response(now, req.id(), Response::from(&answer))
                    .map_err(|e| bug(&e))?;
            }
            Err(SendError::Transport(t, text)) => {
                self.line(format_args!("<- {} no answer: {text} ({ms} ms)", req.id()));
                self.last_problem = Some(text);
                upload
                    .handle_transport_error(now, req.id(), t)
                    .map_err(|e| bug(&e))?;
            }
            Err(SendError::File(e)) => {
                return Err(CliError::Failed(format!(
                    "cannot read {}: {e}",
                    self.file.name()
                )))
            }
            Err(SendError::Request(e)) => {
                return Err(CliError::Failed(format!(
                    "cannot send the {} to {}: {e}",
                    req.purpose(),
                    req.redacted_url()
                )))
            }
        }
        // After every answer: a finished upload saves as finished, so that a run that dies
        // before removing the state file resumes into the same result, sending nothing. A
        // finished upload that cannot be saved is still finished: said, not failed.
        match self.save(upload) {
            Err(e) if upload.state() == State::Done => {
                let _ = writeln!(self.err, "{}: warning: {e}", self.program);
            }
            other => other?,
        }
        if let Some(bar) = &self.progress {
            bar.set_position(upload.progress().confirmed);
        }
        Ok(())
    }

    /// Writes the state where `--state` asked, if it did.
    pub fn save(&mut self, upload: &Upload) -> Result<(), CliError> {
        if let Some(state) = self.state.as_deref_mut() {
            state.save(&upload.save()).map_err(|e| {
                CliError::Failed(format!(
                    "cannot save the state to {}: {e}",
                    state.path().display()
                ))
            })?;
        }
        Ok(())
    }

    fn line(&mut self, args: std::fmt::Arguments<'_>) {
        if self.verbose {
            let _ = writeln!(self.err, "{args}");
        }
    }

    fn finish_progress(&mut self) {
        if let Some(bar) = self.progress.take() {
            bar.finish_and_clear();
        }
    }
}

/// The core refused a call: a bug in this driver, reported rather than panicking.
fn bug(e: &dyn std::fmt::Display) -> CliError {
    CliError::Failed(format!("internal error in the upload driver: {e}"))
}
