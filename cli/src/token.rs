//! Where the bearer token comes from: given once (`--token`, `GRAPH_TOKEN`), or printed by a
//! command (`--token-command`, `GRAPH_TOKEN_COMMAND`) that runs at start and again whenever
//! the server refuses the token (docs/protocol.md §9). The token is never printed, logged or
//! saved; a failing command is reported by its exit status, never by its output.

use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::CliError;

/// A secret given on the command line or in the environment: `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// The secret itself, to send where it belongs.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::str::FromStr for Secret {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Secret(s.to_owned()))
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// The source of the bearer token.
#[derive(Clone)]
pub enum TokenSource {
    /// One token for the whole run.
    Fixed(String),
    /// A shell command whose trimmed standard output is the token; the last token it gave
    /// is shared by every upload of the run (clones share it), so that many files run it once.
    Command(String, Arc<Mutex<Option<String>>>),
}

impl std::fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TokenSource::Fixed(_) => f.write_str("Fixed(<redacted>)"),
            TokenSource::Command(c, _) => f.debug_tuple("Command").field(c).finish(),
        }
    }
}

impl TokenSource {
    /// A token from the command `cmd`.
    pub fn command(cmd: impl Into<String>) -> TokenSource {
        TokenSource::Command(cmd.into(), Arc::default())
    }

    /// A token: the fixed one, or the command's last (running it the first time).
    pub fn fetch(&self) -> Result<String, CliError> {
        self.token_unless(|_| false)
    }

    /// A fresh token: the command runs again (the server refused `refused`), unless another
    /// upload of the run already replaced that one.
    pub fn refresh(&self, refused: &str) -> Result<String, CliError> {
        self.token_unless(|t| t == refused)
    }

    /// The fixed token; or the command's last unless `stale` says it is refused, else a new
    /// one from the command.
    fn token_unless(&self, stale: impl Fn(&str) -> bool) -> Result<String, CliError> {
        match self {
            TokenSource::Fixed(t) => Ok(t.clone()),
            TokenSource::Command(cmd, last) => {
                let mut last = last.lock().unwrap_or_else(|p| p.into_inner());
                if let Some(t) = last.as_ref().filter(|t| !stale(t)) {
                    return Ok(t.clone());
                }
                let t = run_command(cmd)?;
                *last = Some(t.clone());
                Ok(t)
            }
        }
    }

    /// Whether asking again may give another token.
    pub fn can_refresh(&self) -> bool {
        matches!(self, TokenSource::Command(..))
    }
}

/// How long the token command may take (`az` can prompt a sign-in through a browser).
const COMMAND_TIMEOUT: Duration = Duration::from_secs(300);
/// A token is a few kilobytes; more output is not read.
const MAX_OUTPUT: u64 = 64 * 1024;

/// Runs `cmd` through the shell; its standard error goes to ours, its standard output is
/// the token.
fn run_command(cmd: &str) -> Result<String, CliError> {
    let mut shell = if cfg!(windows) {
        let mut c = Command::new("cmd");
        c.args(["/C", cmd]);
        c
    } else {
        let mut c = Command::new("sh");
        c.args(["-c", cmd]);
        c
    };
    let mut child = shell
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| CliError::Failed(format!("cannot run the token command: {e}")))?;
    // Its output is read beside the wait, so that a talkative command cannot fill the pipe
    // and hang; a command that never ends is ended.
    let stdout = child.stdout.take();
    let reader = std::thread::spawn(move || {
        use std::io::Read;
        let mut out = Vec::new();
        if let Some(s) = stdout {
            let _ = s.take(MAX_OUTPUT).read_to_end(&mut out);
        }
        out
    });
    let started = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if started.elapsed() > COMMAND_TIMEOUT => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(CliError::Failed(format!(
                    "the token command gave no token within {} s",
                    COMMAND_TIMEOUT.as_secs()
                )));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => return Err(CliError::Failed(format!("the token command: {e}"))),
        }
    };
    let output = std::process::Output {
        status,
        stdout: reader.join().unwrap_or_default(),
        stderr: Vec::new(),
    };
    if !output.status.success() {
        let status = match output.status.code() {
            Some(code) => format!("exit status {code}"),
            None => "a signal".to_owned(),
        };
        return Err(CliError::Failed(format!(
            "the token command failed ({status}); no token"
        )));
    }
    let token = String::from_utf8(output.stdout).map_err(|_| {
        CliError::Failed("the token command printed something that is not UTF-8".into())
    })?;
    let token = token.trim();
    if token.is_empty() {
        return Err(CliError::Failed(
            "the token command printed no token".into(),
        ));
    }
    if token.chars().any(|c| c.is_control() || c == ' ') {
        return Err(CliError::Failed(
            "the token command printed more than one token (spaces or several lines)".into(),
        ));
    }
    Ok(token.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_command_gives_its_trimmed_output_and_fails_by_status_only() {
        let ok = TokenSource::command("printf '  tok-1\\n'");
        assert_eq!(ok.fetch().unwrap(), "tok-1");
        assert!(ok.can_refresh());
        let e = TokenSource::command("echo secret-output; exit 3")
            .fetch()
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("exit status 3") && !e.contains("secret-output"),
            "{e}"
        );
        let e = TokenSource::command("true").fetch().unwrap_err();
        assert!(e.to_string().contains("no token"), "{e}");
        let e = TokenSource::command("printf 'a\\nb\\n'")
            .fetch()
            .unwrap_err();
        assert!(e.to_string().contains("more than one"), "{e}");
        let secret: Secret = "t0ken".parse().unwrap();
        assert_eq!(format!("{secret:?}"), "<redacted>");
        assert_eq!(
            format!("{:?}", TokenSource::Fixed("t0ken".into())),
            "Fixed(<redacted>)"
        );
    }
}
