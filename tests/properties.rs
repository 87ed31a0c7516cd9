//! Property tests: whole uploads against the model server under random faults, persistent
//! failures, clock skew, crashes and restores (DESIGN.md §4). Range parsing has its own
//! properties beside the parser (src/ranges.rs).

mod common;

use std::time::Duration;

use common::*;
use proptest::prelude::*;
use upload_session::{
    Action, Error, FileInfo, Options, ProtocolError, Purpose, Request, Response, Timestamp, Upload,
};

fn fault_strategy() -> impl Strategy<Value = Fault> {
    prop_oneof![
        12 => Just(Fault::None),
        1 => any::<bool>().prop_map(|keep| Fault::Drop { keep }),
        1 => (any::<bool>(), prop::option::of(0u32..3000)).prop_map(|(keep, ms)| Fault::Unavailable {
            keep,
            retry_after: ms.map(|ms| format!("{}.{:03}", ms / 1000, ms % 1000)),
        }),
        1 => prop::option::of(0u32..5).prop_map(|s| Fault::Throttle(s.map(|s| s.to_string()))),
        1 => Just(Fault::Internal),
        1 => Just(Fault::RangeRefused),
        1 => Just(Fault::LoseRange),
        1 => Just(Fault::Expire),
        1 => Just(Fault::Unauthorized),
    ]
}

#[derive(Debug, Clone)]
struct Scenario {
    size: u64,
    chunk: u64,
    force_session: bool,
    faults: Vec<Fault>,
    style: (bool, bool, bool, bool, bool),
    crash_at: Option<usize>,
    crash_kept: bool,
    cancel_at: Option<usize>,
    /// The server's clock minus the client's, up to ten minutes either way.
    skew_ms: i64,
    /// From this request on, every request meets this fault.
    stuck: Option<(usize, Fault)>,
    /// An attachment of the same name and size made this long before the upload began.
    existing_ago_ms: Option<u64>,
}

fn stuck_strategy() -> impl Strategy<Value = Fault> {
    prop_oneof![
        Just(Fault::Internal),
        any::<bool>().prop_map(|keep| Fault::Drop { keep }),
        prop::option::of(0u32..5).prop_map(|s| Fault::Throttle(s.map(|s| s.to_string()))),
        Just(Fault::Unavailable {
            keep: false,
            retry_after: Some("2".into())
        }),
        Just(Fault::Unauthorized),
    ]
}

fn scenario() -> impl Strategy<Value = Scenario> {
    (1u64..=26_214_400, any::<bool>())
        .prop_flat_map(|(size, force)| {
            let min_chunk = (size / 60).max(1);
            (
                (
                    Just(size),
                    min_chunk..=3_999_999u64,
                    Just(force),
                    prop::collection::vec(fault_strategy(), 0..80),
                    any::<(bool, bool, bool, bool, bool)>(),
                    prop::option::of(0usize..60),
                    any::<bool>(),
                    prop::option::weighted(0.2, 0usize..40),
                ),
                (
                    -600_000i64..=600_000,
                    prop::option::weighted(0.15, (0usize..30, stuck_strategy())),
                    prop::option::weighted(0.3, 3_000u64..3_600_000),
                ),
            )
        })
        .prop_map(
            |(
                (size, chunk, force_session, faults, style, crash_at, crash_kept, cancel_at),
                (skew_ms, stuck, existing_ago_ms),
            )| Scenario {
                size,
                chunk,
                force_session,
                faults,
                style,
                crash_at,
                crash_kept,
                cancel_at,
                skew_ms,
                stuck,
                existing_ago_ms,
            },
        )
}

fn options(s: &Scenario) -> Options {
    let mut o = Options::default()
        .with_chunk_size(s.chunk)
        .with_force_session(s.force_session);
    o.retry.seed = s.size;
    o
}

