//! The built binary as a user runs it: resuming after the process was killed, cancelling,
//! refusing state for another file, `--json`, exit statuses, and the token's safety.

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::*;
use graph_emulator::{Emulator, Fault, Faults, Origin};
use upload_session::{FileInfo, Options, Owner, Target, Upload};

const BIN: &str = env!("CARGO_BIN_EXE_todo-upload");

fn spawn(args: &[String]) -> Child {
    Command::new(BIN)
        .args(args)
        .env_remove("GRAPH_TOKEN")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// Starts an upload of `file` that stalls on its 4th PUT (answered only after a minute), and
/// kills the process once the server holds 4 chunks and the state file was written.
fn start_and_kill(emu: &Emulator, file: &Path, state: &Path, extra: &[&str]) {
    emu.set_faults(Faults::none().with(nth(
        4,
        Fault::Stall {
            delay: Duration::from_secs(60),
            keep: true,
        },
    )));
    let mut args = emu_args(emu, file);
    args.extend(
        [
            "--chunk-size",
            "1000000",
            "--state",
            state.to_str().unwrap(),
        ]
        .map(String::from),
    );
    args.extend(extra.iter().map(|s| s.to_string()));
    let mut child = spawn(&args);
    let stalled = wait_for(Duration::from_secs(20), || {
        emu.requests().iter().filter(|r| r.method == "PUT").count() == 4
    });
    // The state after the 3rd chunk's answer is on disk before the 4th PUT is sent.
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(stalled, "the upload reached its 4th PUT");
    assert!(state.exists(), "the state file was written");
    emu.set_faults(Faults::none());
    emu.clear_requests();
}

#[test]
fn killed_upload_resumes_from_its_state_file() {
    let dir = temp_dir("resume");
    let file = make_file(&dir, "big.bin", 10_000_000, 5);
    let state = dir.join("upload.state");
    let emu = emulator(vec![]);
    start_and_kill(&emu, &file, &state, &[]);

    let saved = std::fs::read_to_string(&state).unwrap();
    assert!(
        !saved.contains(TOKEN),
        "the token never lands in the state file"
    );

    let mut args = emu_args(&emu, &file);
    args.extend(
        [
            "--chunk-size",
            "1000000",
            "--state",
            state.to_str().unwrap(),
            "--json",
        ]
        .map(String::from),
    );
    let run = run_binary(&args);
    assert_ok(&run);
    assert_stored(&emu, &file);
    let reqs = emu.requests();
    assert!(
        !reqs.iter().any(|r| r.path.ends_with("createUploadSession")),
        "no new session"
    );
    assert_eq!(emu.sessions_created(), 1);
    assert_eq!(
        reqs[0].method, "GET",
        "it first asks where the session stands"
    );
    let sent = put_bytes(&reqs);
    assert!(
        sent <= 6_000_000,
        "the second run sent only the rest ({sent} bytes)"
    );
    assert!(!state.exists(), "the state file is removed after success");
    // The counts are this run's: it created no session and sent what the emulator saw.
    let v: serde_json::Value = serde_json::from_str(run.out.trim()).unwrap();
    assert_eq!(v["sessions"], 0);
    assert_eq!(v["requests"], reqs.len() as u64);
}

#[test]
fn token_never_reaches_a_foreign_origin_nor_the_state_file() {
    let dir = temp_dir("foreign-state");
    let file = make_file(&dir, "doc.pdf", 6_000_000, 9);
    let state = dir.join("s.json");
    let emu = emulator(vec![]);
    // The session's uploadUrl is on the second origin; the 4th PUT stalls until killed.
    emu.set_faults(Faults::none().with(nth(1, Fault::ForeignOrigin)).with(nth(
        4,
        Fault::Stall {
            delay: Duration::from_secs(60),
            keep: true,
        },
    )));
    let mut args = emu_args(&emu, &file);
    args.extend(
        [
            "--chunk-size",
            "1000000",
            "--state",
            state.to_str().unwrap(),
            "-v",
        ]
        .map(String::from),
    );
    let mut child = spawn(&args);
    assert!(wait_for(Duration::from_secs(20), || {
        emu.requests().iter().filter(|r| r.method == "PUT").count() == 4
    }));
    child.kill().unwrap();
    child.wait().unwrap();
    let saved = std::fs::read_to_string(&state).unwrap();
    assert!(!saved.contains(TOKEN));
    assert!(
        saved.contains(&emu.foreign_origin()),
        "the session's uploadUrl is saved"
    );
    emu.set_faults(Faults::none());

    let run = run_binary(&args);
    assert_ok(&run);
    assert_stored(&emu, &file);
    assert_token_safe(&emu, &run);
    let foreign = emu
        .requests()
        .into_iter()
        .filter(|r| r.origin == Origin::Foreign)
        .count();
    assert!(foreign >= 6);
    assert_eq!(
        emu.task_attachments()[0].content_type,
        "application/octet-stream"
    );
}

#[test]
fn cancel_deletes_the_saved_session() {
    let dir = temp_dir("cancel");
    let file = make_file(&dir, "c.bin", 5_000_000, 2);
    let state = dir.join("c.state");
    let emu = emulator(vec![]);
    start_and_kill(&emu, &file, &state, &[]);
    assert_eq!(emu.live_sessions(), 1);

    let mut args = emu_args(&emu, &file);
    args.extend(["--state", state.to_str().unwrap(), "--cancel"].map(String::from));
    let run = run_binary(&args);
    assert_ok(&run);
    assert!(run.err.contains("cancelled"), "{}", run.err);
    assert!(emu
        .requests()
        .iter()
        .any(|r| r.method == "DELETE" && r.status == Some(204)));
    assert_eq!(emu.live_sessions(), 0);
    assert!(!state.exists());
    assert!(emu.task_attachments().is_empty());

    // Nothing left to cancel: a clear failure.
    let run = run_binary(&args);
    assert_eq!(run.code, 1);
    assert!(run.err.contains("nothing to cancel"), "{}", run.err);
}

/// A state file saved by the core for a file like `file` but with another size or
/// fingerprint.
fn foreign_state(emu: &Emulator, file: &Path, size: u64, fingerprint: &str) -> String {
    let target =
        Target::todo_task(&emu.base_url(), Owner::Me, emu.list_id(), emu.task_id()).unwrap();
    let name = file.file_name().unwrap().to_string_lossy().into_owned();
    let info = FileInfo::new(name, size).with_fingerprint(fingerprint);
    Upload::new(target, info, Options::default())
        .unwrap()
        .save()
}

#[test]
fn state_for_another_file_is_refused() {
    let dir = temp_dir("otherfile");
    let file = make_file(&dir, "x.bin", 4_000_000, 4);
    let state = dir.join("x.state");
    let emu = emulator(vec![]);
    let mut args = emu_args(&emu, &file);
    args.extend(["--state", state.to_str().unwrap()].map(String::from));

    std::fs::write(&state, foreign_state(&emu, &file, 4_000_000, "4000000:1")).unwrap();
    let run = run_binary(&args);
    assert_eq!(run.code, 1, "{}", run.err);
    assert!(
        run.err.contains("for another file") && run.err.contains("fingerprint"),
        "{}",
        run.err
    );
    assert_eq!(run.err.lines().count(), 1, "one line: {}", run.err);

    std::fs::write(&state, foreign_state(&emu, &file, 3_999_999, "x")).unwrap();
    let run = run_binary(&args);
    assert_eq!(run.code, 1);
    assert!(run.err.contains("size differs"), "{}", run.err);
    assert!(emu.requests().is_empty(), "nothing was sent");
    assert!(state.exists(), "a refused state is left alone");
}

#[test]
fn corrupt_state_file_is_refused() {
    let dir = temp_dir("corrupt");
    let file = make_file(&dir, "x.bin", 10, 4);
    let state = dir.join("x.state");
    std::fs::write(&state, "{\"format\": \"upload-session\", \"vers").unwrap();
    let emu = emulator(vec![]);
    let mut args = emu_args(&emu, &file);
    args.extend(["--state", state.to_str().unwrap()].map(String::from));
    let run = run_binary(&args);
    assert_eq!(run.code, 1);
    assert!(
        run.err.contains("cannot resume from the state file"),
        "{}",
        run.err
    );
    assert!(!run.err.contains("panicked"));
}

#[test]
fn json_prints_exactly_one_object_with_the_documented_keys() {
    let dir = temp_dir("json");
    let file = make_file(&dir, "j.bin", 4_500_000, 8);
    let run = run_binary(&[file.to_str().unwrap(), "--json"]);
    assert_ok(&run);
    assert_eq!(run.out.lines().count(), 1, "{}", run.out);
    let v: serde_json::Value = serde_json::from_str(run.out.trim()).unwrap();
    let obj = v.as_object().unwrap();
    let mut keys: Vec<_> = obj.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        ["attachment_id", "location", "requests", "sessions", "size"]
    );
    assert!(obj["attachment_id"].as_str().is_some_and(|s| !s.is_empty()));
    assert!(obj["location"]
        .as_str()
        .is_some_and(|s| s.contains("/Attachments/")));
    assert_eq!(obj["size"], 4_500_000);
    assert_eq!(obj["requests"], 3);
    assert_eq!(obj["sessions"], 1);
    assert!(run.err.contains("byte-identical"), "{}", run.err);

    // A small file by single POST: no Location.
    let small = make_file(&dir, "s.bin", 10, 8);
    let run = run_binary(&[small.to_str().unwrap(), "--json"]);
    assert_ok(&run);
    let v: serde_json::Value = serde_json::from_str(run.out.trim()).unwrap();
    assert_eq!(v["sessions"], 0);
}

