//! `graph-upload` as a person runs it against the real service, over real HTTP against the
//! emulator: a token from a command across a rotation, names instead of IDs, Ctrl-C and a
//! resume, several files at once, a file that changes under the upload, transport failures
//! said precisely, shell completions.

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use clap::Parser;
use common::{emulator_plan as emulator, make_file, temp_dir, wait_for, Run, TOKEN};
use graph_emulator::{Emulator, Parent};

/// `graph-upload SUB --graph-url URL --retry-initial-ms 20 ARGS...`, in-process.
fn graph_upload(emu: &Emulator, sub: &str, args: &[&str]) -> Run {
    let base = emu.base_url();
    let mut argv = vec![
        "graph-upload",
        sub,
        "--graph-url",
        &base,
        "--retry-initial-ms",
        "20",
    ];
    argv.extend_from_slice(args);
    let parsed = todo_upload::GraphArgs::try_parse_from(argv).expect("arguments parse");
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = todo_upload::run_graph(&parsed, &mut out, &mut err);
    Run {
        code,
        out: String::from_utf8(out).unwrap(),
        err: String::from_utf8(err).unwrap(),
    }
}

/// A script printing the emulator's token, then the rotated one (`TOKEN.1`), counting its
/// runs in `count`.
fn token_script(dir: &Path) -> (String, std::path::PathBuf) {
    let count = dir.join("count");
    let script = dir.join("token.sh");
    std::fs::write(
        &script,
        format!(
            "n=$(cat '{c}' 2>/dev/null || echo 0)\necho $((n+1)) > '{c}'\n\
             if [ \"$n\" = 0 ]; then echo '{TOKEN}'; else echo '{TOKEN}.'\"$n\"; fi\n",
            c = count.display()
        ),
    )
    .unwrap();
    (format!("sh '{}'", script.display()), count)
}

#[test]
fn a_token_command_runs_again_when_the_token_is_rotated_and_the_session_goes_on() {
    let emu = emulator("rotate-token@2/put");
    let dir = temp_dir("token-command");
    let file = make_file(&dir, "a.bin", 1_000_000, 1);
    let (cmd, count) = token_script(&dir);
    let run = graph_upload(
        &emu,
        "todo",
        &[
            "--list",
            emu.list_id(),
            "--task",
            emu.task_id(),
            "--token-command",
            &cmd,
            "--chunk-size",
            "300000",
            "--session-only",
            "--json",
            file.to_str().unwrap(),
        ],
    );
    assert_eq!(run.code, 0, "{}{}", run.out, run.err);
    assert_eq!(
        std::fs::read_to_string(&count).unwrap().trim(),
        "2",
        "run at start and once more"
    );
    let v: serde_json::Value = serde_json::from_str(run.out.trim()).unwrap();
    assert_eq!(v["sessions"], 1, "the same session after the refresh");
    assert_eq!(emu.current_token(), format!("{TOKEN}.1"));
    common::assert_stored(&emu, &file);
    common::assert_token_safe(&emu, &run);
    // A rotated token never printed either.
    assert!(!run.err.contains(&emu.current_token()));
}

#[test]
fn a_failing_token_command_is_named_by_its_exit_status_only() {
    let emu = emulator("");
    let dir = temp_dir("token-command-fails");
    let file = make_file(&dir, "a.bin", 1000, 2);
    for (cmd, says) in [
        ("echo leaked-output; exit 7", "exit status 7"),
        ("true", "printed no token"),
    ] {
        let run = graph_upload(
            &emu,
            "todo",
            &[
                "--list",
                "L",
                "--task",
                "T",
                "--token-command",
                cmd,
                file.to_str().unwrap(),
            ],
        );
        assert_eq!(run.code, 1, "{}", run.err);
        assert!(run.err.contains(says), "{}", run.err);
        assert!(!run.err.contains("leaked-output"), "{}", run.err);
        assert_eq!(run.err.lines().count(), 1, "{}", run.err);
    }
    assert!(emu.requests().is_empty(), "nothing sent without a token");
}

