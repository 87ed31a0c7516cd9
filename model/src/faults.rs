//! The fault plan: which misbehaviour the emulator shows, on which request.
//!
//! A plan is a list of [`FaultRule`]s. Each rule names a [`Fault`], the
//! [`RequestKind`] it counts and may fire on, and [`When`] it fires: on the
//! Nth matching request, on every Nth, with a probability drawn from the
//! seeded generator, or always. Counting starts when the plan is set
//! ([`crate::Config::faults`] or [`crate::Model::set_faults`]).
//!
//! Session faults ([`Fault::is_session_fault`]) are drawn once per session,
//! when `createUploadSession` succeeds, and shape that session for its life.
//! Request faults are drawn once per request that was authenticated and
//! routed to something that exists (for a PUT: once its headers passed the
//! checks of docs/protocol.md §3); at most one request fault applies to a request:
//! the first rule, in order, that fires. Every matching rule counts the
//! request, fired or not.
//!
//! The same rules have a small text form, used by the binary's `--fault`
//! flag and by [`FaultRule::from_str`](std::str::FromStr):
//!
//! ```text
//! NAME[=ARG][@WHEN][/KIND]
//! ```
//!
//! See [`SPEC_HELP`] for the names.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use crate::rng::SplitMix64;

/// The text form of fault rules, as the binary's `--help` prints it.
pub const SPEC_HELP: &str = "\
FAULT SPEC: NAME[=ARG][@WHEN][/KIND]
  session faults (drawn when createUploadSession succeeds):
    created            create answers 201 instead of 200
    camel|pascal|mixed key casing of uploadSession bodies
    status-refused[=C] GET on the session answers C (405 default, or 400)
    foreign            uploadUrl on the second origin, credential in ?tempauth=
    query              uploadUrl on the Graph origin with ?tempauth=
    expire[=N]         session gone (404) after N accepted chunks (default 1)
  request faults (at most one per request):
    throttle[=RA]      429 with Retry-After RA (default 1)
    unavailable[=RA]   503 with Retry-After RA (default 1)
    error500           500 without Retry-After
    drop               read part of the body, close without answering
    stall[=MS[,lose]]  wait MS ms (default 2000) before answering; with
                       ',lose' nothing is kept and no answer comes
    range416           416 invalidRange for a PUT
    lose-range         keep the chunk, forget earlier bytes (several ranges)
    lost-final         final PUT: attachment created, connection closed
    lost               the request takes effect, the connection closes unanswered
    expired-token      401 InvalidAuthenticationToken: the token ran out
    rotate-token       401, and from then on only a new token is accepted: the one given
                       with .1 appended (.2 at the next rotation, ...)
    gone               the session is gone (404) from this request on
    kept503[=RA]       PUT kept but answered 503 (RA default: no header)
  RA: seconds (may be fractional: 0.25), date:SECONDS (an HTTP-date that
      far ahead), or none
  WHEN: N (the Nth matching request, default 1), everyN, pF (probability F
        from the seeded generator, e.g. p0.1), always, N+ (the Nth and every one
        after it); then *N: at most N times
  KIND: create, put, final, status, delete, post, read, any (default: put
        for request faults, final for lost-final, create for session faults)
  Several rules: separated by spaces or commas in one text, e.g.
  \"throttle=2@1/create drop@3\"";

/// What a request is, for counting and firing rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RequestKind {
    /// `POST .../attachments/createUploadSession`.
    Create,
    /// `PUT {uploadUrl}/content`, any of them.
    Put,
    /// A PUT that would complete the upload (it carries all missing bytes).
    FinalPut,
    /// `GET {uploadUrl}`.
    Status,
    /// `DELETE {uploadUrl}`.
    Delete,
    /// The single `POST .../attachments` (docs/protocol.md §7).
    Post,
    /// `GET` of the attachment list, one attachment or its `$value`.
    Read,
    /// Every request.
    Any,
}

impl RequestKind {
    /// Whether a rule counting `self` counts a request of kind `actual`.
    pub(crate) fn matches(self, actual: RequestKind, is_final: bool) -> bool {
        match self {
            RequestKind::Any => true,
            RequestKind::FinalPut => actual == RequestKind::Put && is_final,
            other => other == actual,
        }
    }
}

