//! Property tests: range parsing against a reference reading, and whole uploads against the
//! model server under random faults, crashes and restores (DESIGN.md section 4).

mod common;

use std::time::Duration;

use common::*;
use proptest::prelude::*;
use upload_session::{
    parse_range, Action, ByteRange, Error, ExpectedRanges, FileInfo, Options, ProtocolError,
    Purpose, RangeError, Response, RetryPolicy, StatusError, Timestamp, Upload,
};

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn every_valid_range_form_means_what_the_protocol_says(size in 1u64..u64::MAX, a in any::<u64>(), b in any::<u64>()) {
        let start = a % size;
        let last = start + b % (size - start);
        prop_assert_eq!(parse_range(&format!("{start}-{last}"), size), Ok(ByteRange::new(start, last + 1).unwrap()));
        prop_assert_eq!(parse_range(&format!("{start}"), size), Ok(ByteRange::new(start, size).unwrap()));
        prop_assert_eq!(parse_range(&format!("{start}-"), size), Ok(ByteRange::new(start, size).unwrap()));
        if last > start {
            let reversed = parse_range(&format!("{last}-{start}"), size);
            prop_assert!(matches!(reversed, Err(RangeError::Reversed(_))));
        }
    }

    #[test]
    fn range_parsing_never_panics_and_accepts_only_what_fits(s in "\\PC{0,24}", size in 0u64..1_000_000) {
        if let Ok(r) = parse_range(&s, size) {
            prop_assert!(r.start() < r.end() && r.end() <= size);
            prop_assert!(s.trim_matches([' ', '\t']).bytes().all(|c| c.is_ascii_digit() || c == b'-'));
        }
    }

    #[test]
    fn any_order_of_ranges_gives_the_same_sorted_disjoint_set(
        mut spans in prop::collection::vec((0u64..10_000, 1u64..500), 1..40),
        seed in any::<u64>(),
    ) {
        let size = 20_000;
        let entries: Vec<String> = spans.iter().map(|(s, l)| format!("{s}-{}", s + l - 1)).collect();
        let mut a = ExpectedRanges::default();
        a.parse_all(entries.iter().map(String::as_str), size).unwrap();
        // Shuffle deterministically and parse again.
        let mut rng = upload_session::Rng::new(seed);
        for i in (1..spans.len()).rev() {
            spans.swap(i, rng.below(i as u64 + 1) as usize);
        }
        let shuffled: Vec<String> = spans.iter().map(|(s, l)| format!("{s}-{}", s + l - 1)).collect();
        let mut b = ExpectedRanges::default();
        b.parse_all(shuffled.iter().map(String::as_str), size).unwrap();
        prop_assert_eq!(&a, &b);
        prop_assert!(a.validate(size).is_ok());
        // Every byte of every entry is covered, and nothing else.
        let covered = |x: u64| a.as_slice().iter().any(|r| r.start() <= x && x < r.end());
        for (s, l) in &spans {
            prop_assert!(covered(*s) && covered(s + l - 1));
        }
        let total: u64 = a.as_slice().iter().map(|r| r.len()).sum();
        prop_assert_eq!(total, a.missing_bytes());
    }
}

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
}

fn scenario() -> impl Strategy<Value = Scenario> {
    (1u64..=26_214_400, any::<bool>())
        .prop_flat_map(|(size, force)| {
            let min_chunk = (size / 60).max(1);
            (
                Just(size),
                min_chunk..=3_999_999u64,
                Just(force),
                prop::collection::vec(fault_strategy(), 0..80),
                any::<(bool, bool, bool, bool, bool)>(),
                prop::option::of(0usize..60),
                any::<bool>(),
                prop::option::weighted(0.2, 0usize..40),
            )
        })
        .prop_map(
            |(size, chunk, force_session, faults, style, crash_at, crash_kept, cancel_at)| {
                Scenario {
                    size,
                    chunk,
                    force_session,
                    faults,
                    style,
                    crash_at,
                    crash_kept,
                    cancel_at,
                }
            },
        )
}

