//! File sizes at the edges: 0 and 1 byte, around one chunk, around the single POST's limit,
//! 25 MiB exactly, and 25 MiB + 1 refused.

mod common;

use common::*;

const CHUNK: u64 = 3_932_160;

fn roundtrip(test: &str, size: u64, extra: &[&str]) -> Run {
    let dir = temp_dir(test);
    let file = make_file(&dir, "f.bin", size, size ^ 0xA5);
    let emu = emulator(vec![]);
    let run = upload(&emu, &file, extra);
    assert_ok(&run);
    assert_stored(&emu, &file);
    run
}

#[test]
fn empty_file() {
    roundtrip("zero", 0, &[]);
    // --session-only still sends a 0-byte file by single POST: no Content-Range describes it.
    roundtrip("zero-s", 0, &["--session-only"]);
}

#[test]
fn one_byte() {
    roundtrip("one", 1, &[]);
    roundtrip("one-s", 1, &["--session-only"]);
}

#[test]
fn just_under_and_just_over_one_chunk() {
    for size in [CHUNK - 1, CHUNK, CHUNK + 1] {
        let run = roundtrip("chunk", size, &["--json"]);
        let v: serde_json::Value = serde_json::from_str(run.out.trim()).unwrap();
        let puts = size.div_ceil(CHUNK);
        assert_eq!(v["requests"], 1 + puts, "create + {puts} PUTs for {size}");
    }
}

#[test]
fn around_the_single_post_limit() {
    for size in [2_999_999u64, 3_000_000] {
        let run = roundtrip("post", size, &["--json"]);
        let v: serde_json::Value = serde_json::from_str(run.out.trim()).unwrap();
        let sessions = if size < 3_000_000 { 0 } else { 1 };
        assert_eq!(v["sessions"], sessions, "size {size}");
    }
}

#[test]
fn small_chunks_with_a_file_just_over() {
    roundtrip(
        "smallchunk",
        100_001,
        &["--session-only", "--chunk-size", "100000"],
    );
}

#[test]
fn twenty_five_mib() {
    let run = roundtrip("25mib", 26_214_400, &["--json"]);
    let v: serde_json::Value = serde_json::from_str(run.out.trim()).unwrap();
    assert_eq!(v["size"], 26_214_400);
    assert_eq!(v["requests"], 1 + 7);
}

#[test]
fn twenty_five_mib_plus_one_is_refused() {
    let dir = temp_dir("25mib1");
    let file = make_file(&dir, "big.bin", 26_214_401, 1);
    let emu = emulator(vec![]);
    let run = upload(&emu, &file, &[]);
    assert_eq!(run.code, 1);
    assert!(
        run.err.contains("26214401 bytes") && run.err.contains("at most 26214400"),
        "{}",
        run.err
    );
    assert!(emu.requests().is_empty(), "nothing was sent");
}