/// The value of a `Retry-After` header (docs/protocol.md §9).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RetryAfter {
    /// Delta seconds; written as an integer when whole, else with up to
    /// three decimals (`0.25`).
    Delta(Duration),
    /// An HTTP-date this far in the future (rounded up to whole seconds).
    Date(Duration),
}

/// Key casing of uploadSession bodies (docs/protocol.md §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KeyCase {
    /// `uploadUrl`, `expirationDateTime`, `nextExpectedRanges`.
    #[default]
    Camel,
    /// `UploadUrl`, `ExpirationDateTime`, `NextExpectedRanges`.
    Pascal,
    /// Both in one body: `uploadUrl`, `ExpirationDateTime`, `nextExpectedRanges`.
    Mixed,
}

/// One misbehaviour.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// Session: createUploadSession answers `201 Created` instead of `200`.
    CreatedStatus,
    /// Session: key casing of the session's JSON bodies.
    KeyCase(KeyCase),
    /// Session: `GET {uploadUrl}` is refused with this status (405 or 400).
    StatusRefused(u16),
    /// Session: the uploadUrl is on the second origin and carries
    /// `?tempauth=`; requests there must not carry `Authorization`.
    ForeignOrigin,
    /// Session: the uploadUrl is on the Graph origin and carries
    /// `?tempauth=`, which every request on the session must keep.
    QueryOnGraphOrigin,
    /// Session: after this many accepted chunks the session is gone (404).
    ExpireAfterChunks(u32),
    /// Request: `429 Too Many Requests`, with `Retry-After` if given.
    TooManyRequests(Option<RetryAfter>),
    /// Request: `503 Service Unavailable`, with `Retry-After` if given;
    /// nothing is kept.
    Unavailable(Option<RetryAfter>),
    /// Request: `500 Internal Server Error`, no `Retry-After`.
    InternalError,
    /// Request: read about half of the body, keep nothing, close the
    /// connection without answering.
    DropMidBody,
    /// Request: wait `delay` before answering. With `keep` the request takes
    /// effect and is answered late; without, the body is read and dropped and
    /// the connection closed after the delay, unanswered.
    Stall {
        /// How long to wait.
        delay: Duration,
        /// Whether the request (the chunk, for a PUT) takes effect.
        keep: bool,
    },
    /// Request (PUT): `416` with code `invalidRange`; nothing kept.
    RangeNotSatisfiable,
    /// Request (PUT): keep the chunk, then forget some earlier bytes, so the
    /// answer lists several nextExpectedRanges (docs/protocol.md §4).
    LoseRange,
    /// Request (final PUT): the attachment is created, the session is gone,
    /// and the connection closes without an answer (docs/protocol.md §8).
    LostFinalAnswer,
    /// Request (PUT): the chunk is kept, yet the answer is `503`
    /// (docs/protocol.md §9), with `Retry-After` if given.
    UnavailableKept(Option<RetryAfter>),
    /// Request: the request takes effect and the connection closes without an answer
    /// (docs/protocol.md §8): [`Fault::LostFinalAnswer`] for any request.
    AnswerLost,
    /// Request: `401 InvalidAuthenticationToken`, as when the bearer token ran out
    /// (docs/protocol.md §9); nothing is done.
    Unauthorized,
    /// Request: the accepted token changes (to the configured one with `.1`, `.2`, ...
    /// appended) and this request is answered `401`, as when a token is rotated mid-upload.
    RotateToken,
    /// Request (on a session): the session is gone before this request, which is answered
    /// `404` like every later one.
    SessionGone,
}

impl Fault {
    /// Session faults are drawn when a session is created and last its life.
    pub fn is_session_fault(&self) -> bool {
        matches!(
            self,
            Fault::CreatedStatus
                | Fault::KeyCase(_)
                | Fault::StatusRefused(_)
                | Fault::ForeignOrigin
                | Fault::QueryOnGraphOrigin
                | Fault::ExpireAfterChunks(_)
        )
    }

    /// The kind a rule for this fault counts unless told otherwise.
    pub fn default_kind(&self) -> RequestKind {
        if self.is_session_fault() {
            RequestKind::Create
        } else if *self == Fault::LostFinalAnswer {
            RequestKind::FinalPut
        } else {
            RequestKind::Put
        }
    }

