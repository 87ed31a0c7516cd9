//! One fault plan, written once as text, drives the same upload three ways: in memory
//! against the Graph model (a unit test), under every clock skew (a property test), and over
//! real HTTP through the uploader against the emulator. All three send the same requests in
//! the same order: the model is one, and so is the machine.

mod common;

use common::{assert_ok, assert_stored, make_file, temp_dir, upload, TOKEN};
use graph_emulator::{Config as EmulatorConfig, Emulator, Faults};
use proptest::prelude::*;
use upload_session::{Options, RetryPolicy};
use upload_session_testkit::{strategies, Config, End, Pair};

/// A throttled create, a PUT that makes the server forget earlier bytes, a PUT whose answer
/// is lost, and a final PUT that is kept but answered 503 (docs/protocol.md §4, §8, §9).
const PLAN: &str = "throttle=0.05@1/create lose-range@2/put lost@3/put kept503=0.05@1/final";
const SIZE: u64 = 4_500_000;
const CHUNK: u64 = 1_000_000;

/// The request sequence the plan makes, as [`upload_session_testkit::Exchange::line`]s.
const EXPECTED: [&str; 11] = [
    "POST",                // create: 429, Retry-After 0.05
    "POST",                // create again
    "PUT 0-999999",        //
    "PUT 1000000-1999999", // kept, then bytes 250000-499999 forgotten
    "PUT 250000-499999",   // the gap: taken, answer lost
    "GET",                 // where does the session stand?
    "PUT 2000000-2999999",
    "PUT 3000000-3999999",
    "PUT 4000000-4499999", // final: kept, answered 503
    "GET",                 // status: 404, the session completed or expired
    "GET",                 // look for the attachment: there
];

fn options() -> Options {
    let retry = RetryPolicy {
        initial: std::time::Duration::from_millis(20),
        ..RetryPolicy::default()
    };
    Options::default().with_chunk_size(CHUNK).with_retry(retry)
}

/// The plan in memory, with the server's clock `skew_ms` off the client's.
fn in_memory(skew_ms: i64) -> (Vec<String>, Pair, End) {
    let mut pair = Pair::new(
        Config {
            faults: Faults::plan(PLAN).unwrap(),
            clock_skew_ms: skew_ms,
            ..Config::default()
        },
        SIZE,
    );
    let mut up = pair.upload(options());
    let run = pair.drive_bounded(&mut up, 200).unwrap();
    (run.lines(), pair, run.end)
}

fn expected() -> Vec<String> {
    EXPECTED.iter().map(|l| l.to_string()).collect()
}

#[test]
fn the_plan_in_memory() {
    let (lines, pair, end) = in_memory(0);
    assert_eq!(lines, expected());
    assert!(matches!(end, End::Done(_)), "{end:?}");
    pair.assert_sound(&end);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn the_plan_under_any_clock_skew(skew in strategies::clock_skew()) {
        let (lines, pair, end) = in_memory(skew);
        prop_assert_eq!(lines, expected());
        pair.assert_sound(&end);
    }
}

#[test]
fn the_plan_over_http() {
    let emu = Emulator::start(EmulatorConfig {
        token: TOKEN.to_owned(),
        faults: Faults::plan(PLAN).unwrap(),
        ..EmulatorConfig::default()
    })
    .unwrap();
    let dir = temp_dir("one-plan");
    let file = make_file(&dir, "flower.jpg", SIZE, 7);
    let run = upload(&emu, &file, &["--chunk-size", &CHUNK.to_string()]);
    assert_ok(&run);
    assert_stored(&emu, &file);
    let lines: Vec<String> = emu
        .requests()
        .iter()
        .map(|r| {
            match r
                .content_range
                .as_deref()
                .and_then(|c| c.strip_prefix("bytes "))
            {
                Some(range) if r.method == "PUT" => {
                    format!("PUT {}", range.split('/').next().unwrap_or(range))
                }
                _ => r.method.clone(),
            }
        })
        .collect();
    assert_eq!(lines, expected());
    assert!(emu.violations().is_empty(), "{:?}", emu.violations());
}
