//! The invariants every driver may rely on (DESIGN.md section 4), checked on every action a
//! machine gives. The limits come from the core's public constants, so a change there moves
//! the checker with it.

use upload_session::{
    Action, Body, ByteRange, ContentRange, Method, Options, Purpose, PutUrl, Request, RequestId,
    SessionAuth, State, Timestamp, Upload, MAX_LOOKUP_PAGES, MAX_STALLS,
};

/// Watches one machine and checks every action it gives. Panics, naming the broken
/// invariant, when one is broken.
#[derive(Debug, Clone)]
pub struct Checker {
    size: u64,
    chunk: u64,
    /// Requests allowed since the machine was made or restored.
    bound: u64,
    /// Requests emitted since then.
    sent: u64,
    last_id: Option<RequestId>,
    /// The status of the answer fed just before the last poll, if the last input was one.
    pub(crate) last_status: Option<u16>,
    /// The terminal action, once one came: it must stay.
    pub(crate) terminal: Option<Action>,
    /// A secret that must never show in an error (a URL's query credential).
    pub(crate) secret: Option<String>,
    /// The machine was restored from a state that had already ended: its end needs no
    /// fresh answer.
    ended_before: bool,
}

impl Checker {
    /// A checker for `up`, made (or restored) with `options`.
    pub fn new(up: &Upload, options: &Options) -> Self {
        let size = up.file().size();
        let chunk = up.chunk_size();
        let attempts = u64::from(options.retry.max_attempts);
        let restarts = u64::from(options.max_restarts);
        let pages = u64::from(MAX_LOOKUP_PAGES);
        // Per session: every chunk PUT may be met by lost ranges a few times over and by
        // `MAX_STALLS` answers that add nothing, each PUT by a status query, and the session
        // may end in a look-up of `MAX_LOOKUP_PAGES` pages. At most `max_restarts + 1`
        // sessions; a lost single POST is looked for and sent again. Each answer that is
        // not a transient failure may follow `max_attempts - 1` transient ones and as many
        // 401s.
        let chunks = size.div_ceil(chunk.max(1));
        let single = up.state() == State::Posting;
        let per_session = if single {
            0
        } else {
            chunks
                .saturating_mul(4)
                .saturating_add(4 * u64::from(MAX_STALLS) + 1)
                .saturating_mul(2)
                .saturating_add(2 * (pages + 1) + 4)
        };
        let sessions = (restarts + 1).saturating_mul(per_session.saturating_add(1));
        let posts = (attempts + 1) * (pages + 2) + 4;
        let answers = sessions.saturating_add(posts).saturating_add(pages + 8);
        let bound = (2 * attempts + 2).saturating_mul(answers.saturating_add(1));
        Checker {
            size,
            chunk,
            bound,
            sent: 0,
            last_id: None,
            last_status: None,
            terminal: None,
            secret: None,
            ended_before: up.state() == State::Done,
        }
    }

    /// Also checks that `secret` never shows in an error the machine gives.
    pub fn with_secret(mut self, secret: impl Into<String>) -> Self {
        self.secret = Some(secret.into());
        self
    }

    /// How many requests the machine may still emit before the checker calls it a loop.
    pub fn bound(&self) -> u64 {
        self.bound
    }

    /// Notes the status of the answer just fed: `Done` may only follow a 2xx.
    pub fn answered(&mut self, status: Option<u16>) {
        self.last_status = status;
    }

    /// Polls `up` twice at `now` (both must give the same action) and checks the action.
    pub fn poll(&mut self, up: &mut Upload, now: Timestamp) -> Action {
        let a = up.poll(now);
        let b = up.poll(now);
        assert_eq!(a, b, "two polls without input must give the same action");
        self.check(up, &a, now);
        self.last_status = None;
        a
    }