fn options(s: &Scenario) -> Options {
    Options {
        chunk_size: Some(s.chunk),
        force_session: s.force_session,
        retry: RetryPolicy {
            seed: s.size,
            ..RetryPolicy::default()
        },
        ..Options::default()
    }
}

/// DESIGN.md 4 on one scenario: termination within the bound; Done means the server holds
/// exactly the file, once; no request the server would call malformed; waits honour
/// Retry-After; no token to a foreign origin; failures are of the kinds the faults can cause;
/// a cancel leaves no session the machine knew of open.
fn check_scenario(s: &Scenario) -> Result<(), TestCaseError> {
    let file = FileInfo::new("flower.jpg", s.size).with_fingerprint("fp");
    let mut model = Model::new(&file);
    model.style = SessionStyle {
        created_201: s.style.0,
        pascal: s.style.1,
        status_refused: s.style.2,
        foreign: s.style.3,
        query: s.style.4,
        lifetime: None,
    };
    let mut up = Upload::new(target(), file.clone(), options(s)).unwrap();
    let mut saved: String;
    let mut now = Timestamp::from_unix_millis(START);
    let chunks = s.size.div_ceil(s.chunk);
    let cap = (3 * (4 * chunks + 32) * 12 + 200) as usize;
    let mut sent = 0usize;
    let mut crashed = false;
    let end = 'drive: loop {
        prop_assert!(sent < cap, "no end after {} requests", sent);
        match up.poll(now) {
            Action::Send(req) => {
                check_request(&up, &req);
                // A careful driver saves before sending too (write-ahead).
                saved = up.save();
                let fault = s.faults.get(sent).cloned().unwrap_or(Fault::None);
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
                    continue 'drive;
                }
                match model.handle(&req, now, &fault) {
                    Answer::Http {
                        status,
                        headers,
                        body,
                    } => {
                        if req.purpose() == Purpose::CreateSession && (200..300).contains(&status) {
                            // The machine learns of this session.
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
                saved = up.save();
                prop_assert!(!saved.contains("Bearer"));
                if s.cancel_at == Some(sent) {
                    up.cancel(now);
                }
                now = now.saturating_add(Duration::from_millis(7));
            }
            Action::Wait { until, .. } => {
                prop_assert!(until > now);
                now = until;
            }
            Action::RefreshToken => up.token_refreshed(now).unwrap(),
            Action::Done(c) => break End::Done(c),
            Action::Failed(e) => break End::Failed(e),
            Action::Cancelled => break End::Cancelled,
        }
    };
    prop_assert!(
        model.violations.is_empty(),
        "malformed requests: {:?}",
        model.violations
    );
    match end {
        End::Done(c) => {
            prop_assert_eq!(model.attachments.len(), 1, "exactly one attachment");
            let a = &model.attachments[0];
            prop_assert!(a.exact && a.size == s.size && a.id == c.id);
            prop_assert_eq!(up.progress().confirmed, s.size);
        }
        End::Failed(e) => {
            prop_assert!(model.attachments.len() <= 1);
            let expected_kind = match &e {
                Error::RetriesExhausted { .. }
                | Error::SessionExpired { .. }
                | Error::Unauthorized => true,
                Error::Protocol {
                    error: ProtocolError::NoProgress { .. },
                    ..
                } => true,
                // Without a status query, a 416 twice in a row cannot be resolved.
                Error::Status(StatusError { status: 416, .. }) => s.style.2,
                _ => false,
            };
            prop_assert!(expected_kind, "unexpected failure: {e}");
        }
        End::Cancelled => {
            prop_assert!(s.cancel_at.is_some(), "nobody cancelled");
            // Every session the machine knew of was deleted, completed or expired.
            let t = now.as_unix_millis();
            for (i, session) in model.sessions.iter().enumerate() {
                prop_assert!(
                    !session.delivered || session.gone || t >= session.expires,
                    "session {} left open by a cancel",
                    i
                );
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn whole_uploads_under_random_faults_and_crashes(s in scenario()) {
        check_scenario(&s)?;
    }
}