#[test]
fn names_are_found_across_pages_and_a_miss_or_a_tie_says_which() {
    let emu = emulator("");
    let dir = temp_dir("names");
    let file = make_file(&dir, "n.bin", 5000, 3);
    // Twelve lists: the one wanted is on the second page of ten.
    for i in 0..10 {
        emu.create_named_list(&format!("Other {i}"));
    }
    let list = emu.create_named_list("Groceries");
    for i in 0..10 {
        emu.create_titled_task(&list, &format!("Chore {i}"));
    }
    let task = emu.create_titled_task(&list, "Buy milk").unwrap();
    let run = graph_upload(
        &emu,
        "todo",
        &[
            "--list-name",
            "groceries",
            "--task-title",
            "Buy milk",
            "--token",
            TOKEN,
            "--json",
            file.to_str().unwrap(),
        ],
    );
    assert_eq!(run.code, 0, "{}{}", run.out, run.err);
    let parent = Parent::TodoTask {
        list: list.clone(),
        task: task.clone(),
    };
    assert_eq!(emu.items(&parent).len(), 1);
    let pages = emu
        .requests()
        .iter()
        .filter(|r| r.method == "GET" && r.path.contains("skiptoken"))
        .count();
    assert_eq!(pages, 2, "the second page of lists and of tasks");

    let by_list_name = |name: &str| {
        graph_upload(
            &emu,
            "todo",
            &[
                "--list-name",
                name,
                "--task",
                "T",
                "--token",
                TOKEN,
                file.to_str().unwrap(),
            ],
        )
    };
    let run = by_list_name("Nope");
    assert_eq!(run.code, 1);
    assert!(
        run.err.contains("no To Do list is called \"Nope\""),
        "{}",
        run.err
    );

    emu.create_named_list("Work");
    emu.create_named_list("work");
    let run = by_list_name("WORK");
    assert_eq!(run.code, 1);
    assert!(
        run.err.contains("2 To Do lists are called \"WORK\"")
            && run.err.contains("\"Work\"")
            && run.err.contains("\"work\""),
        "{}",
        run.err
    );
    assert_eq!(run.err.lines().count(), 1);
}

