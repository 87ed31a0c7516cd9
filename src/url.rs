//! The little URL handling the protocol needs, without a URL crate: checking that a URL is
//! absolute http(s), comparing origins (docs/protocol.md §9: the token goes only to the Graph base
//! URL's origin), percent-encoding IDs as path segments (docs/protocol.md §2), and redacting query
//! strings that may carry credentials (docs/protocol.md §9).

use std::fmt;

/// Scheme, host and port of an absolute http(s) URL: what "same origin" compares.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Origin {
    https: bool,
    /// Lower-cased; IPv6 literals keep their brackets.
    host: String,
    port: u16,
}

/// Why a URL was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    /// Not `http://` or `https://`.
    #[error("URL {0} is not an absolute http or https URL")]
    NotHttp(Redacted),
    /// The authority has no host, a bad port, user info, or characters a URL cannot hold.
    #[error("URL {0} has a malformed or missing host")]
    BadAuthority(Redacted),
    /// Spaces, control characters or non-ASCII characters: a URL must be sent as given, so it
    /// must already be encoded.
    #[error("URL {0} contains spaces, control or non-ASCII characters")]
    BadCharacters(Redacted),
}

/// Splits an absolute http(s) URL into its origin and the rest (path, query, fragment).
pub(crate) fn split_origin(url: &str) -> Result<(Origin, &str), UrlError> {
    if url.bytes().any(|b| b <= b' ' || b >= 0x7f) {
        return Err(UrlError::BadCharacters(Redacted::new(url)));
    }
    let (https, rest) = if let Some(r) = strip_prefix_ci(url, "https://") {
        (true, r)
    } else if let Some(r) = strip_prefix_ci(url, "http://") {
        (false, r)
    } else {
        return Err(UrlError::NotHttp(Redacted::new(url)));
    };
    let bad = || UrlError::BadAuthority(Redacted::new(url));
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    // User info (`https://graph.microsoft.com@evil.example/`) is refused outright: it is the
    // classic way to make a foreign host look like Graph.
    if authority.contains('@') || authority.is_empty() {
        return Err(bad());
    }
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let close = v6.find(']').ok_or_else(bad)?;
        let host = &authority[..close + 2];
        (host, &v6[close + 1..])
    } else {
        match authority.rfind(':') {
            Some(i) => (&authority[..i], &authority[i..]),
            None => (authority, ""),
        }
    };
    let port = match port {
        "" => {
            if https {
                443
            } else {
                80
            }
        }
        p => {
            let digits = p.strip_prefix(':').ok_or_else(bad)?;
            if digits.is_empty() || digits.len() > 5 || !digits.bytes().all(|b| b.is_ascii_digit())
            {
                return Err(bad());
            }
            digits.parse::<u16>().map_err(|_| bad())?
        }
    };
    let host_ok = !host.is_empty()
        && host.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b'[' | b']' | b':')
        });
    if !host_ok {
        return Err(bad());
    }
    Ok((
        Origin {
            https,
            host: host.to_ascii_lowercase(),
            port,
        },
        tail,
    ))
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

/// True when `url` is an absolute http(s) URL on `origin`.
pub(crate) fn same_origin(url: &str, origin: &Origin) -> bool {
    matches!(split_origin(url), Ok((o, _)) if o == *origin)
}

/// Appends `segment` to `out` percent-encoded as one path segment (docs/protocol.md §2: IDs are
/// opaque and may hold `/`, `+` and `=`). Unreserved characters stay, and so does `=`, which a
/// path segment may hold and Graph's own URLs show unencoded; everything else, `/` and `+`
/// included, is encoded.
pub(crate) fn push_segment(out: &mut String, segment: &str) {
    // `.` and `..` are dot segments: a client that normalises the path would resolve them to
    // another resource (RFC 3986 §5.2.4). Encoded, they are plain IDs.
    if segment == "." || segment == ".." {
        out.push_str(if segment == "." { "%2E" } else { "%2E%2E" });
        return;
    }
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in segment.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'=') {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(HEX[(b >> 4) as usize] as char);
            out.push(HEX[(b & 15) as usize] as char);
        }
    }
}

/// Decodes `%XX` escapes; `None` for a malformed escape or bytes that are not UTF-8.
pub(crate) fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = |c: u8| (c as char).to_digit(16);
            let hi = hex(*b.get(i + 1)?)?;
            let lo = hex(*b.get(i + 2)?)?;
            out.push((hi * 16 + lo) as u8);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Inserts `suffix` at the end of the URL's path, before any query or fragment
/// (docs/protocol.md §3: To Do PUTs go to `uploadUrl` + `/content`, before the `?`).
pub(crate) fn append_to_path(url: &str, suffix: &str) -> String {
    let at = url.find(['?', '#']).unwrap_or(url.len());
    let (path, query) = url.split_at(at);
    let path = path.strip_suffix('/').unwrap_or(path);
    let mut out = String::with_capacity(url.len() + suffix.len());
    out.push_str(path);
    out.push_str(suffix);
    out.push_str(query);
    out
}