    /// Whether this request fault can apply to a request of this kind.
    pub(crate) fn applies_to(&self, kind: RequestKind, is_final: bool) -> bool {
        match self {
            Fault::TooManyRequests(_)
            | Fault::Unavailable(_)
            | Fault::InternalError
            | Fault::Stall { .. }
            | Fault::AnswerLost
            | Fault::Unauthorized
            | Fault::RotateToken => true,
            Fault::SessionGone => matches!(
                kind,
                RequestKind::Put | RequestKind::Status | RequestKind::Delete
            ),
            Fault::DropMidBody => matches!(
                kind,
                RequestKind::Put | RequestKind::Create | RequestKind::Post
            ),
            Fault::RangeNotSatisfiable | Fault::LoseRange | Fault::UnavailableKept(_) => {
                kind == RequestKind::Put
            }
            Fault::LostFinalAnswer => kind == RequestKind::Put && is_final,
            _ => false,
        }
    }

    /// A short name, as in the text form (`throttle`, `lose-range`, ...).
    pub fn name(&self) -> &'static str {
        match self {
            Fault::CreatedStatus => "created",
            Fault::KeyCase(KeyCase::Camel) => "camel",
            Fault::KeyCase(KeyCase::Pascal) => "pascal",
            Fault::KeyCase(KeyCase::Mixed) => "mixed",
            Fault::StatusRefused(_) => "status-refused",
            Fault::ForeignOrigin => "foreign",
            Fault::QueryOnGraphOrigin => "query",
            Fault::ExpireAfterChunks(_) => "expire",
            Fault::TooManyRequests(_) => "throttle",
            Fault::Unavailable(_) => "unavailable",
            Fault::InternalError => "error500",
            Fault::DropMidBody => "drop",
            Fault::Stall { .. } => "stall",
            Fault::RangeNotSatisfiable => "range416",
            Fault::LoseRange => "lose-range",
            Fault::LostFinalAnswer => "lost-final",
            Fault::UnavailableKept(_) => "kept503",
            Fault::AnswerLost => "lost",
            Fault::Unauthorized => "expired-token",
            Fault::RotateToken => "rotate-token",
            Fault::SessionGone => "gone",
        }
    }
}

/// When a rule fires, among the requests it counts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum When {
    /// On the Nth counted request (1-based), once.
    Nth(u64),
    /// On every Nth counted request.
    Every(u64),
    /// With this probability, drawn from the plan's seeded generator.
    Chance(f64),
    /// On every counted request.
    Always,
    /// On the Nth counted request (1-based) and every one after it: a server stuck from
    /// then on.
    From(u64),
}

/// A fault, the requests it counts, and when it fires.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultRule {
    /// The misbehaviour.
    pub fault: Fault,
    /// The requests this rule counts and may fire on.
    pub on: RequestKind,
    /// When it fires.
    pub when: When,
    /// Fire at most this many times (no limit if `None`).
    pub times: Option<u64>,
}

impl FaultRule {
    /// Fires on the Nth request of the fault's default kind (1-based).
    pub fn nth(n: u64, fault: Fault) -> Self {
        Self::with_when(When::Nth(n), fault)
    }

    /// Fires on every request of the fault's default kind.
    pub fn always(fault: Fault) -> Self {
        Self::with_when(When::Always, fault)
    }

    /// Fires on every Nth request of the fault's default kind.
    pub fn every(n: u64, fault: Fault) -> Self {
        Self::with_when(When::Every(n), fault)
    }

    /// Fires with probability `p` on requests of the fault's default kind.
    pub fn chance(p: f64, fault: Fault) -> Self {
        Self::with_when(When::Chance(p), fault)
    }

    fn with_when(when: When, fault: Fault) -> Self {
        FaultRule {
            on: fault.default_kind(),
            fault,
            when,
            times: None,
        }
    }

    /// Counts requests of `kind` instead of the default kind.
    pub fn on(mut self, kind: RequestKind) -> Self {
        self.on = kind;
        self
    }

    /// Fires at most `n` times.
    pub fn times(mut self, n: u64) -> Self {
        self.times = Some(n);
        self
    }
}

/// A fault plan: rules and the seed of their generator.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Faults {
    /// The rules, in priority order.
    pub rules: Vec<FaultRule>,
    /// Seed of the generator for [`When::Chance`] rules; `None` derives it
    /// from [`crate::Config::seed`].
    pub seed: Option<u64>,
}