#[test]
fn embedded_emulator_with_faults_verifies_the_upload() {
    let dir = temp_dir("embedded");
    let file = make_file(&dir, "e.bin", 2_000_000, 6);
    let run = run_binary(&[
        file.to_str().unwrap(),
        "--session-only",
        "--chunk-size",
        "500000",
        "--retry-initial-ms",
        "10",
        "--emulator-fault",
        "drop@2",
        "--emulator-fault",
        "unavailable=0.05@3",
        "--emulator-fault",
        "lost-final",
        "-v",
    ]);
    assert_ok(&run);
    assert!(run.out.contains("byte-identical"), "{}", run.out);
    assert!(
        run.out.contains("found among the task's attachments"),
        "{}",
        run.out
    );
    assert!(run.err.contains("-> #1 POST"), "{}", run.err);
    assert!(
        !run.err.contains("emulator-token"),
        "the token is never logged"
    );
}

#[test]
fn usage_errors_exit_2() {
    let dir = temp_dir("usage");
    let file = make_file(&dir, "u.bin", 10, 1);
    let f = file.to_str().unwrap();
    for args in [
        vec![f, "--chunk-size", "0"],
        vec![f, "--chunk-size", "4000000"],
        vec![f, "--cancel"],
        vec![f, "--graph-url", "https://graph.microsoft.com/v1.0"],
        vec![
            f,
            "--graph-url",
            "not a url",
            "--token",
            "t",
            "--list",
            "l",
            "--task",
            "t",
        ],
        vec![f, "--emulator-fault", "nonsense"],
        vec![],
    ] {
        let run = run_binary(&args);
        assert_eq!(run.code, 2, "{args:?}: {}", run.err);
    }
    let run = run_binary(&[f, "--chunk-size", "3999999", "--json"]);
    assert_ok(&run);
}

