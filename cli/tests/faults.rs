//! Every emulator fault, through the real uploader (in-process) over loopback; each test ends
//! with the stored attachment compared with the file, byte for byte.

mod common;

use std::time::Duration;

use common::*;
use graph_emulator::{Fault, FaultRule, KeyCase, RequestKind, RetryAfter};

/// A 1,000,000-byte file in 250,000-byte chunks: 4 PUTs, by upload session.
fn run_with(test: &str, rules: Vec<FaultRule>, extra: &[&str]) -> (graph_emulator::Emulator, Run) {
    let dir = temp_dir(test);
    let file = make_file(&dir, "notes.bin", 1_000_000, 7);
    let emu = emulator(rules);
    let mut args = vec!["--session-only", "--chunk-size", "250000"];
    args.extend_from_slice(extra);
    let run = upload(&emu, &file, &args);
    assert_ok(&run);
    assert_stored(&emu, &file);
    assert_token_safe(&emu, &run);
    (emu, run)
}

fn ra(secs: f64) -> Option<RetryAfter> {
    Some(RetryAfter::Delta(Duration::from_secs_f64(secs)))
}

#[test]
fn create_answers_200_or_201() {
    let (emu, _) = run_with("create200", vec![], &[]);
    assert_eq!(emu.requests()[0].status, Some(200));
    let (emu, _) = run_with("create201", vec![nth(1, Fault::CreatedStatus)], &[]);
    assert_eq!(emu.requests()[0].status, Some(201));
}

#[test]
fn session_keys_in_any_casing() {
    for case in [KeyCase::Pascal, KeyCase::Camel, KeyCase::Mixed] {
        run_with("keys", vec![nth(1, Fault::KeyCase(case))], &[]);
    }
}

#[test]
fn throttled_429_with_fractional_retry_after() {
    let (emu, run) = run_with(
        "429",
        vec![FaultRule::every(2, Fault::TooManyRequests(ra(0.05))).on(RequestKind::Put)],
        &["-v"],
    );
    assert!(faulted(&emu, "throttle").len() >= 2);
    assert!(run.err.contains("Retry-After"), "{}", run.err);
}

#[test]
fn unavailable_503_with_retry_after_seconds_and_http_date() {
    let (emu, _) = run_with("503", vec![nth(2, Fault::Unavailable(ra(0.05)))], &[]);
    assert_eq!(faulted(&emu, "unavailable").len(), 1);
    let started = std::time::Instant::now();
    let (emu, _) = run_with(
        "503date",
        vec![nth(
            1,
            Fault::Unavailable(Some(RetryAfter::Date(Duration::from_secs(1)))),
        )],
        &[],
    );
    assert_eq!(faulted(&emu, "unavailable").len(), 1);
    // An HTTP-date has whole seconds: the wait is honoured, however it rounds.
    assert!(started.elapsed() >= Duration::from_millis(100));
}

#[test]
fn internal_error_500_is_retried_with_backoff() {
    let (emu, _) = run_with(
        "500",
        vec![
            nth(2, Fault::InternalError),
            nth(1, Fault::InternalError).on(RequestKind::Create),
        ],
        &[],
    );
    assert_eq!(faulted(&emu, "error500").len(), 2);
}

#[test]
fn connection_dropped_mid_body() {
    let (emu, _) = run_with(
        "drop",
        vec![
            nth(2, Fault::DropMidBody),
            nth(1, Fault::DropMidBody).on(RequestKind::Create),
        ],
        &[],
    );
    assert_eq!(faulted(&emu, "drop").len(), 2);
    // After an unknown outcome the client asks where the session stands.
    assert!(emu.requests().iter().any(|r| r.method == "GET"));
}