impl Faults {
    /// A plan with no faults.
    pub fn none() -> Self {
        Faults::default()
    }

    /// This plan plus one rule.
    pub fn with(mut self, rule: FaultRule) -> Self {
        self.rules.push(rule);
        self
    }

    /// This plan with its own generator seed.
    pub fn seeded(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// Parses rules in the text form, one per item.
    pub fn parse<S: AsRef<str>>(specs: &[S]) -> Result<Self, FaultSpecError> {
        let rules = specs
            .iter()
            .map(|s| s.as_ref().parse())
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Faults { rules, seed: None })
    }

    /// Parses a whole plan written as one text: rules separated by spaces or commas
    /// (`"throttle=2@1/create drop@3"`), an optional `seed=N` among them. The empty text is
    /// the plan with no faults. The inverse of [`Faults`]'s `Display`.
    pub fn plan(text: &str) -> Result<Self, FaultSpecError> {
        let mut faults = Faults::none();
        // A comma also separates `stall=MS,lose`: rejoin that one.
        let mut words: Vec<String> = Vec::new();
        for word in text.split([' ', '\n', '\t']).flat_map(|w| w.split(',')) {
            match words.last_mut() {
                Some(last) if word.starts_with("lose") && last.starts_with("stall=") => {
                    last.push(',');
                    last.push_str(word);
                }
                _ if word.is_empty() => {}
                _ => words.push(word.to_string()),
            }
        }
        for word in words {
            if let Some(seed) = word.strip_prefix("seed=") {
                let seed = seed.parse().map_err(|_| FaultSpecError {
                    spec: word.clone(),
                    reason: format!("{seed:?} is not a seed"),
                })?;
                faults.seed = Some(seed);
            } else {
                faults.rules.push(word.parse()?);
            }
        }
        Ok(faults)
    }
}

/// A fault spec that does not parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaultSpecError {
    /// The spec as given.
    pub spec: String,
    /// What was wrong with it.
    pub reason: String,
}

fn seconds(d: Duration) -> String {
    let text = format!("{:.3}", d.as_secs_f64());
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

impl fmt::Display for Fault {
    /// The text form: `NAME[=ARG]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())?;
        let ra = |f: &mut fmt::Formatter<'_>, ra: &Option<RetryAfter>| match ra {
            None => f.write_str("=none"),
            Some(RetryAfter::Delta(d)) => write!(f, "={}", seconds(*d)),
            Some(RetryAfter::Date(d)) => write!(f, "=date:{}", seconds(*d)),
        };
        match self {
            Fault::StatusRefused(c) => write!(f, "={c}"),
            Fault::ExpireAfterChunks(n) => write!(f, "={n}"),
            Fault::TooManyRequests(r) | Fault::Unavailable(r) | Fault::UnavailableKept(r) => {
                ra(f, r)
            }
            Fault::Stall { delay, keep } => {
                write!(f, "={}", delay.as_millis())?;
                if !keep {
                    f.write_str(",lose")?;
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }
}

impl fmt::Display for FaultRule {
    /// The text form `NAME[=ARG]@WHEN[*N]/KIND`, which parses back to this rule.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@", self.fault)?;
        match self.when {
            When::Nth(n) => write!(f, "{n}")?,
            When::Every(n) => write!(f, "every{n}")?,
            When::Chance(p) => write!(f, "p{p}")?,
            When::Always => f.write_str("always")?,
            When::From(n) => write!(f, "{n}+")?,
        }
        if let Some(n) = self.times {
            write!(f, "*{n}")?;
        }
        if self.fault.is_session_fault() {
            return Ok(());
        }
        let kind = match self.on {
            RequestKind::Create => "create",
            RequestKind::Put => "put",
            RequestKind::FinalPut => "final",
            RequestKind::Status => "status",
            RequestKind::Delete => "delete",
            RequestKind::Post => "post",
            RequestKind::Read => "read",
            RequestKind::Any => "any",
        };
        write!(f, "/{kind}")
    }
}

impl fmt::Display for Faults {
    /// The plan as one text, rules separated by spaces, as [`Faults::plan`] reads it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for rule in &self.rules {
            if !first {
                f.write_str(" ")?;
            }
            first = false;
            write!(f, "{rule}")?;
        }
        if let Some(seed) = self.seed {
            if !first {
                f.write_str(" ")?;
            }
            write!(f, "seed={seed}")?;
        }
        Ok(())
    }
}