fn spawn(emu: &Emulator, args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_graph-upload"))
        .args(["todo", "--graph-url", &emu.base_url(), "--token", TOKEN])
        .args(["--list", emu.list_id(), "--task", emu.task_id()])
        .args(["--retry-initial-ms", "20", "--session-only"])
        .args(args)
        .env_remove("GRAPH_TOKEN")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Waits until the emulator has seen `n` PUTs (the stalled one included).
fn wait_for_puts(emu: &Emulator, n: usize) {
    let puts = || emu.requests().iter().filter(|r| r.method == "PUT").count();
    assert!(
        wait_for(Duration::from_secs(10), || puts() >= n),
        "{} PUTs",
        puts()
    );
}

fn sigint(child: &Child) {
    let ok = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
}

fn finish(child: Child) -> Run {
    let o = child.wait_with_output().unwrap();
    Run {
        code: o.status.code().unwrap_or(-1),
        out: String::from_utf8(o.stdout).unwrap(),
        err: String::from_utf8(o.stderr).unwrap(),
    }
}

/// A 2 MB upload in 500 kB chunks to an emulator whose second PUT is answered 1.5 s late,
/// with `--state` when `state` is given; returns once that PUT is in flight.
fn upload_in_flight(
    test: &str,
    seed: u64,
    state: bool,
) -> (
    Emulator,
    std::path::PathBuf,
    Option<std::path::PathBuf>,
    Vec<String>,
    Child,
) {
    let emu = emulator("stall=1500@2/put");
    let dir = temp_dir(test);
    let file = make_file(&dir, "big.bin", 2_000_000, seed);
    let state = state.then(|| dir.join("state.json"));
    let mut args = vec!["--chunk-size".to_owned(), "500000".to_owned()];
    if let Some(s) = &state {
        args.extend(["--state".to_owned(), s.display().to_string()]);
    }
    args.push(file.display().to_string());
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let child = spawn(&emu, &argv);
    wait_for_puts(&emu, 2);
    (emu, file, state, args, child)
}

/// Cuts `file` to `len` bytes, in place.
fn truncate(file: &Path, len: u64) {
    std::fs::OpenOptions::new()
        .write(true)
        .open(file)
        .unwrap()
        .set_len(len)
        .unwrap();
}

#[test]
fn ctrl_c_saves_the_state_exits_130_and_the_same_command_resumes() {
    // Ctrl-C lands while the second PUT is in flight.
    let (emu, file, state, args, child) = upload_in_flight("sigint", 4, true);
    let state = state.unwrap();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    sigint(&child);
    let run = finish(child);
    assert_eq!(run.code, 130, "{}", run.err);
    assert!(
        run.err.contains("interrupted") && run.err.contains("run the same command again"),
        "{}",
        run.err
    );
    assert_eq!(run.err.lines().count(), 1, "{}", run.err);
    // The PUT in flight was answered before stopping; nothing after it was sent.
    let puts = emu.requests().iter().filter(|r| r.method == "PUT").count();
    assert_eq!(puts, 2);
    assert!(state.exists());

    let run = finish(spawn(&emu, &args));
    assert_eq!(run.code, 0, "{}", run.err);
    common::assert_stored(&emu, &file);
    assert!(!state.exists());
    assert!(emu.violations().is_empty(), "{:?}", emu.violations());
}

#[test]
fn ctrl_c_without_state_deletes_the_session() {
    let (emu, _, _, _, child) = upload_in_flight("sigint-nostate", 5, false);
    sigint(&child);
    let run = finish(child);
    assert_eq!(run.code, 130, "{}", run.err);
    assert!(run.err.contains("session was deleted"), "{}", run.err);
    assert_eq!(emu.requests().last().unwrap().method, "DELETE");
    assert!(emu.task_attachments().is_empty());
}

#[test]
fn a_file_that_shrinks_mid_upload_stops_before_sending_and_deletes_the_session() {
    let (emu, file, _, _, child) = upload_in_flight("shrinks", 6, false);
    truncate(&file, 700_000);
    let run = finish(child);
    assert_eq!(run.code, 1, "{}", run.err);
    assert!(run.err.contains("changed during the upload"), "{}", run.err);
    assert!(run.err.contains("session was deleted"), "{}", run.err);
    let reqs = emu.requests();
    assert_eq!(
        reqs.iter().filter(|r| r.method == "PUT").count(),
        2,
        "no PUT after the change"
    );
    assert_eq!(reqs.last().unwrap().method, "DELETE");
    assert!(emu.violations().is_empty(), "{:?}", emu.violations());
}

#[test]
fn three_files_in_parallel_one_failing_each_with_its_json_line() {
    let emu = emulator("");
    let dir = temp_dir("parallel");
    let a = make_file(&dir, "a.bin", 700_000, 7);
    let c = make_file(&dir, "c.bin", 3_500_000, 8);
    let missing = dir.join("missing.bin");
    let state_dir = dir.join("states");
    let run = graph_upload(
        &emu,
        "drive",
        &[
            "--parent",
            "F1",
            "--token",
            TOKEN,
            "--parallel",
            "3",
            "--json",
            "--state",
            state_dir.to_str().unwrap(),
            a.to_str().unwrap(),
            missing.to_str().unwrap(),
            c.to_str().unwrap(),
        ],
    );
    assert_eq!(run.code, 1, "{}{}", run.out, run.err);
    let lines: Vec<serde_json::Value> = run
        .out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3, "{}", run.out);
    for (file, ok) in [(&a, true), (&missing, false), (&c, true)] {
        let v = lines
            .iter()
            .find(|v| v["file"] == file.display().to_string())
            .unwrap();
        assert_eq!(v.get("error").is_none(), ok, "{v}");
    }
    assert!(run.err.contains("missing.bin: cannot read"), "{}", run.err);
    let parent = Parent::DriveFolder {
        folder: "F1".into(),
    };
    let mut names: Vec<String> = emu.items(&parent).iter().map(|i| i.name.clone()).collect();
    names.sort();
    assert_eq!(names, ["a.bin", "c.bin"]);
    // Each file had its own state file; finished uploads remove theirs.
    assert!(state_dir.is_dir());
    assert_eq!(std::fs::read_dir(&state_dir).unwrap().count(), 0);
}

