//! Helpers shared by the end-to-end tests: files of known bytes, the uploader run in-process
//! or as a child process, and checks of what the emulator stored.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Parser;
use graph_emulator::{Config, Emulator, Fault, FaultRule, Faults, Origin, RecordedRequest};

/// A token no test output may contain.
pub const TOKEN: &str = "tok-SECRET-5f1e-never-leak";

/// A fresh directory for one test.
pub fn temp_dir(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("todo-upload-e2e-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Writes `size` pseudo-random bytes (seeded) to `dir/name`.
pub fn make_file(dir: &Path, name: &str, size: u64, seed: u64) -> PathBuf {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut bytes = Vec::with_capacity(size as usize);
    while (bytes.len() as u64) < size {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        bytes.extend_from_slice(&x.to_le_bytes());
    }
    bytes.truncate(size as usize);
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

/// An emulator with this fault plan and the test token.
pub fn emulator(rules: Vec<FaultRule>) -> Emulator {
    let mut faults = Faults::none();
    for r in rules {
        faults = faults.with(r);
    }
    Emulator::start(Config {
        token: TOKEN.to_owned(),
        faults,
        ..Config::default()
    })
    .unwrap()
}

/// An emulator with this fault plan in its text form and the test token.
pub fn emulator_plan(plan: &str) -> Emulator {
    Emulator::start(Config {
        token: TOKEN.to_owned(),
        faults: Faults::plan(plan).unwrap(),
        ..Config::default()
    })
    .unwrap()
}

/// Shorthand for a rule firing on the nth request of its fault's default kind.
pub fn nth(n: u64, fault: Fault) -> FaultRule {
    FaultRule::nth(n, fault)
}

/// What one run printed.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub out: String,
    pub err: String,
}

/// Arguments that point the uploader at `emu`, with fast retries.
pub fn emu_args(emu: &Emulator, file: &Path) -> Vec<String> {
    [
        file.to_str().unwrap(),
        "--graph-url",
        &emu.base_url(),
        "--token",
        TOKEN,
        "--list",
        emu.list_id(),
        "--task",
        emu.task_id(),
        "--retry-initial-ms",
        "20",
        "--timeout-ms",
        "5000",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// Runs the uploader in-process with these arguments (after the program name).
pub fn run_in_process<S: AsRef<str>>(args: &[S]) -> Run {
    let argv =
        std::iter::once("todo-upload".to_owned()).chain(args.iter().map(|s| s.as_ref().to_owned()));
    let parsed = todo_upload::Args::try_parse_from(argv).expect("arguments parse");
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = todo_upload::run(&parsed, &mut out, &mut err);
    Run {
        code,
        out: String::from_utf8(out).unwrap(),
        err: String::from_utf8(err).unwrap(),
    }
}

/// Uploads `file` to `emu` in-process with `extra` arguments.
pub fn upload(emu: &Emulator, file: &Path, extra: &[&str]) -> Run {
    let mut args = emu_args(emu, file);
    args.extend(extra.iter().map(|s| s.to_string()));
    run_in_process(&args)
}

/// Runs the built binary to completion.
pub fn run_binary<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> Run {
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_todo-upload"))
        .args(args)
        .env_remove("GRAPH_TOKEN")
        .output()
        .unwrap();
    Run {
        code: o.status.code().unwrap_or(-1),
        out: String::from_utf8(o.stdout).unwrap(),
        err: String::from_utf8(o.stderr).unwrap(),
    }
}

/// The task holds exactly one attachment, and it is the file, byte for byte.
pub fn assert_stored(emu: &Emulator, file: &Path) {
    let stored = emu.task_attachments();
    assert_eq!(
        stored.len(),
        1,
        "exactly one attachment, found {}",
        stored.len()
    );
    let bytes = std::fs::read(file).unwrap();
    assert_eq!(stored[0].size, bytes.len() as u64);
    assert!(
        stored[0].bytes == bytes,
        "stored bytes differ from the file"
    );
    assert_eq!(
        stored[0].name,
        file.file_name().unwrap().to_string_lossy(),
        "attachment name"
    );
}

/// The run succeeded; print its output if not.
pub fn assert_ok(run: &Run) {
    assert_eq!(
        run.code, 0,
        "exit code; stdout:\n{}\nstderr:\n{}",
        run.out, run.err
    );
}

/// Requests that carried a fault of this name.
pub fn faulted(emu: &Emulator, name: &str) -> Vec<RecordedRequest> {
    emu.requests()
        .into_iter()
        .filter(|r| r.fault == Some(name))
        .collect()
}

/// No request to the foreign origin carried `Authorization`, no output holds the token, and
/// the emulator saw nothing a correct client does not send.
pub fn assert_token_safe(emu: &Emulator, run: &Run) {
    assert_eq!(emu.tokens_sent_to_foreign_origin(), 0);
    assert!(
        emu.violations().is_empty(),
        "the uploader broke the protocol: {:?}",
        emu.violations()
    );
    assert!(emu
        .requests()
        .iter()
        .filter(|r| r.origin == Origin::Foreign)
        .all(|r| !r.authorization));
    assert!(
        !run.out.contains(TOKEN) && !run.err.contains(TOKEN),
        "token printed"
    );
}

/// PUT body bytes the emulator saw.
pub fn put_bytes(reqs: &[RecordedRequest]) -> u64 {
    reqs.iter()
        .filter(|r| r.method == "PUT")
        .filter_map(|r| r.content_length)
        .sum()
}

/// Waits until `cond` holds, up to `limit`.
pub fn wait_for(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let start = std::time::Instant::now();
    while start.elapsed() < limit {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    cond()
}