#[test]
fn missing_file_fails_with_one_line() {
    let run = run_binary(&["/nonexistent/file.bin"]);
    assert_eq!(run.code, 1);
    assert_eq!(run.err.lines().count(), 1);
    assert!(run.err.contains("cannot read /nonexistent/file.bin"));
}

#[test]
fn help_never_shows_the_token() {
    let o = Command::new(BIN)
        .arg("--help")
        .env("GRAPH_TOKEN", TOKEN)
        .output()
        .unwrap();
    assert!(o.status.success());
    let help = String::from_utf8(o.stdout).unwrap();
    assert!(help.contains("--graph-url") && help.contains("--state"));
    assert!(!help.contains(TOKEN));
    assert!(!help.contains("emulator-fault"), "test flags stay hidden");
}

#[test]
fn token_from_the_environment() {
    let dir = temp_dir("envtoken");
    let file = make_file(&dir, "t.bin", 1000, 1);
    let emu = emulator(vec![]);
    let o = Command::new(BIN)
        .args([
            file.to_str().unwrap(),
            "--graph-url",
            &emu.base_url(),
            "--list",
            emu.list_id(),
            "--task",
            emu.task_id(),
            "--user",
            emu.user_id(),
        ])
        .env("GRAPH_TOKEN", TOKEN)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_stored(&emu, &file);
    assert!(emu.requests()[0].path.contains("/users/"));
}
