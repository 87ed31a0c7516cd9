//! Many uploads at once through the async driver (`upload_session_async`, tokio + hyper)
//! against one in-process `graph_emulator`, in one process: 1,000 uploads of 1 MiB by default,
//! each to its own task, all started together.
//!
//! `cargo bench -p upload-session-async --bench concurrent -- [--uploads N] [--size BYTES]
//! [--chunk BYTES] [--files K]`
//!
//! Each attachment is checked byte for byte against its file once every upload has ended;
//! prints the total wall time, the aggregate throughput, how many requests and sessions the
//! emulator saw, and the process's peak resident memory (`VmHWM` in `/proc/self/status`),
//! which counts the emulator's copy of every file as well as the uploads' buffers.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use graph_emulator::{Config, Emulator};
use upload_session::{FileInfo, Options, Owner, RetryPolicy, Target, Upload};
use upload_session_async as async_driver;

fn main() {
    let mut args = std::env::args().skip(1);
    let mut uploads = 1_000usize;
    let mut size: u64 = 1024 * 1024;
    let mut chunk: u64 = 12 * 320 * 1024;
    let mut files = 8usize;
    while let Some(a) = args.next() {
        let mut num = |flag: &str| -> u64 {
            args.next()
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("{flag} needs a number"))
        };
        match a.as_str() {
            "--uploads" => uploads = num("--uploads") as usize,
            "--size" => size = num("--size"),
            "--chunk" => chunk = num("--chunk"),
            "--files" => files = num("--files").max(1) as usize,
            "--bench" => {}
            other => eprintln!("concurrent: ignoring argument {other:?}"),
        }
    }

    let emu = Emulator::start(Config {
        max_size: u64::MAX,
        ..Config::default()
    })
    .expect("start the emulator");
    let dir = std::env::temp_dir().join(format!("todo-upload-conc-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    // A few distinct files, so that an upload that took another's bytes is caught.
    let contents: Vec<(PathBuf, Vec<u8>)> = (0..files)
        .map(|k| {
            let mut x = 0x2545_F491_4F6C_DD1D_u64 ^ (k as u64 + 1);
            let data: Vec<u8> = (0..size)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x as u8
                })
                .collect();
            let path = dir.join(format!("f{k}.bin"));
            std::fs::write(&path, &data).expect("write a file");
            (path, data)
        })
        .collect();
    let tasks: Vec<String> = (0..uploads).map(|_| emu.create_task()).collect();
    let hwm_before = vm_hwm_kib();

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let base = emu.base_url();
    let list = emu.list_id().to_owned();
    let token: Arc<str> = emu.token().into();
    let client = async_driver::Client::builder()
        .proxy(async_driver::ProxyConfig::none())
        .timeout(Duration::from_secs(120))
        .build()
        .expect("client");
    let started = Instant::now();
    let results = runtime.block_on(async {
        let handles: Vec<_> = tasks
            .iter()
            .enumerate()
            .map(|(i, task)| {
                let target = Target::todo_task(&base, Owner::Me, &list, task).expect("target");
                let options = {
                    let mut o = Options::default();
                    o.chunk_size = Some(chunk);
                    o.force_session = true;
                    o.size_limit = Some(u64::MAX);
                    o.retry = RetryPolicy {
                        initial: Duration::from_millis(50),
                        ..RetryPolicy::default()
                    };
                    o
                };
                let path = contents[i % files].0.clone();
                let mut upload =
                    Upload::new(target, FileInfo::new(format!("u{i}.bin"), size), options)
                        .expect("upload");
                let mut uploader = async_driver::Uploader::new(client.clone(), &*token);
                tokio::spawn(async move { uploader.run(&mut upload, &path).await })
            })
            .collect();
        let mut results = Vec::with_capacity(handles.len());
        for h in handles {
            results.push(h.await.expect("task"));
        }
        results
    });
    let elapsed = started.elapsed();
    let hwm = vm_hwm_kib();

    let mut failed = 0;
    for (i, r) in results.iter().enumerate() {
        if let Err(e) = r {
            failed += 1;
            eprintln!("upload {i} failed: {e}");
        }
    }
    let mut exact = 0;
    for (i, task) in tasks.iter().enumerate() {
        let stored = emu.take_attachments(emu.list_id(), task);
        if stored.len() == 1 && stored[0].bytes == contents[i % files].1 {
            exact += 1;
        } else {
            eprintln!(
                "upload {i}: {} attachment(s), not the file's bytes",
                stored.len()
            );
        }
    }
    let requests = emu.requests();
    let refused = requests
        .iter()
        .filter(|r| r.status.is_none_or(|s| s >= 400))
        .count();
    let total = uploads as u64 * size;
    println!(
        "{uploads} concurrent uploads of {size} bytes ({chunk}-byte chunks) through the async driver: {:.3} s, {:.1} MiB/s in all",
        elapsed.as_secs_f64(),
        total as f64 / (1024.0 * 1024.0) / elapsed.as_secs_f64()
    );
    println!(
        "byte-exact: {exact}/{uploads}; failed: {failed}; requests: {} ({refused} refused or unanswered); sessions: {}",
        requests.len(),
        emu.sessions_created()
    );
    println!(
        "peak RSS (VmHWM): {:.1} MiB ({:.1} MiB before the uploads; the emulator in this process holds every file too)",
        hwm as f64 / 1024.0,
        hwm_before as f64 / 1024.0
    );
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(exact, uploads, "every upload must arrive byte-exact");
}

/// The process's peak resident set, in KiB, from `/proc/self/status` (0 where there is none).
fn vm_hwm_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}