impl fmt::Display for FaultSpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "fault spec {:?}: {}", self.spec, self.reason)
    }
}

impl std::error::Error for FaultSpecError {}

fn parse_retry_after(
    arg: Option<&str>,
    default: Option<f64>,
) -> Result<Option<RetryAfter>, String> {
    let secs = |t: &str| -> Result<Duration, String> {
        let v: f64 = t
            .parse()
            .map_err(|_| format!("Retry-After {t:?} is not a number of seconds"))?;
        if !(0.0..=86_400.0).contains(&v) {
            return Err(format!("Retry-After {t:?} out of 0..=86400"));
        }
        Ok(Duration::from_secs_f64(v))
    };
    match arg {
        None => Ok(default.map(|s| RetryAfter::Delta(Duration::from_secs_f64(s)))),
        Some("none") => Ok(None),
        Some(a) => match a.strip_prefix("date:") {
            Some(rest) => Ok(Some(RetryAfter::Date(secs(rest)?))),
            None => Ok(Some(RetryAfter::Delta(secs(a)?))),
        },
    }
}

fn parse_fault(name: &str, arg: Option<&str>) -> Result<Fault, String> {
    let no_arg = |f: Fault| match arg {
        None => Ok(f),
        Some(_) => Err(format!("{name} takes no argument")),
    };
    let number = |default: u64| -> Result<u64, String> {
        arg.map_or(Ok(default), |a| {
            a.parse().map_err(|_| format!("{a:?} is not a number"))
        })
    };
    match name {
        "created" => no_arg(Fault::CreatedStatus),
        "camel" => no_arg(Fault::KeyCase(KeyCase::Camel)),
        "pascal" => no_arg(Fault::KeyCase(KeyCase::Pascal)),
        "mixed" => no_arg(Fault::KeyCase(KeyCase::Mixed)),
        "status-refused" => match number(405)? {
            c @ (400 | 405) => Ok(Fault::StatusRefused(c as u16)),
            c => Err(format!("status-refused takes 400 or 405, not {c}")),
        },
        "foreign" => no_arg(Fault::ForeignOrigin),
        "query" => no_arg(Fault::QueryOnGraphOrigin),
        "expire" => {
            let n = number(1)?;
            u32::try_from(n)
                .map(Fault::ExpireAfterChunks)
                .map_err(|_| format!("expire count {n} too large"))
        }
        "throttle" => Ok(Fault::TooManyRequests(parse_retry_after(arg, Some(1.0))?)),
        "unavailable" => Ok(Fault::Unavailable(parse_retry_after(arg, Some(1.0))?)),
        "kept503" => Ok(Fault::UnavailableKept(parse_retry_after(arg, None)?)),
        "error500" => no_arg(Fault::InternalError),
        "drop" => no_arg(Fault::DropMidBody),
        "stall" => {
            let (ms, keep) = match arg {
                None => (2000, true),
                Some(a) => {
                    let (ms, lose) = match a.split_once(',') {
                        Some((ms, "lose")) => (ms, true),
                        Some((_, other)) => return Err(format!("stall option {other:?}")),
                        None => (a, false),
                    };
                    let ms: u64 = ms.parse().map_err(|_| format!("{ms:?} is not ms"))?;
                    (ms, !lose)
                }
            };
            Ok(Fault::Stall {
                delay: Duration::from_millis(ms),
                keep,
            })
        }
        "range416" => no_arg(Fault::RangeNotSatisfiable),
        "lose-range" => no_arg(Fault::LoseRange),
        "lost-final" => no_arg(Fault::LostFinalAnswer),
        "lost" => no_arg(Fault::AnswerLost),
        "expired-token" => no_arg(Fault::Unauthorized),
        "rotate-token" => no_arg(Fault::RotateToken),
        "gone" => no_arg(Fault::SessionGone),
        other => Err(format!("unknown fault {other:?}")),
    }
}