#[test]
fn stalled_answer_times_out_and_the_upload_goes_on() {
    let (emu, run) = run_with(
        "stall",
        vec![
            nth(
                2,
                Fault::Stall {
                    delay: Duration::from_millis(1500),
                    keep: true,
                },
            ),
            nth(
                3,
                Fault::Stall {
                    delay: Duration::from_millis(1500),
                    keep: false,
                },
            ),
        ],
        &["--timeout-ms", "400", "-v"],
    );
    assert_eq!(
        run.err
            .matches("no answer: no answer from 127.0.0.1")
            .count(),
        2,
        "{}",
        run.err
    );
    // Both reached the server and are recorded, the kept one answered late, the lost one
    // never.
    let stalls = faulted(&emu, "stall");
    assert_eq!(stalls.len(), 2);
    assert!(stalls
        .iter()
        .all(|r| r.status.is_none() || r.status == Some(200)));
}

#[test]
fn range_not_satisfiable_416() {
    let (emu, _) = run_with("416", vec![nth(2, Fault::RangeNotSatisfiable)], &[]);
    assert_eq!(faulted(&emu, "range416").len(), 1);
}

#[test]
fn server_loses_a_range_and_lists_several() {
    let (emu, _) = run_with("lose", vec![nth(3, Fault::LoseRange)], &[]);
    assert_eq!(faulted(&emu, "lose-range").len(), 1);
    // The forgotten bytes were sent again.
    assert!(put_bytes(&emu.requests()) > 1_000_000);
}

#[test]
fn session_expires_after_chunks_and_a_new_one_is_made() {
    let (emu, run) = run_with(
        "expire",
        vec![nth(1, Fault::ExpireAfterChunks(2))],
        &["--json"],
    );
    assert_eq!(emu.sessions_created(), 2);
    let v: serde_json::Value = serde_json::from_str(run.out.trim()).unwrap();
    assert_eq!(v["sessions"], 2);
}

#[test]
fn lost_final_answer_finds_the_attachment_without_a_duplicate() {
    let (emu, _) = run_with("lostfinal", vec![nth(1, Fault::LostFinalAnswer)], &[]);
    assert_eq!(faulted(&emu, "lost-final").len(), 1);
    assert_eq!(
        emu.sessions_created(),
        1,
        "no second session, no second attachment"
    );
}

#[test]
fn unavailable_503_whose_chunk_was_kept() {
    let (emu, _) = run_with(
        "kept503",
        vec![
            nth(2, Fault::UnavailableKept(ra(0.05))),
            nth(4, Fault::UnavailableKept(None)),
        ],
        &[],
    );
    assert_eq!(faulted(&emu, "kept503").len(), 2);
    assert_eq!(emu.sessions_created(), 1);
}

#[test]
fn status_query_refused_400_or_405() {
    for code in [405, 400] {
        let (emu, _) = run_with(
            "statusrefused",
            vec![
                nth(1, Fault::StatusRefused(code)),
                nth(2, Fault::DropMidBody),
                nth(3, Fault::UnavailableKept(None)),
            ],
            &[],
        );
        assert!(emu
            .requests()
            .iter()
            .any(|r| r.method == "GET" && r.status == Some(code)));
    }
}

#[test]
fn foreign_origin_upload_url_never_gets_the_token() {
    let (emu, run) = run_with(
        "foreign",
        vec![nth(1, Fault::ForeignOrigin), nth(2, Fault::DropMidBody)],
        &["-v"],
    );
    let foreign: Vec<_> = emu
        .requests()
        .into_iter()
        .filter(|r| r.origin == graph_emulator::Origin::Foreign)
        .collect();
    assert!(foreign.len() >= 4, "the PUTs went to the foreign origin");
    assert!(foreign
        .iter()
        .all(|r| !r.authorization && r.path.contains("tempauth=")));
    assert!(
        !run.err.contains("tempauth="),
        "the query is redacted in -v lines"
    );
}

#[test]
fn query_string_on_the_upload_url_is_kept() {
    let (emu, run) = run_with("query", vec![nth(1, Fault::QueryOnGraphOrigin)], &["-v"]);
    let puts: Vec<_> = emu
        .requests()
        .into_iter()
        .filter(|r| r.method == "PUT")
        .collect();
    assert!(puts.iter().all(|r| r.path.contains("/content?tempauth=")));
    assert!(run.err.contains("?<redacted>"));
}

