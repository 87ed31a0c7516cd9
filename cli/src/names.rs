//! Names instead of IDs: a To Do list by its `displayName`, a task by its `title`, found by
//! reading the lists and the list's tasks page by page (`@odata.nextLink`), the token sent
//! only to the Graph base URL's origin (docs/protocol.md §9).

use std::time::Duration;

use serde_json::Value;

use crate::interrupt;
use crate::token::TokenSource;
use crate::transport::{GetError, Http};
use crate::CliError;

/// Tries of one page before giving up on it.
const TRIES: u32 = 6;
/// The longest wait between two tries.
const MAX_WAIT: Duration = Duration::from_secs(60);

/// Pages read before giving up: a server that keeps linking to more is not followed for ever.
const MAX_PAGES: usize = 200;

/// What to find, and how it is named in messages.
struct Wanted<'a> {
    /// `list` or `task`.
    what: &'static str,
    /// `displayName` or `title`.
    key: &'static str,
    name: &'a str,
    flag: &'static str,
}

/// The ID of the To Do list called `name` under `owner` (`/me` or `/users/{id}`).
pub fn list_id(
    http: &Http,
    token: &TokenSource,
    base: &str,
    owner: &str,
    name: &str,
) -> Result<String, CliError> {
    let base = base.trim_end_matches('/');
    let url = format!("{base}{owner}/todo/lists");
    let wanted = Wanted {
        what: "list",
        key: "displayName",
        name,
        flag: "--list",
    };
    find(http, token, base, &url, &wanted)
}

/// The ID of the task titled `title` in list `list`.
pub fn task_id(
    http: &Http,
    token: &TokenSource,
    base: &str,
    owner: &str,
    list: &str,
    title: &str,
) -> Result<String, CliError> {
    let base = base.trim_end_matches('/');
    let url = format!("{base}{owner}/todo/lists/{}/tasks", encode_segment(list));
    let wanted = Wanted {
        what: "task",
        key: "title",
        name: title,
        flag: "--task",
    };
    find(http, token, base, &url, &wanted)
}

/// `/me`, or `/users/{id}` with the id percent-encoded.
pub fn owner_path(user: Option<&str>) -> String {
    match user {
        Some(u) => format!("/users/{}", encode_segment(u)),
        None => "/me".to_owned(),
    }
}

/// Reads every page; the match is by name, ignoring case, an exact match winning over
/// others that differ only in case.
fn find(
    http: &Http,
    token: &TokenSource,
    base: &str,
    first: &str,
    wanted: &Wanted<'_>,
) -> Result<String, CliError> {
    let mut candidates: Vec<(String, String)> = Vec::new();
    let mut next = Some(first.to_owned());
    let mut pages = 0;
    while let Some(url) = next.take() {
        pages += 1;
        if pages > MAX_PAGES {
            return Err(CliError::Failed(format!(
                "the {}s run past {MAX_PAGES} pages; give {} ID instead",
                wanted.what, wanted.flag
            )));
        }
        if !same_origin(&url, base) {
            return Err(CliError::Failed(format!(
                "the {}s' next page is on another host than Graph's; not sending the token there",
                wanted.what
            )));
        }
        let page = get_page(http, token, &url).map_err(|e| match e {
            CliError::Failed(m) => {
                CliError::Failed(format!("cannot read the To Do {}s: {m}", wanted.what))
            }
            other => other,
        })?;
        let items = page.get("value").and_then(Value::as_array).ok_or_else(|| {
            CliError::Failed(format!(
                "the To Do {}s page has no value array",
                wanted.what
            ))
        })?;
        for item in items {
            let (Some(id), Some(name)) = (
                item.get("id").and_then(Value::as_str),
                item.get(wanted.key).and_then(Value::as_str),
            ) else {
                continue;
            };
            if name.to_lowercase() == wanted.name.to_lowercase() {
                candidates.push((name.to_owned(), id.to_owned()));
            }
        }
        next = page
            .get("@odata.nextLink")
            .and_then(Value::as_str)
            .map(str::to_owned);
    }
    let exact: Vec<&(String, String)> = candidates
        .iter()
        .filter(|(n, _)| n == wanted.name)
        .collect();
    match (candidates.len(), exact.len()) {
        (0, _) => Err(CliError::Failed(format!(
            "no To Do {} is called {:?}",
            wanted.what, wanted.name
        ))),
        (1, _) => Ok(candidates.remove(0).1),
        (_, 1) => Ok(exact[0].1.clone()),
        (n, _) => {
            let names: Vec<String> = candidates
                .iter()
                .map(|(name, id)| format!("{name:?} ({id})"))
                .collect();
            Err(CliError::Failed(format!(
                "{n} To Do {}s are called {:?}: {}; give {} ID instead",
                wanted.what,
                wanted.name,
                names.join(", "),
                wanted.flag
            )))
        }
    }
}

/// One page, tried again after throttling, a server error or no answer (waiting as asked,
/// or longer each time), with a fresh token after a 401 when the token comes from a
/// command; Ctrl-C stops it between tries.
fn get_page(http: &Http, token: &TokenSource, url: &str) -> Result<Value, CliError> {
    let mut refreshed = false;
    let mut tries = 0;
    loop {
        if interrupt::asked() {
            return Err(CliError::Interrupted(
                "interrupted; nothing was sent".into(),
            ));
        }
        tries += 1;
        let wait = match http.get_json(url) {
            Ok(page) => return Ok(page),
            Err(GetError::Status { status: 401, .. }) if token.can_refresh() && !refreshed => {
                refreshed = true;
                let refused = http.token().unwrap_or_default();
                http.set_token(token.refresh(&refused)?);
                Duration::ZERO
            }
            Err(GetError::Status {
                status: 408 | 429 | 500 | 502 | 503 | 504,
                retry_after,
                ..
            }) if tries < TRIES => retry_after.unwrap_or(backoff(tries)).min(MAX_WAIT),
            Err(GetError::Transport(_)) if tries < TRIES => backoff(tries),
            Err(e) => return Err(CliError::Failed(e.to_string())),
        };
        if interrupt::sleep(wait, true, |_| {}) {
            return Err(CliError::Interrupted(
                "interrupted; nothing was sent".into(),
            ));
        }
    }
}

/// 1, 2, 4, 8, ... seconds.
fn backoff(tries: u32) -> Duration {
    Duration::from_secs(1 << tries.saturating_sub(1).min(5))
}

/// Whether `url` is on `base`'s scheme, host and port.
fn same_origin(url: &str, base: &str) -> bool {
    fn origin(u: &str) -> Option<&str> {
        let rest = u.split_once("://")?.1;
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        Some(&u[..u.len() - rest.len() + end])
    }
    matches!((origin(url), origin(base)), (Some(a), Some(b)) if a.eq_ignore_ascii_case(b))
}

/// Percent-encodes a path segment: everything but unreserved characters.
fn encode_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_and_segments() {
        assert!(same_origin(
            "https://g.example/v1.0/me?x",
            "https://G.example/v1.0"
        ));
        assert!(!same_origin(
            "https://g.example.evil/v1.0",
            "https://g.example/v1.0"
        ));
        assert!(!same_origin(
            "http://g.example/v1.0",
            "https://g.example/v1.0"
        ));
        assert!(!same_origin(
            "https://g.example:444/",
            "https://g.example/v1.0"
        ));
        assert_eq!(encode_segment("a b/c=+"), "a%20b%2Fc%3D%2B");
        assert_eq!(owner_path(Some("u 1")), "/users/u%201");
    }
}