fn parse_when(text: &str) -> Result<When, String> {
    if text == "always" {
        return Ok(When::Always);
    }
    if let Some(n) = text.strip_suffix('+') {
        return match n.parse() {
            Ok(n) if n > 0 => Ok(When::From(n)),
            _ => Err(format!("bad from count {n:?}")),
        };
    }
    if let Some(n) = text.strip_prefix("every") {
        return match n.parse() {
            Ok(n) if n > 0 => Ok(When::Every(n)),
            _ => Err(format!("bad every count {n:?}")),
        };
    }
    if let Some(p) = text.strip_prefix('p') {
        return match p.parse::<f64>() {
            Ok(p) if (0.0..=1.0).contains(&p) => Ok(When::Chance(p)),
            _ => Err(format!("bad probability {p:?}")),
        };
    }
    match text.parse() {
        Ok(n) if n > 0 => Ok(When::Nth(n)),
        _ => Err(format!("bad WHEN {text:?}")),
    }
}

fn parse_kind(text: &str) -> Result<RequestKind, String> {
    Ok(match text {
        "create" => RequestKind::Create,
        "put" => RequestKind::Put,
        "final" => RequestKind::FinalPut,
        "status" => RequestKind::Status,
        "delete" => RequestKind::Delete,
        "post" => RequestKind::Post,
        "read" => RequestKind::Read,
        "any" => RequestKind::Any,
        other => return Err(format!("unknown KIND {other:?}")),
    })
}

impl FromStr for FaultRule {
    type Err = FaultSpecError;

    fn from_str(spec: &str) -> Result<Self, Self::Err> {
        let parse = || -> Result<FaultRule, String> {
            let (rest, kind) = match spec.rsplit_once('/') {
                Some((rest, kind)) => (rest, Some(parse_kind(kind)?)),
                None => (spec, None),
            };
            let (rest, when, times) = match rest.split_once('@') {
                Some((rest, when)) => match when.split_once('*') {
                    Some((when, n)) => match n.parse() {
                        Ok(n) if n > 0 => (rest, parse_when(when)?, Some(n)),
                        _ => return Err(format!("bad times {n:?}")),
                    },
                    None => (rest, parse_when(when)?, None),
                },
                None => (rest, When::Nth(1), None),
            };
            let (name, arg) = match rest.split_once('=') {
                Some((name, arg)) => (name, Some(arg)),
                None => (rest, None),
            };
            let fault = parse_fault(name, arg)?;
            let on = match kind {
                Some(_) if fault.is_session_fault() => {
                    return Err("session faults always count creates".into())
                }
                Some(k) => k,
                None => fault.default_kind(),
            };
            Ok(FaultRule {
                fault,
                on,
                when,
                times,
            })
        };
        parse().map_err(|reason| FaultSpecError {
            spec: spec.to_string(),
            reason,
        })
    }
}

/// A plan in use: its rules with their counters and generator.
#[derive(Debug)]
pub(crate) struct ActivePlan {
    rules: Vec<(FaultRule, u64, u64)>,
    rng: SplitMix64,
}

impl ActivePlan {
    pub(crate) fn new(faults: Faults, default_seed: u64) -> Self {
        let seed = faults.seed.unwrap_or(default_seed ^ 0x6661_756c_7473);
        ActivePlan {
            rules: faults.rules.into_iter().map(|r| (r, 0, 0)).collect(),
            rng: SplitMix64::new(seed),
        }
    }

    fn fires(rng: &mut SplitMix64, rule: &FaultRule, seen: u64, fired: u64) -> bool {
        if rule.times.is_some_and(|t| fired >= t) {
            return false;
        }
        match rule.when {
            When::Nth(n) => seen == n,
            When::Every(n) => n > 0 && seen % n == 0,
            When::Chance(p) => rng.next_f64() < p,
            When::Always => true,
            When::From(n) => seen >= n,
        }
    }

    /// The request fault for one request, if any fires.
    pub(crate) fn draw_request(&mut self, kind: RequestKind, is_final: bool) -> Option<Fault> {
        let mut chosen = None;
        for (rule, seen, fired) in &mut self.rules {
            if rule.fault.is_session_fault()
                || !rule.on.matches(kind, is_final)
                || !rule.fault.applies_to(kind, is_final)
            {
                continue;
            }
            *seen += 1;
            if Self::fires(&mut self.rng, rule, *seen, *fired) && chosen.is_none() {
                *fired += 1;
                chosen = Some(rule.fault.clone());
            }
        }
        chosen
    }