/// Answers one request, telling the model when the machine learns of a session.
fn exchange(up: &mut Upload, model: &mut Model, req: &Request, now: Timestamp, fault: &Fault) {
    match model.handle(req, now, fault) {
        Answer::Http {
            status,
            headers,
            body,
        } => {
            if req.purpose() == Purpose::CreateSession && (200..300).contains(&status) {
                if let Some(last) = model.sessions.last_mut() {
                    last.delivered = true;
                }
            }
            let resp = Response::new(status)
                .headers(headers.iter().map(|(n, v)| (n.as_str(), v.as_str())))
                .body(&body);
            up.handle_response(now, req.id(), resp).unwrap();
        }
        Answer::Transport(t) => up.handle_transport_error(now, req.id(), t).unwrap(),
    }
}

/// DESIGN.md §4 on one scenario, with the server's clock skewed from the client's:
/// termination within the bound; Done means the server holds exactly the file, once, and an
/// older attachment of the same name and size is never taken for it; no request the server
/// would call malformed; no request before a Retry-After; no token to a foreign origin;
/// failures of the kinds the faults can cause; a failure streak ends within the policy's
/// tries with waits that never shrink; a cancel leaves no session the machine knew of open;
/// a state saved after the end restores to the same end and sends nothing, and a failed
/// upload restored goes on to attach the file once.
fn check_scenario(s: &Scenario) -> Result<(), TestCaseError> {
    let file = FileInfo::new("flower.jpg", s.size).with_fingerprint("fp");
    let mut model = Model::new(&file);
    model.skew_ms = s.skew_ms;
    let server_start = model.server_ms(Timestamp::from_unix_millis(START));
    if let Some(ago) = s.existing_ago_ms {
        model = model.with_existing("OLD=", server_start - ago);
    }
    model.style = SessionStyle {
        created_201: s.style.0,
        pascal: s.style.1,
        status_refused: s.style.2,
        foreign: s.style.3,
        query: s.style.4,
        lifetime: None,
    };
    let policy = options(s).retry;
    let mut up = Upload::new(target(), file.clone(), options(s)).unwrap();
    let mut saved: String;
    let mut now = Timestamp::from_unix_millis(START);
    let chunks = s.size.div_ceil(s.chunk);
    let cap = (3 * (4 * chunks + 32) * 12 + 200) as usize;
    let mut sent = 0usize;
    let mut crashed = false;
    let mut cancelled_at = None;
    // Requests and waits once every request fails.
    let mut stuck_sent = 0u32;
    let mut stuck_waits: Vec<Duration> = Vec::new();
    let end = 'drive: loop {
        prop_assert!(sent < cap, "no end after {} requests", sent);
        match up.poll(now) {
            Action::Send(req) => {
                check_request(&up, &req);
                // A careful driver saves before sending too (write-ahead).
                saved = up.save();
                let fault = match &s.stuck {
                    // The model refuses tokens only on Graph's own URLs.
                    Some((_, Fault::Unauthorized)) if !req.url().starts_with(BASE) => {
                        stuck_sent = 0;
                        stuck_waits.clear();
                        Fault::None
                    }
                    Some((from, f)) if sent >= *from => {
                        stuck_sent += 1;
                        f.clone()
                    }
                    _ => s.faults.get(sent).cloned().unwrap_or(Fault::None),
                };
                sent += 1;
                if !crashed && s.crash_at == Some(sent) {
                    // The process dies with this request in flight; the server may
                    // have acted on it. Restart from the last saved state.
                    crashed = true;
                    if s.crash_kept {
                        let _ = model.handle(&req, now, &Fault::None);
                    }
                    let restored =
                        Upload::restore(saved.as_bytes(), target(), file.clone(), options(s));
                    up = restored.map_err(|e| TestCaseError::fail(format!("restore: {e}")))?;
                    // A new process starts a new streak.
                    stuck_sent = 0;
                    stuck_waits.clear();
                    continue 'drive;
                }
                exchange(&mut up, &mut model, &req, now, &fault);
                saved = up.save();
                prop_assert!(!saved.contains("Bearer"));
                if s.cancel_at == Some(sent) {
                    up.cancel(now);
                    cancelled_at = Some(sent);
                    // Deleting is a new unit of work with its own streak.
                    stuck_sent = 0;
                    stuck_waits.clear();
                }
                now = now.saturating_add(Duration::from_millis(7));
            }
            Action::Wait { until, .. } => {
                prop_assert!(until > now);
                if stuck_sent > 0 {
                    stuck_waits.push(until.saturating_duration_since(now));
                }
                now = until;
            }
            Action::RefreshToken => up.token_refreshed(now).unwrap(),
            Action::Done(c) => break End::Done(c),
            Action::Failed(e) => break End::Failed(e),
            Action::Cancelled => break End::Cancelled,
            other => return Err(TestCaseError::fail(format!("unknown action {other:?}"))),
        }
    };
    prop_assert!(
        model.violations.is_empty(),
        "malformed requests: {:?}",
        model.violations
    );
    prop_assert!(
        model.created().len() <= 1,
        "attached twice: {:?}",
        model.attachments
    );
    if stuck_sent > 0 {
        prop_assert!(
            stuck_sent <= policy.max_attempts + 1,
            "{} requests once every request failed (max_attempts {})",
            stuck_sent,
            policy.max_attempts
        );
        prop_assert!(
            stuck_waits.windows(2).all(|w| w[0] <= w[1]),
            "waits shrank within a streak: {:?}",
            stuck_waits
        );
    }
    // Saved after the end, restored: the same end, nothing sent.
    let saved = up.save();
    let mut again = Upload::restore(saved.as_bytes(), target(), file.clone(), options(s))
        .map_err(|e| TestCaseError::fail(format!("restore after the end: {e}")))?;
    match &end {
        End::Done(c) => {
            prop_assert_eq!(model.created().len(), 1, "exactly one attachment");
            let a = model.created()[0];
            prop_assert!(a.exact && a.size == s.size && a.id == c.id);
            prop_assert_eq!(up.progress().confirmed, s.size);
            prop_assert_eq!(again.poll(now), Action::Done(c.clone()));
        }
        End::Cancelled => {
            prop_assert!(s.cancel_at.is_some(), "nobody cancelled");
            prop_assert_eq!(again.poll(now), Action::Cancelled);
            // Every session the machine knew of was deleted, completed or expired.
            let t = model.server_ms(now);
            for (i, session) in model.sessions.iter().enumerate() {
                prop_assert!(
                    !session.delivered || session.gone || t >= session.expires,
                    "session {} left open by a cancel",
                    i
                );
            }
        }
        End::Failed(e) => {
            let expected_kind = matches!(
                &e,
                Error::RetriesExhausted { .. }
                    | Error::RetryAfterTooLong { .. }
                    | Error::SessionExpired { .. }
                    | Error::Unauthorized
                    | Error::Protocol {
                        error: ProtocolError::NoProgress { .. },
                        ..
                    }
            );
            prop_assert!(expected_kind, "unexpected failure: {e}");
            // A failed upload restored goes on, without faults, to one attachment; or, when a
            // cancel was asked before it failed, to the cancel.
            let mut steps = 0;
            let resumed = loop {
                steps += 1;
                prop_assert!(steps < 1_000, "a resumed upload does not end");
                match again.poll(now) {
                    Action::Send(req) => {
                        exchange(&mut again, &mut model, &req, now, &Fault::None);
                        now = now.saturating_add(Duration::from_millis(7));
                    }
                    Action::Wait { until, .. } => now = until,
                    Action::Done(c) => break Some(c),
                    Action::Cancelled if cancelled_at.is_some() => break None,
                    other => return Err(TestCaseError::fail(format!("resumed: {other:?}"))),
                }
            };
            match resumed {
                Some(c) => {
                    prop_assert_eq!(model.created().len(), 1, "resumed: exactly one attachment");
                    prop_assert_eq!(&model.created()[0].id, &c.id);
                }
                None => prop_assert!(model.created().len() <= 1),
            }
        }
    }
    Ok(())
}

proptest! {
    // 256 cases in CI; PROPTEST_CASES asks for more.
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(256),
        ..ProptestConfig::default()
    })]

    #[test]
    fn whole_uploads_under_random_faults_skew_and_crashes(s in scenario()) {
        check_scenario(&s)?;
    }
}