#[test]
fn a_refused_connection_is_named_and_each_retry_says_so() {
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = temp_dir("refused");
    let file = make_file(&dir, "a.bin", 1000, 9);
    let base = format!("http://127.0.0.1:{port}/v1.0");
    let argv = [
        "graph-upload",
        "todo",
        "--graph-url",
        &base,
        "--token",
        TOKEN,
        "--list",
        "L",
        "--task",
        "T",
        "--retry-initial-ms",
        "5",
        file.to_str().unwrap(),
    ];
    let parsed = todo_upload::GraphArgs::try_parse_from(argv).unwrap();
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = todo_upload::run_graph(&parsed, &mut out, &mut err);
    let err = String::from_utf8(err).unwrap();
    assert_eq!(code, 1, "{err}");
    let retries = err.lines().filter(|l| l.contains("; retrying in ")).count();
    assert!(retries >= 2, "one line per retry: {err}");
    assert!(
        err.lines()
            .all(|l| l.contains(&format!("127.0.0.1:{port} refused the connection"))),
        "{err}"
    );
}

#[test]
fn completions_for_each_shell() {
    for shell in ["bash", "zsh", "fish"] {
        let parsed =
            todo_upload::GraphArgs::try_parse_from(["graph-upload", "completions", shell]).unwrap();
        let (mut out, mut err) = (Vec::new(), Vec::new());
        assert_eq!(todo_upload::run_graph(&parsed, &mut out, &mut err), 0);
        let script = String::from_utf8(out).unwrap();
        assert!(
            script.contains("graph-upload") && script.contains("token-command"),
            "{shell}"
        );
    }
}

/// A proxy for tests: CONNECT tunnels, or absolute-form requests relayed as they are; it
/// records the first line of each connection.
fn start_proxy() -> (u16, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    use std::io::{BufRead, BufReader, Write};
    use std::net::{TcpListener, TcpStream};
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let log = log.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(client.try_clone().unwrap());
                let mut first = String::new();
                reader.read_line(&mut first).unwrap();
                log.lock().unwrap().push(first.trim().to_owned());
                let mut parts = first.split_whitespace();
                let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
                let mut head = Vec::new();
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        head.extend_from_slice(line.as_bytes());
                        break;
                    }
                    head.extend_from_slice(line.as_bytes());
                }
                let host = match method {
                    "CONNECT" => target.to_owned(),
                    _ => target
                        .split_once("://")
                        .map(|(_, r)| r.split('/').next().unwrap_or("").to_owned())
                        .unwrap_or_default(),
                };
                let Ok(mut upstream) = TcpStream::connect(&host) else {
                    return;
                };
                let mut client_w = client.try_clone().unwrap();
                if method == "CONNECT" {
                    client_w
                        .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
                        .unwrap();
                } else {
                    upstream.write_all(first.as_bytes()).unwrap();
                    upstream.write_all(&head).unwrap();
                }
                let buffered = reader.buffer().to_vec();
                upstream.write_all(&buffered).unwrap();
                let mut up_r = upstream.try_clone().unwrap();
                let mut client_r = reader.into_inner();
                let t = std::thread::spawn(move || {
                    let _ = std::io::copy(&mut up_r, &mut client_w);
                });
                let _ = std::io::copy(&mut client_r, &mut upstream);
                let _ = upstream.shutdown(std::net::Shutdown::Write);
                let _ = t.join();
            });
        }
    });
    (port, seen)
}

#[test]
fn the_proxy_in_the_environment_is_used_and_no_proxy_bypasses_it() {
    let emu = emulator("");
    let dir = temp_dir("proxy");
    let file = make_file(&dir, "p.bin", 10_000, 10);
    let (port, seen) = start_proxy();
    let proxy = format!("http://127.0.0.1:{port}");
    let run = |no_proxy: &str| {
        let o = Command::new(env!("CARGO_BIN_EXE_graph-upload"))
            .args(["todo", "--graph-url", &emu.base_url(), "--token", TOKEN])
            .args([
                "--list",
                emu.list_id(),
                "--task",
                emu.task_id(),
                file.to_str().unwrap(),
            ])
            .env_remove("GRAPH_TOKEN")
            .env_remove("ALL_PROXY")
            .env_remove("all_proxy")
            .env("HTTP_PROXY", &proxy)
            .env("HTTPS_PROXY", &proxy)
            .env("http_proxy", &proxy)
            .env("https_proxy", &proxy)
            .env("NO_PROXY", no_proxy)
            .env("no_proxy", no_proxy)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    };
    run("");
    let through = seen.lock().unwrap().len();
    assert!(through >= 1, "the upload went through the proxy");
    assert!(
        seen.lock().unwrap().iter().all(|l| l.contains("127.0.0.1")),
        "{:?}",
        seen.lock().unwrap()
    );
    run("127.0.0.1");
    assert_eq!(seen.lock().unwrap().len(), through, "NO_PROXY bypasses it");
    assert_eq!(emu.task_attachments().len(), 2);
}

