//! Property tests: whole uploads against the Graph model under random fault plans, servers
//! stuck failing, clock skew, crashes and restores, cancels and older attachments of the
//! same name (DESIGN.md §4). Range parsing has its own properties beside the parser
//! (src/ranges.rs).

use std::time::Duration;

use graph_model::Parent;
use graph_model::{Fault, FaultRule, Faults, RequestKind, When};
use proptest::prelude::*;
use upload_session::{
    Action, Conflict, Drive, DrivePlace, Error, Options, OutlookItem, Owner, ProtocolError,
    Purpose, Target, Upload,
};
use upload_session_testkit::{strategies, Config, Delivery, End, Pair, ROUND_TRIP, START};

/// Which destination a scenario uploads to (docs/protocol.md §8).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dest {
    Todo,
    Drive,
    /// A drive item made by the commit request (`deferCommit`).
    DriveDeferred,
    Outlook,
    Print,
}

#[derive(Debug, Clone)]
struct Scenario {
    dest: Dest,
    size: u64,
    chunk: u64,
    force_session: bool,
    faults: Faults,
    crash_at: Option<usize>,
    crash_kept: bool,
    cancel_at: Option<usize>,
    /// The server's clock minus the client's.
    skew_ms: i64,
    /// From this request on, every request meets this fault.
    stuck: Option<(u64, Fault)>,
    /// An attachment of the same name and size made this long before the upload began.
    existing_ago_ms: Option<u64>,
}

fn stuck_fault() -> impl Strategy<Value = Fault> {
    prop_oneof![
        Just(Fault::InternalError),
        Just(Fault::DropMidBody),
        Just(Fault::AnswerLost),
        prop::option::of(0u64..5).prop_map(|s| Fault::TooManyRequests(
            s.map(|s| graph_model::RetryAfter::Delta(Duration::from_secs(s)))
        )),
        Just(Fault::Unavailable(Some(graph_model::RetryAfter::Delta(
            Duration::from_secs(2)
        )))),
        Just(Fault::Unauthorized),
    ]
}

const GRID: u64 = 327_680;

