//! Where the bearer token comes from: given once (`--token`, `GRAPH_TOKEN`), or printed by a
//! command (`--token-command`, `GRAPH_TOKEN_COMMAND`) that runs at start and again whenever
//! the server refuses the token (docs/protocol.md §9). The token is never printed, logged or
//! saved; a failing command is reported by its exit status, never by its output.

use std::process::{Command, Stdio};

use crate::CliError;

/// The source of the bearer token.
#[derive(Clone, PartialEq, Eq)]
pub enum TokenSource {
    /// One token for the whole run.
    Fixed(String),
    /// A shell command whose trimmed standard output is the token.
    Command(String),
}

impl std::fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TokenSource::Fixed(_) => f.write_str("Fixed(<redacted>)"),
            TokenSource::Command(c) => f.debug_tuple("Command").field(c).finish(),
        }
    }
}

impl TokenSource {
    /// A token: the fixed one, or a fresh one from the command.
    pub fn fetch(&self) -> Result<String, CliError> {
        match self {
            TokenSource::Fixed(t) => Ok(t.clone()),
            TokenSource::Command(cmd) => run_command(cmd),
        }
    }

    /// Whether asking again may give another token.
    pub fn can_refresh(&self) -> bool {
        matches!(self, TokenSource::Command(_))
    }
}

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
    let output = shell
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| CliError::Failed(format!("cannot run the token command: {e}")))?;
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
        let ok = TokenSource::Command("printf '  tok-1\\n'".into());
        assert_eq!(ok.fetch().unwrap(), "tok-1");
        assert!(ok.can_refresh());
        let e = TokenSource::Command("echo secret-output; exit 3".into())
            .fetch()
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("exit status 3") && !e.contains("secret-output"),
            "{e}"
        );
        let e = TokenSource::Command("true".into()).fetch().unwrap_err();
        assert!(e.to_string().contains("no token"), "{e}");
        let e = TokenSource::Command("printf 'a\\nb\\n'".into())
            .fetch()
            .unwrap_err();
        assert!(e.to_string().contains("more than one"), "{e}");
        assert_eq!(
            format!("{:?}", TokenSource::Fixed("t0ken".into())),
            "Fixed(<redacted>)"
        );
    }
}
