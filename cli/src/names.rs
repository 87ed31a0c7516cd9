//! Names instead of IDs: a To Do list by its `displayName`, a task by its `title`, found by
//! reading the lists and the list's tasks page by page (`@odata.nextLink`), the token sent
//! only to the Graph base URL's origin (docs/protocol.md §9).

use serde_json::Value;

use crate::transport::Http;
use crate::CliError;

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
pub fn list_id(http: &Http, base: &str, owner: &str, name: &str) -> Result<String, CliError> {
    let url = format!("{base}{owner}/todo/lists");
    let wanted = Wanted {
        what: "list",
        key: "displayName",
        name,
        flag: "--list",
    };
    find(http, base, &url, &wanted)
}

/// The ID of the task titled `title` in list `list`.
pub fn task_id(
    http: &Http,
    base: &str,
    owner: &str,
    list: &str,
    title: &str,
) -> Result<String, CliError> {
    let url = format!("{base}{owner}/todo/lists/{}/tasks", encode_segment(list));
    let wanted = Wanted {
        what: "task",
        key: "title",
        name: title,
        flag: "--task",
    };
    find(http, base, &url, &wanted)
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
fn find(http: &Http, base: &str, first: &str, wanted: &Wanted<'_>) -> Result<String, CliError> {
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
        let page = http.get_json(&url).map_err(|e| {
            CliError::Failed(format!("cannot read the To Do {}s: {e}", wanted.what))
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