    /// Checks one action `up` gave at `now`.
    pub fn check(&mut self, up: &Upload, action: &Action, now: Timestamp) {
        assert!(
            up.expected_ranges()
                .is_none_or(|e| e.validate(self.size).is_ok()),
            "expected ranges {:?} do not fit a {}-byte file",
            up.expected_ranges(),
            self.size
        );
        let p = up.progress();
        assert!(p.confirmed <= p.total && p.total == self.size, "{p:?}");
        if let Some(t) = &self.terminal {
            assert_eq!(action, t, "a terminal action must stay");
            return;
        }
        match action {
            Action::Send(req) => self.check_request(up, req),
            Action::Wait { until, .. } => {
                assert!(*until > now, "a wait until {until} at {now} is no wait")
            }
            Action::RefreshToken => {}
            Action::Done(c) => {
                // DESIGN.md 4.4: only right after the server confirmed it.
                assert!(
                    self.ended_before || self.last_status.is_some_and(|s| (200..300).contains(&s)),
                    "Done after {:?}, not right after a 2xx answer",
                    self.last_status
                );
                assert!(!c.id.is_empty(), "an empty completion id");
                assert_eq!(c.size, self.size);
                assert_eq!(up.state(), State::Done);
                assert_eq!(up.progress().confirmed, self.size);
                self.terminal = Some(action.clone());
            }
            Action::Failed(e) => {
                if let Some(secret) = &self.secret {
                    assert!(
                        !e.to_string().contains(secret.as_str()),
                        "an error shows a secret: {e}"
                    );
                }
                self.terminal = Some(action.clone());
            }
            Action::Cancelled => self.terminal = Some(action.clone()),
            other => panic!("an action this checker does not know: {other:?}"),
        }
    }

    /// DESIGN.md 4.1-4.3 on one request: growing ids, a bounded count, the token only for
    /// Graph's origin, and a PUT inside the file, on the grid, starting where the server
    /// expects, with headers that agree with its range.
    pub fn check_request(&mut self, up: &Upload, req: &Request) {
        if self.last_id != Some(req.id()) {
            assert!(
                self.last_id.is_none_or(|l| req.id() > l),
                "request ids must grow"
            );
            self.last_id = Some(req.id());
            self.sent += 1;
            assert!(
                self.sent <= self.bound,
                "{} requests, more than the bound {} for a {}-byte file in {}-byte chunks",
                self.sent,
                self.bound,
                self.size,
                self.chunk
            );
        }
        assert_eq!(
            up.in_flight(),
            Some(req),
            "the request sent is the one in flight"
        );
        let target = up.target();
        let profile = target.profile();
        let url = req.url();
        // The token only ever goes to Graph's origin (docs/protocol.md §9), read here
        // independently of the core.
        if req.needs_token() {
            assert!(
                same_origin(url, target.base_url()),
                "token requested for {}",
                req.redacted_url()
            );
        }
        let on_session = matches!(
            req.purpose(),
            Purpose::UploadChunk | Purpose::QueryStatus | Purpose::Cancel | Purpose::Commit
        );
        // A commit only for a target that asked to commit itself (docs/protocol.md §8).
        assert!(
            req.purpose() != Purpose::Commit || target.defers_commit(),
            "a commit for a target that commits on its last range"
        );
        if profile.session_auth == SessionAuth::PreAuthenticated && on_session {
            assert!(!req.needs_token(), "token on a pre-authenticated URL");
        }
        if !on_session {
            assert!(
                req.needs_token(),
                "{:?} goes to Graph with the token",
                req.purpose()
            );
        }
        let is_put = req.method() == Method::Put;
        let single_put = req.purpose() == Purpose::SinglePut;
        assert_eq!(is_put, req.purpose() == Purpose::UploadChunk || single_put);
        if single_put {
            // The whole file to the item's own URL on Graph, and nothing else
            // (docs/protocol.md §8).
            assert!(profile.single_put && req.needs_token());
            let whole = ByteRange::new(0, self.size);
            match req.body() {
                Body::FileRange(r) => {
                    assert_eq!(Some(*r), whole, "a single PUT of part of the file")
                }
                Body::Empty => assert_eq!(self.size, 0, "an empty single PUT of a non-empty file"),
                other => panic!("a single PUT of {other:?}"),
            }
            assert_eq!(req.content_length(), Some(self.size));
            assert_eq!(req.content_range(), None);
            return;
        }
        assert_eq!(is_put, matches!(req.body(), Body::FileRange(_)));
        let headers: Vec<(&str, String)> = req.headers().map(|(n, v)| (n, v.to_string())).collect();
        let header = |name: &str| {
            headers
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.clone())
        };
        if let Some(cl) = req.content_length() {
            assert_eq!(header("Content-Length"), Some(cl.to_string()));
        }
        let Some(r) = req.file_range() else {
            assert_eq!(
                header("Content-Range"),
                None,
                "Content-Range on a {:?}",
                req.method()
            );
            return;
        };
        // DESIGN.md 4.2.
        let size = self.size;
        assert!(r.end() <= size, "PUT {r} outside a file of {size} bytes");
        assert!(
            r.len() <= self.chunk,
            "PUT {r} longer than the chunk size {}",
            self.chunk
        );
        assert!(
            r.len() <= profile.max_chunk,
            "PUT {r} over the target's limit"
        );
        if profile.put_url == PutUrl::AppendContent {
            let path = &url[..url.find(['?', '#']).unwrap_or(url.len())];
            assert!(path.ends_with("/content"), "PUTs go to uploadUrl/content");
        }
        let Some(first) = up.expected_ranges().and_then(|e| e.first()) else {
            panic!("PUT {r} while the server expects nothing");
        };
        assert_eq!(
            r.start(),
            first.start(),
            "PUT {r} does not start at the first expected range {first}"
        );
        assert!(
            r.end() <= first.end(),
            "PUT {r} runs past the expected range {first}"
        );
        let cr = header("Content-Range");
        assert_eq!(
            cr,
            Some(format!("bytes {}-{}/{}", r.start(), r.end() - 1, size))
        );
        assert_eq!(
            cr.as_deref().and_then(ContentRange::parse),
            Some(ContentRange {
                range: r,
                total: size
            })
        );
        assert_eq!(header("Content-Length"), Some(r.len().to_string()));
        assert_eq!(
            header("Content-Type").as_deref(),
            Some("application/octet-stream")
        );
        let align = profile.chunk_align;
        if align > 1 && r.end() != first.end() {
            assert_eq!(r.end() % align, 0, "PUT {r} is off the {align}-byte grid");
        }
    }
}