#[test]
fn single_post_dropped_is_looked_up_then_sent_again() {
    let dir = temp_dir("postdrop");
    let file = make_file(&dir, "small.txt", 200_000, 3);
    let emu = emulator(vec![nth(1, Fault::DropMidBody).on(RequestKind::Post)]);
    let run = upload(&emu, &file, &[]);
    assert_ok(&run);
    assert_stored(&emu, &file);
    assert_eq!(
        emu.sessions_created(),
        0,
        "a small file goes by single POST"
    );
    assert_eq!(emu.task_attachments()[0].content_type, "text/plain");
}

#[test]
fn a_refused_token_fails_cleanly() {
    let dir = temp_dir("badtoken");
    let file = make_file(&dir, "a.bin", 10, 1);
    let emu = emulator(vec![]);
    let mut args = emu_args(&emu, &file);
    let i = args.iter().position(|a| a == TOKEN).unwrap();
    args[i] = "wrong-token".into();
    args.push("-v".into());
    let run = run_in_process(&args);
    assert_eq!(run.code, 1);
    assert!(run.err.contains("401 twice"), "{}", run.err);
    assert!(run.err.contains("refused the token; trying it once more"));
    assert!(emu.task_attachments().is_empty());
}

#[test]
fn random_faults_seeded() {
    // A mix of everything, drawn with a fixed seed: still exactly the file.
    let rules = vec![
        FaultRule::chance(0.15, Fault::DropMidBody),
        FaultRule::chance(0.1, Fault::UnavailableKept(ra(0.01))),
        FaultRule::chance(0.1, Fault::TooManyRequests(ra(0.01))),
        FaultRule::chance(0.1, Fault::LoseRange),
        FaultRule::chance(0.1, Fault::RangeNotSatisfiable),
    ];
    let dir = temp_dir("random");
    let file = make_file(&dir, "mix.bin", 3_500_000, 11);
    let emu = emulator(rules);
    let run = upload(&emu, &file, &["--chunk-size", "300000"]);
    assert_ok(&run);
    assert_stored(&emu, &file);
}

/// The server's clock ten minutes either side of this machine's (docs/protocol.md §10): the
/// lost final answer is still found (its `lastModifiedDateTime` read through the `Date`
/// offset), a 3 s `Retry-After` given as a date is waited for, and the session is used, not
/// taken for expired.
#[test]
fn a_server_clock_ten_minutes_off_changes_nothing() {
    for skew_ms in [-600_000i64, 600_000] {
        let dir = temp_dir(&format!("skew{skew_ms}"));
        let file = make_file(&dir, "notes.bin", 1_000_000, 7);
        let faults = graph_emulator::Faults::none()
            .with(FaultRule::nth(
                2,
                Fault::Unavailable(Some(RetryAfter::Date(Duration::from_millis(1_500)))),
            ))
            .with(nth(1, Fault::LostFinalAnswer));
        let emu = graph_emulator::Emulator::start(graph_emulator::Config {
            token: TOKEN.to_owned(),
            faults,
            clock_skew_ms: skew_ms,
            ..graph_emulator::Config::default()
        })
        .unwrap();
        let started = std::time::Instant::now();
        let run = upload(
            &emu,
            &file,
            &["--session-only", "--chunk-size", "250000", "--json"],
        );
        assert_ok(&run);
        assert_stored(&emu, &file);
        assert_eq!(emu.sessions_created(), 1, "skew {skew_ms}: one session");
        assert_eq!(faulted(&emu, "lost-final").len(), 1);
        assert_eq!(faulted(&emu, "unavailable").len(), 1);
        assert!(
            started.elapsed() >= Duration::from_secs(1),
            "skew {skew_ms}: the Retry-After date was waited for"
        );
    }
}
