//! The blocking driving loop: poll the core, do what it says (send, sleep, refresh the
//! token), feed the answer back; save the state before every request the core marks as one
//! that may create the result, and after every answer.

use std::io::Write;
use std::time::{Instant, SystemTime};

use indicatif::ProgressBar;
use upload_session::{Action, Completion, Request, Response, Timestamp, Upload, WaitReason};

use crate::source::SourceFile;
use crate::state_file::StateFile;
use crate::transport::{Http, SendError};
use crate::CliError;

/// How an upload that did not fail ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The attachment exists.
    Done(Completion),
    /// The upload was cancelled and its session deleted.
    Cancelled,
}

/// What the loop needs besides the upload itself.
pub struct Driver<'a> {
    /// The HTTP client, holding the token.
    pub http: &'a Http,
    /// The file.
    pub file: &'a mut SourceFile,
    /// Where to save the state, if anywhere.
    pub state: Option<&'a mut StateFile>,
    /// Where `-v` lines go, if they are wanted.
    pub log: Option<&'a mut dyn Write>,
    /// The progress bar, on a terminal.
    pub progress: Option<ProgressBar>,
    /// File bytes sent in PUT bodies, counting resends.
    pub bytes_sent: u64,
}

/// The current time, as the core takes it.
pub fn now() -> Timestamp {
    Timestamp::from_system_time(SystemTime::now())
}

impl Driver<'_> {
    /// Drives `upload` until it ends.
    pub fn run(&mut self, upload: &mut Upload) -> Result<Outcome, CliError> {
        loop {
            let now = now();
            match upload.poll(now) {
                Action::Send(req) => self.exchange(upload, &req)?,
                Action::Wait { until, reason } => {
                    let wait = until.saturating_duration_since(now);
                    let why = match reason {
                        WaitReason::RetryAfter => "Retry-After",
                        _ => "backoff",
                    };
                    self.line(format_args!(
                        ".. waiting {:.3} s ({why})",
                        wait.as_secs_f64()
                    ));
                    std::thread::sleep(wait);
                }
                Action::RefreshToken => {
                    // The token is static: the core asks once, and fails on a second 401 in
                    // a row.
                    self.line(format_args!(
                        ".. the server refused the token; trying it once more"
                    ));
                    upload.token_refreshed(now).map_err(|e| bug(&e))?;
                }
                Action::Done(c) => {
                    self.finish_progress();
                    return Ok(Outcome::Done(c));
                }
                Action::Failed(e) => {
                    self.finish_progress();
                    return Err(CliError::Failed(e.to_string()));
                }
                Action::Cancelled => {
                    self.finish_progress();
                    return Ok(Outcome::Cancelled);
                }
                other => return Err(bug(&format_args!("an unknown action {other:?}"))),
            }
        }
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
                upload
                    .handle_response(now, req.id(), Response::from(&answer))
                    .map_err(|e| bug(&e))?;
            }
            Err(SendError::Transport(t)) => {
                self.line(format_args!("<- {} no answer: {t} ({ms} ms)", req.id()));
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
        // before removing the state file resumes into the same result, sending nothing.
        self.save(upload)?;
        if let Some(bar) = &self.progress {
            bar.set_position(upload.progress().confirmed);
        }
        Ok(())
    }

    fn save(&mut self, upload: &Upload) -> Result<(), CliError> {
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
        if let Some(log) = self.log.as_deref_mut() {
            let _ = writeln!(log, "{args}");
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