/// Whether `url` is on the origin of `base`, read independently of the core: the scheme
/// and host in any casing, no user info, the port written or the scheme's default.
pub fn same_origin(url: &str, base: &str) -> bool {
    fn parts(url: &str) -> Option<(String, String, u16)> {
        let (scheme, rest) = url.split_once("://")?;
        let scheme = scheme.to_ascii_lowercase();
        let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
        if authority.contains('@') || authority.is_empty() {
            return None;
        }
        let default = match scheme.as_str() {
            "https" => 443,
            "http" => 80,
            _ => return None,
        };
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => {
                (h, p.parse().ok()?)
            }
            Some(_) => return None,
            None => (authority, default),
        };
        Some((scheme, host.to_ascii_lowercase(), port))
    }
    matches!((parts(url), parts(base)), (Some(a), Some(b)) if a == b)
}

#[cfg(test)]
mod tests {
    use super::same_origin;

    #[test]
    fn origins_read_independently() {
        let base = "https://graph.microsoft.com/v1.0";
        for yes in [
            "https://graph.microsoft.com/v1.0/me",
            "HTTPS://GRAPH.MICROSOFT.COM:443/beta/x",
            "https://graph.microsoft.com?x",
        ] {
            assert!(same_origin(yes, base), "{yes}");
        }
        for no in [
            "http://graph.microsoft.com/v1.0",
            "https://graph.microsoft.com@evil.example/x",
            "https://graph.microsoft.com.evil.example/x",
            "https://graph.microsoft.com:8443/x",
            "https://graph.microsoft.com:/x",
            "https://evil.example/?https://graph.microsoft.com",
        ] {
            assert!(!same_origin(no, base), "{no}");
        }
    }
}