fn scenario() -> impl Strategy<Value = Scenario> {
    let dest = prop_oneof![
        Just(Dest::Todo),
        Just(Dest::Drive),
        Just(Dest::DriveDeferred),
        Just(Dest::Outlook),
        Just(Dest::Print)
    ];
    (dest, 1u64..=26_214_400, any::<bool>())
        .prop_flat_map(|(dest, size, force)| {
            let min_chunk = (size / 60).max(1);
            let chunk = match dest {
                // Drive chunks sit on the grid (docs/protocol.md §8).
                Dest::Drive | Dest::DriveDeferred => (min_chunk.div_ceil(GRID).min(32)..=32u64)
                    .prop_map(|k| k * GRID)
                    .boxed(),
                _ => (min_chunk..=3_999_999u64).boxed(),
            };
            // Outlook takes sessions from 3 MB only: a smaller file goes whole.
            let force = force && !(dest == Dest::Outlook && size < 3_000_000);
            (
                (
                    (Just(dest), Just(size)),
                    chunk,
                    Just(force),
                    strategies::fault_plan(6),
                    prop::option::of(1usize..60),
                    any::<bool>(),
                    prop::option::weighted(0.2, 1usize..40),
                ),
                (
                    strategies::clock_skew(),
                    prop::option::weighted(0.15, (1u64..30, stuck_fault())),
                    prop::option::weighted(0.3, 3_000u64..3_600_000),
                ),
            )
        })
        .prop_map(
            |(
                ((dest, size), chunk, force_session, faults, crash_at, crash_kept, cancel_at),
                (skew_ms, stuck, existing_ago_ms),
            )| Scenario {
                dest,
                size,
                chunk,
                force_session,
                faults,
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

/// The plan the model runs: the random rules, the stuck rule first so that it wins.
fn plan(s: &Scenario) -> Faults {
    let mut faults = s.faults.clone();
    if let Some((from, fault)) = &s.stuck {
        let mut rule = FaultRule::always(fault.clone()).on(RequestKind::Any);
        rule.when = When::From(*from);
        faults.rules.insert(0, rule);
    }
    faults
}

/// DESIGN.md §4 on one scenario: termination within the bound; Done means the server holds
/// exactly the file, once, and an older attachment of the same name and size is never
/// taken for it; no request the model calls a violation (malformed, a token off Graph, a
/// request before a Retry-After); failures of the kinds the faults can cause; a failure
/// streak ends within the policy's tries with waits that never shrink; a cancel leaves no
/// session the machine knew of open; a state saved after the end restores to the same end,
/// and a failed upload restored goes on to attach the file once.
fn check_scenario(s: &Scenario) -> Result<(), TestCaseError> {
    let config = Config {
        faults: plan(s),
        clock_skew_ms: s.skew_ms,
        ..Config::default()
    };
    let mut pair = Pair::new(config, s.size);
    pair.now = upload_session::Timestamp::from_unix_millis(START);
    let base = pair.model.base_url();
    let target = match s.dest {
        Dest::Todo => pair.target(),
        Dest::Drive | Dest::DriveDeferred => {
            pair.parent = Parent::DriveFolder {
                folder: "F1".into(),
            };
            let place = DrivePlace::Parent {
                item: "F1".into(),
                name: pair.file.name().into(),
            };
            let t = Target::drive_item(&base, Drive::Me, place, Conflict::Fail).unwrap();
            match s.dest {
                Dest::DriveDeferred => t.with_defer_commit().unwrap(),
                _ => t,
            }
        }
        Dest::Outlook => {
            pair.parent = Parent::Outlook {
                collection: "messages".into(),
                id: "AAMkMSG+1=".into(),
            };
            Target::outlook_attachment(&base, Owner::Me, OutlookItem::Message, "AAMkMSG+1=")
                .unwrap()
        }
        Dest::Print => {
            pair.parent = Parent::PrintDocument {
                printer: "P1".into(),
                job: "J1".into(),
                document: "D1".into(),
            };
            Target::print_document(&base, "P1", "J1", "D1").unwrap()
        }
    };
    // A print document has no namesake: it is the slot its job made.
    if let (Some(ago), false) = (s.existing_ago_ms, s.dest == Dest::Print) {
        pair.attach_earlier("AAMkADold=", s.size, Duration::from_millis(ago));
    }
    let policy = options(s).retry;
    let mut up = pair
        .upload_to(target.clone(), options(s))
        .map_err(|e| TestCaseError::fail(format!("upload: {e}")))?;
    let chunks = s.size.div_ceil(s.chunk);
    let cap = (3 * (4 * chunks + 32) * 12 + 200) as usize;
    let mut sent = 0usize;
    let mut crashed = false;
    let mut cancelled = false;
    let mut lost_creates = 0;
    // Requests and waits in a row that met the stuck fault.
    let stuck_name = s.stuck.as_ref().map(|(_, f)| f.name());
    let mut stuck_sent = 0u32;
    let mut stuck_waits: Vec<Duration> = Vec::new();
    let end = loop {
        prop_assert!(sent < cap, "no end after {} requests", sent);
        match pair.poll(&mut up) {
            Action::Send(req) => {
                // A careful driver saves before sending too (write-ahead).
                let saved = up.save();
                sent += 1;
                if !crashed && s.crash_at == Some(sent) {
                    // The process dies with this request in flight; the server may have
                    // acted on it. Restart from the last saved state.
                    crashed = true;
                    if s.crash_kept {
                        let _ = pair.send(&up, &req);
                        pair.model.unheard();
                        if req.purpose() == Purpose::CreateSession {
                            lost_creates += 1;
                        }
                    }
                    up = Upload::restore(
                        saved.as_bytes(),
                        target.clone(),
                        pair.file.info(),
                        options(s),
                    )
                    .map_err(|e| TestCaseError::fail(format!("restore: {e}")))?;
                    pair.watch(&up, &options(s));
                    // A new process starts a new streak.
                    stuck_sent = 0;
                    stuck_waits.clear();
                    continue;
                }
                let delivery = pair.send(&up, &req);
                let stuck_hit = stuck_name.is_some()
                    && pair.model.requests().last().and_then(|r| r.fault) == stuck_name;
                if stuck_hit {
                    stuck_sent += 1;
                } else {
                    stuck_sent = 0;
                    stuck_waits.clear();
                }
                if req.purpose() == Purpose::CreateSession && matches!(delivery, Delivery::Lost(_))
                {
                    lost_creates += 1;
                }
                pair.now = pair.now.saturating_add(ROUND_TRIP);
                delivery.feed(&mut up, pair.now, &req).unwrap();
                prop_assert!(!up.save().contains("Bearer"));
                if s.cancel_at == Some(sent) {
                    up.cancel(pair.now);
                    cancelled = true;
                    // Deleting is a new unit of work with its own streak.
                    stuck_sent = 0;
                    stuck_waits.clear();
                }
            }
            Action::Wait { until, .. } => {
                if stuck_sent > 0 {
                    stuck_waits.push(until.saturating_duration_since(pair.now));
                }
                pair.now = until;
            }
            Action::RefreshToken => up.token_refreshed(pair.now).unwrap(),
            Action::Done(c) => break End::Done(c),
            Action::Failed(e) => break End::Failed(e),
            Action::Cancelled => break End::Cancelled,
            other => return Err(TestCaseError::fail(format!("unknown action {other:?}"))),
        }
    };
    pair.assert_sound(&end);
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
    let mut again = Upload::restore(saved.as_bytes(), target, pair.file.info(), options(s))
        .map_err(|e| TestCaseError::fail(format!("restore after the end: {e}")))?;
    match &end {
        End::Done(c) => {
            prop_assert_eq!(&pair.created()[0].id, &c.id);
            prop_assert_eq!(up.progress().confirmed, s.size);
            prop_assert_eq!(again.poll(pair.now), Action::Done(c.clone()));
        }
        End::Cancelled => {
            prop_assert!(cancelled, "nobody cancelled");
            prop_assert_eq!(again.poll(pair.now), Action::Cancelled);
            // Every session the machine knew of was deleted, completed or expired.
            // Sessions whose URL refused its credential (401): nobody can delete them; they
            // expire.
            let refused_by_server: std::collections::HashSet<String> = pair
                .model
                .requests()
                .filter(|r| r.status == Some(401) && r.origin == graph_model::Origin::Foreign)
                .map(|r| r.path.replace("/content", ""))
                .collect();
            let live = pair.model.live_sessions(pair.now.as_unix_millis());
            prop_assert!(
                live <= lost_creates + refused_by_server.len(),
                "a session left open by a cancel ({} live, {} lost, {} refused): {:?}",
                live,
                lost_creates,
                refused_by_server.len(),
                pair.model
                    .requests()
                    .map(|r| (r.method.as_str(), r.status, r.fault))
                    .collect::<Vec<_>>()
            );
        }
        End::Failed(e) => {
            // A drive item whose name an earlier item holds fails with 409, as asked.
            let taken =
                matches!(s.dest, Dest::Drive | Dest::DriveDeferred) && s.existing_ago_ms.is_some();
            if taken && matches!(e, Error::NameConflict(_)) {
                prop_assert!(pair.created().is_empty(), "a conflict made something");
                return Ok(());
            }
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
            pair.model.set_faults(Faults::none());
            pair.watch(&again, &options(s));
            let resumed = pair
                .drive_bounded(&mut again, 1_000)
                .map_err(|stuck| TestCaseError::fail(format!("resumed: {stuck:?}")))?;
            match &resumed.end {
                End::Done(c) => {
                    pair.assert_sound(&resumed.end);
                    prop_assert_eq!(&pair.created()[0].id, &c.id);
                }
                End::Cancelled if cancelled => prop_assert!(pair.created().len() <= 1),
                End::Failed(Error::NameConflict(_)) if taken => {
                    prop_assert!(pair.created().is_empty(), "a conflict made something")
                }
                other => return Err(TestCaseError::fail(format!("resumed: {other:?}"))),
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