#[test]
fn several_files_share_one_run_of_the_token_command() {
    let emu = emulator("");
    let dir = temp_dir("token-shared");
    let files: Vec<_> = (0..3)
        .map(|i| make_file(&dir, &format!("f{i}.bin"), 50_000, 20 + i))
        .collect();
    let (cmd, count) = token_script(&dir);
    let mut args = vec!["--parent", "F1", "--token-command", &cmd, "--parallel", "3"];
    args.extend(files.iter().map(|f| f.to_str().unwrap()));
    let run = graph_upload(&emu, "drive", &args);
    assert_eq!(run.code, 0, "{}{}", run.out, run.err);
    assert_eq!(std::fs::read_to_string(&count).unwrap().trim(), "1");
    let parent = Parent::DriveFolder {
        folder: "F1".into(),
    };
    assert_eq!(emu.items(&parent).len(), 3);
}

#[test]
fn ctrl_c_while_the_last_bytes_are_in_flight_never_hides_the_result() {
    // The final PUT's answer is late (or never comes). Ctrl-C then: without a state file
    // the upload cannot be found again, so it runs to its result rather than stop in doubt.
    for plan in ["stall=1500@1/final", "stall=1500,lose@1/final"] {
        let emu = emulator(plan);
        let dir = temp_dir("sigint-final");
        let file = make_file(&dir, "big.bin", 1_000_000, 30);
        let child = spawn(&emu, &["--chunk-size", "500000", file.to_str().unwrap()]);
        wait_for_puts(&emu, 2);
        sigint(&child);
        let run = finish(child);
        assert_eq!(run.code, 0, "{plan}: {}", run.err);
        common::assert_stored(&emu, &file);
    }
}

#[test]
fn a_small_file_that_grows_while_its_single_post_waits_is_not_sent() {
    let emu = emulator("throttle=2@1/post");
    let dir = temp_dir("grows");
    let file = make_file(&dir, "small.bin", 10_000, 31);
    let child = Command::new(env!("CARGO_BIN_EXE_graph-upload"))
        .args(["todo", "--graph-url", &emu.base_url(), "--token", TOKEN])
        .args([
            "--list",
            emu.list_id(),
            "--task",
            emu.task_id(),
            file.to_str().unwrap(),
        ])
        .env_remove("GRAPH_TOKEN")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    assert!(wait_for(Duration::from_secs(10), || emu
        .requests()
        .iter()
        .any(|r| r.method == "POST")));
    std::fs::OpenOptions::new()
        .append(true)
        .open(&file)
        .unwrap()
        .set_len(20_000)
        .unwrap();
    let run = finish(child);
    assert_eq!(run.code, 1, "{}", run.err);
    assert!(run.err.contains("changed during the upload"), "{}", run.err);
    assert_eq!(emu.requests().len(), 1, "the POST was not sent again");
    assert!(emu.task_attachments().is_empty());
}

#[test]
fn several_files_of_one_name_or_one_file_twice_are_refused_before_anything_is_sent() {
    let emu = emulator("");
    let dir = temp_dir("dups");
    let a = make_file(&dir, "a.bin", 100, 32);
    std::fs::create_dir_all(dir.join("sub")).unwrap();
    let a2 = make_file(&dir.join("sub"), "A.bin", 100, 33);
    for files in [[&a, &a], [&a, &a2]] {
        let run = graph_upload(
            &emu,
            "todo",
            &[
                "--list",
                emu.list_id(),
                "--task",
                emu.task_id(),
                "--token",
                TOKEN,
                files[0].to_str().unwrap(),
                files[1].to_str().unwrap(),
            ],
        );
        assert_eq!(run.code, 2, "{}", run.err);
        assert_eq!(run.err.lines().count(), 1, "{}", run.err);
    }
    assert!(emu.requests().is_empty());
}

