//! The async driver (tokio + hyper) against the emulator through faults: a connection dropped
//! mid-body, a 503 with Retry-After, a kept 503 and a lost final answer; the stored bytes must
//! be the file's.

use std::path::{Path, PathBuf};
use std::time::Duration;

use graph_emulator::{Config, Emulator, Fault, FaultRule, Faults, RetryAfter};
use upload_session::{FileInfo, Options, Owner, RetryPolicy, Target, Upload};
use upload_session_async as async_driver;

const TOKEN: &str = "tok-SECRET-async-never-leak";

fn temp_dir(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("async-driver-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `size` bytes of a seeded sequence, written to `dir/name`.
fn make_file(dir: &Path, name: &str, size: u64, seed: u64) -> PathBuf {
    let bytes: Vec<u8> = (0..size)
        .map(|i| (i.wrapping_mul(seed | 1) >> 3) as u8)
        .collect();
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

fn emulator(rules: Vec<FaultRule>) -> Emulator {
    let faults = rules.into_iter().fold(Faults::none(), Faults::with);
    Emulator::start(Config {
        token: TOKEN.to_owned(),
        faults,
        ..Config::default()
    })
    .unwrap()
}

fn nth(n: u64, fault: Fault) -> FaultRule {
    FaultRule::nth(n, fault)
}

/// The task holds exactly one attachment, and it is the file, byte for byte.
fn assert_stored(emu: &Emulator, file: &Path) {
    let stored = emu.task_attachments();
    assert_eq!(stored.len(), 1, "exactly one attachment");
    assert!(
        stored[0].bytes == std::fs::read(file).unwrap(),
        "stored bytes differ"
    );
}

fn faulted(emu: &Emulator, name: &str) -> Vec<graph_emulator::RecordedRequest> {
    emu.requests()
        .into_iter()
        .filter(|r| r.fault == Some(name))
        .collect()
}

fn new_upload(emu: &graph_emulator::Emulator, size: u64, name: &str, chunk: u64) -> Upload {
    let target =
        Target::todo_task(&emu.base_url(), Owner::Me, emu.list_id(), emu.task_id()).unwrap();
    let options = Options::default()
        .with_chunk_size(chunk)
        .with_retry(RetryPolicy {
            initial: Duration::from_millis(20),
            ..RetryPolicy::default()
        });
    Upload::new(target, FileInfo::new(name, size), options).unwrap()
}

#[tokio::test(flavor = "current_thread")]
async fn async_driver_survives_drop_and_503_and_ends_byte_exact() {
    let dir = temp_dir("async");
    let file = make_file(&dir, "a.bin", 5_000_000, 21);
    let emu = emulator(vec![
        nth(2, Fault::DropMidBody),
        nth(
            3,
            Fault::Unavailable(Some(RetryAfter::Delta(Duration::from_millis(50)))),
        ),
        nth(5, Fault::UnavailableKept(None)),
        nth(1, Fault::LostFinalAnswer),
    ]);
    let upload = new_upload(&emu, 5_000_000, "a.bin", 1_000_000);
    let done = async_driver::upload(upload, &file, TOKEN, Duration::from_secs(10))
        .await
        .unwrap();
    assert!(done.found_by_lookup, "the final answer was lost");
    let emu = tokio::task::spawn_blocking(move || {
        assert_stored(&emu, &file);
        emu
    })
    .await
    .unwrap();
    for name in ["drop", "unavailable", "kept503", "lost-final"] {
        assert_eq!(faulted(&emu, name).len(), 1, "{name}");
    }
    assert_eq!(emu.sessions_created(), 1);
}

#[tokio::test(flavor = "current_thread")]
async fn async_driver_single_post_and_stall() {
    let dir = temp_dir("async-post");
    let file = make_file(&dir, "p.bin", 100_000, 22);
    let emu = emulator(vec![nth(
        1,
        Fault::Stall {
            delay: Duration::from_millis(800),
            keep: true,
        },
    )
    .on(graph_emulator::RequestKind::Post)]);
    let upload = new_upload(&emu, 100_000, "p.bin", 3_932_160);
    let done = async_driver::upload(upload, &file, TOKEN, Duration::from_millis(300))
        .await
        .unwrap();
    // The stalled POST landed; the look-up found it rather than posting twice.
    assert!(done.found_by_lookup);
    tokio::task::spawn_blocking(move || assert_stored(&emu, &file))
        .await
        .unwrap();
}