/// A URL made safe to print: its query and fragment, which may carry credentials such as
/// `tempauth` or `authtoken` (docs/protocol.md §9), and any user info are replaced by `<redacted>`.
/// Long URLs are cut.
#[derive(Clone, PartialEq, Eq)]
pub struct Redacted(String);

impl Redacted {
    /// Redacts `url` for display.
    pub fn new(url: &str) -> Self {
        let at = url.find(['?', '#']);
        let mut head = &url[..at.unwrap_or(url.len())];
        let mut out = String::new();
        // Drop user info, which is a credential too.
        if let Some(scheme_end) = head.find("://") {
            let auth_start = scheme_end + 3;
            let auth_end = head[auth_start..]
                .find('/')
                .map_or(head.len(), |i| auth_start + i);
            if let Some(at_sign) = head[auth_start..auth_end].rfind('@') {
                out.push_str(&head[..auth_start]);
                out.push_str("<redacted>@");
                head = &head[auth_start + at_sign + 1..];
            }
        }
        let limit = 600;
        out.extend(head.chars().take(limit));
        if head.chars().nth(limit).is_some() {
            out.push_str("...");
        }
        if at.is_some() {
            out.push_str("?<redacted>");
        }
        Redacted(out)
    }

    /// The redacted text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Redacted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Redacted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin(u: &str) -> Origin {
        split_origin(u).unwrap().0
    }

    #[test]
    fn origins_compare_scheme_host_and_port() {
        let graph = origin("https://graph.microsoft.com/v1.0");
        assert!(same_origin("https://graph.microsoft.com/beta/x", &graph));
        assert!(same_origin("https://GRAPH.microsoft.com:443/x?y", &graph));
        assert!(same_origin("HTTPS://graph.microsoft.com", &graph));
        assert!(!same_origin("http://graph.microsoft.com/x", &graph));
        assert!(!same_origin("https://graph.microsoft.com:8443/x", &graph));
        assert!(!same_origin(
            "https://graph.microsoft.com.evil.example/x",
            &graph
        ));
        assert!(!same_origin(
            "https://graph.microsoft.com@evil.example/",
            &graph
        ));
        assert!(!same_origin(
            "https://evil.example/graph.microsoft.com",
            &graph
        ));
        assert!(!same_origin("//graph.microsoft.com/x", &graph));
        let local = origin("http://127.0.0.1:8080/v1.0");
        assert!(same_origin("http://127.0.0.1:8080/x", &local));
        assert!(!same_origin("http://127.0.0.1:8081/x", &local));
        assert!(!same_origin("http://localhost:8080/x", &local));
        let v6 = origin("http://[::1]:9000/v1.0");
        assert!(same_origin("http://[::1]:9000/a", &v6));
    }

    #[test]
    fn malformed_urls_are_refused() {
        for bad in [
            "",
            "graph.microsoft.com/v1.0",
            "ftp://graph.microsoft.com/",
            "https://",
            "https:///path",
            "https://host:99999/",
            "https://host:/",
            "https://host:12a/",
            "https://ho st/",
            "https://host/pa th",
            "https://hôst/",
            "https://[::1/",
            "https://user:pw@host/",
        ] {
            assert!(split_origin(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn segments_encode_slash_and_plus_and_keep_equals() {
        let mut s = String::new();
        push_segment(&mut s, "AAMk/AD+li Mm=");
        assert_eq!(s, "AAMk%2FAD%2Bli%20Mm=");
        assert_eq!(percent_decode(&s).as_deref(), Some("AAMk/AD+li Mm="));
        assert_eq!(percent_decode("%zz"), None);
        assert_eq!(percent_decode("%4"), None);
        assert_eq!(percent_decode("%FF"), None);
    }

    #[test]
    fn dot_segment_ids_are_encoded_so_no_client_resolves_them() {
        for (id, want) in [(".", "%2E"), ("..", "%2E%2E"), ("...", "..."), ("a.", "a.")] {
            let mut s = String::from("/tasks/");
            push_segment(&mut s, id);
            assert_eq!(s, format!("/tasks/{want}"), "{id:?}");
            assert_eq!(percent_decode(want).as_deref(), Some(id));
        }
    }

    #[test]
    fn content_goes_on_the_path_before_the_query() {
        assert_eq!(
            append_to_path("https://h/s/1", "/content"),
            "https://h/s/1/content"
        );
        assert_eq!(
            append_to_path("https://h/s/1/", "/content"),
            "https://h/s/1/content"
        );
        assert_eq!(
            append_to_path("https://h/s/1?tempauth=x/y?z", "/content"),
            "https://h/s/1/content?tempauth=x/y?z"
        );
    }

    #[test]
    fn redaction_hides_query_and_user_info() {
        let r = Redacted::new("https://h.example/up/1?tempauth=SECRET#frag");
        assert_eq!(r.as_str(), "https://h.example/up/1?<redacted>");
        let r = Redacted::new("https://me:SECRET@h.example/x");
        assert!(!r.as_str().contains("SECRET"), "{r}");
        assert!(!format!("{r:?}").contains("SECRET"));
    }
}