#[test]
fn names_are_looked_up_once_for_many_files_and_through_throttling() {
    let emu = emulator("throttle=1@1/read");
    let dir = temp_dir("names-once");
    let list = emu.create_named_list("Trips");
    emu.create_titled_task(&list, "Tickets").unwrap();
    let files: Vec<_> = (0..3)
        .map(|i| make_file(&dir, &format!("t{i}.pdf"), 1000, 40 + i))
        .collect();
    let mut args = vec![
        "--list-name",
        "Trips",
        "--task-title",
        "Tickets",
        "--token",
        TOKEN,
    ];
    args.extend(files.iter().map(|f| f.to_str().unwrap()));
    let run = graph_upload(&emu, "todo", &args);
    assert_eq!(run.code, 0, "{}{}", run.out, run.err);
    let reads = emu
        .requests()
        .iter()
        .filter(|r| r.method == "GET" && r.path.contains("/todo/lists"))
        .count();
    assert_eq!(
        reads, 3,
        "lists (429, then again), then tasks: once for all three files"
    );
}

#[test]
fn cancel_with_json_prints_one_object() {
    let emu = emulator("");
    let dir = temp_dir("cancel-json");
    let file = make_file(&dir, "c.bin", 4_000_000, 50);
    let state = dir.join("s.json");
    // Stop after the session is made: a refused token on the first PUT, with a fixed token.
    let stopped = graph_upload(
        &emu,
        "todo",
        &[
            "--list",
            emu.list_id(),
            "--task",
            emu.task_id(),
            "--token",
            "wrong",
            "--state",
            state.to_str().unwrap(),
            file.to_str().unwrap(),
        ],
    );
    assert_eq!(stopped.code, 1, "{}", stopped.err);
    let run = graph_upload(
        &emu,
        "todo",
        &[
            "--list",
            emu.list_id(),
            "--task",
            emu.task_id(),
            "--token",
            TOKEN,
            "--cancel",
            "--json",
            "--state",
            state.to_str().unwrap(),
            file.to_str().unwrap(),
        ],
    );
    assert_eq!(run.code, 0, "{}", run.err);
    let v: serde_json::Value = serde_json::from_str(run.out.trim()).unwrap();
    assert_eq!(
        (v["target"].as_str(), v["cancelled"].as_bool()),
        (Some("todo"), Some(true))
    );
}

#[test]
fn the_parsed_command_line_never_shows_the_token() {
    let parsed = todo_upload::GraphArgs::try_parse_from([
        "graph-upload",
        "todo",
        "--token",
        TOKEN,
        "--list",
        "L",
        "--task",
        "T",
        "f.bin",
    ])
    .unwrap();
    let shown = format!("{parsed:?} {:?}", parsed.to_jobs().unwrap());
    assert!(!shown.contains(TOKEN), "{shown}");
    let parsed =
        todo_upload::Args::try_parse_from(["todo-upload", "--token", TOKEN, "f.bin"]).unwrap();
    let shown = format!("{parsed:?} {:?}", parsed.to_job());
    assert!(!shown.contains(TOKEN), "{shown}");
}

#[test]
fn a_changed_file_with_a_state_file_keeps_its_session_until_cancel() {
    let (emu, file, state, args, child) = upload_in_flight("changed-state", 60, true);
    let state = state.unwrap();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    truncate(&file, 1_500_000);
    let run = finish(child);
    assert_eq!(run.code, 1, "{}", run.err);
    assert!(
        run.err.contains("changed during the upload") && run.err.contains("--cancel"),
        "{}",
        run.err
    );
    assert!(state.exists());
    assert_eq!(
        emu.requests().last().unwrap().method,
        "PUT",
        "the session is kept"
    );

    // The state is for the file as it was; --cancel deletes its session all the same.
    let cancel: Vec<&str> = ["--cancel"].into_iter().chain(args).collect();
    let run = finish(spawn(&emu, &cancel));
    assert_eq!(run.code, 0, "{}", run.err);
    assert!(run.err.contains("session deleted"), "{}", run.err);
    assert_eq!(emu.requests().last().unwrap().method, "DELETE");
    assert!(!state.exists());
    assert!(emu.task_attachments().is_empty());
}
