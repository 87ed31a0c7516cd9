//! The async driver (tokio + hyper) against the emulator through faults: a connection dropped
//! mid-body, a 503 with Retry-After, a kept 503 and a lost final answer; the stored bytes must
//! be the file's.

mod common;

use std::time::Duration;

use common::*;
use graph_emulator::{Fault, RetryAfter};
use todo_upload::async_driver;
use upload_session::{FileInfo, Options, Owner, RetryPolicy, Target, Upload};

fn new_upload(emu: &graph_emulator::Emulator, size: u64, name: &str, chunk: u64) -> Upload {
    let target =
        Target::todo_task(&emu.base_url(), Owner::Me, emu.list_id(), emu.task_id()).unwrap();
    let options = { let mut o = Options::default(); o.chunk_size = Some(chunk); o.retry = RetryPolicy {
            initial: Duration::from_millis(20),
            ..RetryPolicy::default()
        }; o };
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