    /// The session faults for one new session: all that fire.
    pub(crate) fn draw_session(&mut self) -> Vec<Fault> {
        let mut out = Vec::new();
        for (rule, seen, fired) in &mut self.rules {
            if !rule.fault.is_session_fault() {
                continue;
            }
            *seen += 1;
            if Self::fires(&mut self.rng, rule, *seen, *fired) {
                *fired += 1;
                out.push(rule.fault.clone());
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_specs() {
        let r: FaultRule = "throttle=0.25@3/create".parse().unwrap();
        assert_eq!(
            r.fault,
            Fault::TooManyRequests(Some(RetryAfter::Delta(Duration::from_millis(250))))
        );
        assert_eq!(r.on, RequestKind::Create);
        assert_eq!(r.when, When::Nth(3));
        let r: FaultRule = "stall=50,lose@p0.5".parse().unwrap();
        assert_eq!(
            r.fault,
            Fault::Stall {
                delay: Duration::from_millis(50),
                keep: false
            }
        );
        assert_eq!(r.when, When::Chance(0.5));
        let r: FaultRule = "lost-final".parse().unwrap();
        assert_eq!(r.on, RequestKind::FinalPut);
        let r: FaultRule = "foreign@always".parse().unwrap();
        assert_eq!(r.on, RequestKind::Create);
        let r: FaultRule = "unavailable=date:3@every2".parse().unwrap();
        assert_eq!(
            r.fault,
            Fault::Unavailable(Some(RetryAfter::Date(Duration::from_secs(3))))
        );
        assert_eq!(r.when, When::Every(2));
        for bad in [
            "nope",
            "drop=1",
            "throttle=x",
            "drop@0",
            "drop@p2",
            "drop/upload",
            "foreign/put",
            "status-refused=404",
            "stall=5,keep",
        ] {
            assert!(bad.parse::<FaultRule>().is_err(), "{bad}");
        }
    }

    #[test]
    fn plans_print_and_parse_back() {
        let text = "throttle=0.25@3/create stall=50,lose@p0.5*2/put lost-final@1/final \
                    foreign@always gone@2/status expired-token@every3/any kept503=none@1/put error500@4+/any";
        let plan = Faults::plan(text).unwrap();
        assert_eq!(plan.rules.len(), 8);
        assert_eq!(plan.rules[1].times, Some(2));
        assert_eq!(Faults::plan(&plan.to_string()).unwrap(), plan);
        let seeded = Faults::plan("drop@2, seed=7").unwrap();
        assert_eq!(seeded.seed, Some(7));
        assert_eq!(seeded.to_string(), "drop@2/put seed=7");
        assert_eq!(Faults::plan(" ").unwrap(), Faults::none());
        assert!(Faults::plan("drop@2 nope").is_err());
        assert!(Faults::plan("seed=x").is_err());
        assert!(Faults::plan("drop@1*0").is_err());
    }

    #[test]
    fn nth_counts_matching_requests_only() {
        let faults = Faults::none().with(FaultRule::nth(2, Fault::InternalError));
        let mut plan = ActivePlan::new(faults, 1);
        assert_eq!(plan.draw_request(RequestKind::Status, false), None);
        assert_eq!(plan.draw_request(RequestKind::Put, false), None);
        assert_eq!(
            plan.draw_request(RequestKind::Put, true),
            Some(Fault::InternalError)
        );
        assert_eq!(plan.draw_request(RequestKind::Put, false), None);
    }

    #[test]
    fn chance_is_reproducible_and_times_caps() {
        let mk = || {
            ActivePlan::new(
                Faults::none()
                    .with(FaultRule::chance(0.5, Fault::DropMidBody))
                    .seeded(9),
                0,
            )
        };
        let (mut a, mut b) = (mk(), mk());
        let xs: Vec<_> = (0..50)
            .map(|_| a.draw_request(RequestKind::Put, false))
            .collect();
        let ys: Vec<_> = (0..50)
            .map(|_| b.draw_request(RequestKind::Put, false))
            .collect();
        assert_eq!(xs, ys);
        assert!(xs.iter().any(Option::is_some) && xs.iter().any(Option::is_none));
        let mut c = ActivePlan::new(
            Faults::none().with(FaultRule::always(Fault::InternalError).times(2)),
            0,
        );
        let fired = (0..5)
            .filter(|_| c.draw_request(RequestKind::Put, false).is_some())
            .count();
        assert_eq!(fired, 2);
    }
}
