//! End to end: the uploader (`todo_upload::drive::Driver` over the core) against a minimal
//! hand-written loop of PUTs, both over ureq to one long-lived in-process `graph_emulator`.
//!
//! `cargo bench -p todo-upload --bench e2e -- [ratio] [sweep] [--runs N] [--size BYTES]
//! [--chunk BYTES] [--out DIR] [--drive]`
//!
//! - `ratio` (the default): a 25 MiB file in 3,932,160-byte chunks (or `--chunk`), the two clients run
//!   alternately (B A B A ... after a warm-up pair) so that machine noise hits both alike;
//!   prints each pair and the median of the per-pair ratios uploader / baseline.
//! - `sweep`: the same pairs for chunk sizes from 320 KiB to 12 x 320 KiB; writes every run to
//!   `DIR/throughput.csv` (`benches/results/` by default), which
//!   `scripts/plot_throughput.py` turns into `docs/throughput.svg`.
//!
//! With `--drive` both clients upload a OneDrive drive item instead (docs/protocol.md §8):
//! create on Graph with the token, PUTs to the upload host as given without it, 202 until the
//! last fragment.
//!
//! Every upload is checked byte for byte against the file, outside the timed part, and taken
//! out of the emulator so that its memory stays flat over hundreds of runs.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use graph_emulator::{Config, Emulator, Parent};
use todo_upload::drive::{Driver, Outcome};
use todo_upload::source::SourceFile;
use todo_upload::token::TokenSource;
use todo_upload::transport::Http;
use upload_session::{Conflict, Drive, DrivePlace, Options, Owner, Target, Upload};
use ureq::SendBody;

const CHUNK_UNIT: u64 = 320 * 1024;
const DEFAULT_CHUNK: u64 = 12 * CHUNK_UNIT;

struct Bench {
    emu: Emulator,
    path: PathBuf,
    data: Vec<u8>,
    /// Drive items instead of To Do attachments.
    drive: bool,
}

/// The drive folder both clients upload into.
const FOLDER: &str = "F1";

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Client {
    Baseline,
    Uploader,
}

impl Client {
    fn name(self) -> &'static str {
        match self {
            Client::Baseline => "baseline",
            Client::Uploader => "uploader",
        }
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let (mut ratio, mut sweep) = (false, false);
    let mut runs = 41usize;
    let mut size: u64 = 25 * 1024 * 1024;
    let mut chunk = DEFAULT_CHUNK;
    let mut out = Path::new(env!("CARGO_MANIFEST_DIR")).join("../benches/results");
    let mut drive = false;
    while let Some(a) = args.next() {
        match a.as_str() {
            "ratio" => ratio = true,
            "sweep" => sweep = true,
            "--runs" => runs = args.next().and_then(|v| v.parse().ok()).expect("--runs N"),
            "--size" => size = args.next().and_then(|v| v.parse().ok()).expect("--size N"),
            "--chunk" => chunk = args.next().and_then(|v| v.parse().ok()).expect("--chunk N"),
            "--out" => out = PathBuf::from(args.next().expect("--out DIR")),
            "--drive" => drive = true,
            // What `cargo bench` passes to every harness-less bench.
            "--bench" => {}
            other => {
                eprintln!("e2e: ignoring argument {other:?}");
            }
        }
    }
    if !ratio && !sweep {
        ratio = true;
    }

    let bench = Bench::new(size, drive);
    // The warm-up's chunk must suit the destination: 12 x 320 KiB suits both.
    println!(
        "e2e: {} bytes, emulator at {}, {} cores",
        size,
        bench.emu.base_url(),
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    // Warm-up: connections, page cache, allocator.
    bench.run(Client::Baseline, DEFAULT_CHUNK);
    bench.run(Client::Uploader, DEFAULT_CHUNK);

    if ratio {
        let pairs = bench.pairs(chunk, runs);
        let mut ratios: Vec<f64> = pairs.iter().map(|(b, u)| u / b).collect();
        for (i, (b, u)) in pairs.iter().enumerate() {
            println!(
                "pair {i:>2}: baseline {:>7.1} ms {:>7.1} MiB/s   uploader {:>7.1} ms {:>7.1} MiB/s   ratio {:.3}",
                b * 1e3,
                mib_per_s(size, *b),
                u * 1e3,
                mib_per_s(size, *u),
                u / b
            );
        }
        let (mut bs, mut us): (Vec<f64>, Vec<f64>) = pairs.iter().copied().unzip();
        println!(
            "ratio uploader/baseline, {} pairs of {} bytes in {}-byte chunks: median {:.3} (min {:.3}, max {:.3}); median baseline {:.1} MiB/s, uploader {:.1} MiB/s",
            pairs.len(),
            size,
            chunk,
            median(&mut ratios),
            ratios.first().copied().unwrap_or(f64::NAN),
            ratios.last().copied().unwrap_or(f64::NAN),
            mib_per_s(size, median(&mut bs)),
            mib_per_s(size, median(&mut us)),
        );
    }

    if sweep {
        std::fs::create_dir_all(&out).expect("create the output directory");
        let csv_path = out.join("throughput.csv");
        let mut csv = String::from("chunk_bytes,client,run,seconds,mib_per_s\n");
        let sweep_runs = runs.clamp(1, 15);
        for k in [1u64, 2, 3, 4, 6, 8, 10, 12] {
            let chunk = k * CHUNK_UNIT;
            let pairs = bench.pairs(chunk, sweep_runs);
            for (i, (b, u)) in pairs.iter().enumerate() {
                for (client, secs) in [(Client::Baseline, b), (Client::Uploader, u)] {
                    csv.push_str(&format!(
                        "{chunk},{},{i},{secs:.6},{:.3}\n",
                        client.name(),
                        mib_per_s(size, *secs)
                    ));
                }
            }
            let (mut bs, mut us): (Vec<f64>, Vec<f64>) = pairs.iter().copied().unzip();
            let (bm, um) = (median(&mut bs), median(&mut us));
            println!(
                "chunk {chunk:>8}: baseline {:>7.1} MiB/s  uploader {:>7.1} MiB/s  ratio {:.3}",
                mib_per_s(size, bm),
                mib_per_s(size, um),
                um / bm
            );
        }
        std::fs::write(&csv_path, csv).expect("write the CSV");
        println!("wrote {}", csv_path.display());
    }
}

impl Bench {
    fn new(size: u64, drive: bool) -> Bench {
        let emu = Emulator::start(Config {
            max_size: u64::MAX,
            ..Config::default()
        })
        .expect("start the emulator");
        let dir = std::env::temp_dir().join(format!("todo-upload-e2e-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("payload.bin");
        let mut data = vec![0u8; size as usize];
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for b in data.iter_mut() {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            *b = x as u8;
        }
        std::fs::write(&path, &data).expect("write the payload");
        Bench {
            emu,
            path,
            data,
            drive,
        }
    }

    /// `n` pairs, each `(baseline seconds, uploader seconds)`, the order inside a pair
    /// alternating so that neither client always runs first.
    fn pairs(&self, chunk: u64, n: usize) -> Vec<(f64, f64)> {
        (0..n)
            .map(|i| {
                if i % 2 == 0 {
                    let b = self.run(Client::Baseline, chunk);
                    let u = self.run(Client::Uploader, chunk);
                    (b, u)
                } else {
                    let u = self.run(Client::Uploader, chunk);
                    let b = self.run(Client::Baseline, chunk);
                    (b, u)
                }
            })
            .collect()
    }

    /// One whole upload; returns its wall time in seconds (the check after it is not timed).
    fn run(&self, client: Client, chunk: u64) -> f64 {
        let started = Instant::now();
        match (client, self.drive) {
            (Client::Baseline, false) => baseline(&self.emu, &self.path, chunk),
            (Client::Uploader, false) => uploader(&self.emu, &self.path, chunk),
            (Client::Baseline, true) => drive_baseline(&self.emu, &self.path, chunk),
            (Client::Uploader, true) => drive_uploader(&self.emu, &self.path, chunk),
        }
        let secs = started.elapsed().as_secs_f64();
        let mut stored = if self.drive {
            self.emu.take_items(&Parent::DriveFolder {
                folder: FOLDER.into(),
            })
        } else {
            self.emu
                .take_attachments(self.emu.list_id(), self.emu.task_id())
        };
        assert_eq!(stored.len(), 1, "{client:?}: one attachment expected");
        let got = stored.pop().map(|a| a.bytes).unwrap_or_default();
        assert!(got == self.data, "{client:?}: the stored bytes differ");
        secs
    }
}

/// The uploader as the binary drives it: the core, `Http` over ureq, `SourceFile`.
fn uploader(emu: &Emulator, path: &Path, chunk: u64) {
    let target =
        Target::todo_task(&emu.base_url(), Owner::Me, emu.list_id(), emu.task_id()).unwrap();
    upload_to(emu, path, chunk, target);
}

/// The uploader to a drive item.
fn drive_uploader(emu: &Emulator, path: &Path, chunk: u64) {
    let place = DrivePlace::Parent {
        item: FOLDER.into(),
        name: "payload.bin".into(),
    };
    let target = Target::drive_item(&emu.base_url(), Drive::Me, place, Conflict::Fail).unwrap();
    upload_to(emu, path, chunk, target);
}

fn upload_to(emu: &Emulator, path: &Path, chunk: u64, target: Target) {
    let mut file = SourceFile::open(path).expect("open");
    let options = {
        let mut o = Options::default();
        o.chunk_size = Some(chunk);
        o.force_session = true;
        o.size_limit = Some(u64::MAX);
        o
    };
    let mut upload = Upload::new(target, file.info(), options).expect("upload");
    let http = Http::new(Duration::from_secs(60), Some(emu.token().to_owned()));
    let token = TokenSource::Fixed(emu.token().to_owned());
    let mut sink = std::io::sink();
    let mut driver = Driver::new(&http, &token, &mut file, &mut sink, "bench");
    match driver.run(&mut upload) {
        Ok(Outcome::Done(_)) => {}
        other => panic!("the upload did not complete: {other:?}"),
    }
}

/// Percent-encodes a path segment (everything but RFC 3986's unreserved characters).
fn segment(id: &str) -> String {
    let mut out = String::with_capacity(id.len() * 3);
    for b in id.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The minimal loop: create the session, then PUT each range straight from the file, going
/// on from the first start in `nextExpectedRanges`, until the 201.
fn baseline(emu: &Emulator, path: &Path, chunk: u64) {
    let agent = ureq::Agent::new_with_defaults();
    let auth = format!("Bearer {}", emu.token());
    let mut file = File::open(path).expect("open");
    let size = file.metadata().expect("metadata").len();
    let create = format!(
        "{}/me/todo/lists/{}/tasks/{}/attachments/createUploadSession",
        emu.base_url(),
        segment(emu.list_id()),
        segment(emu.task_id())
    );
    let body = format!(
        r#"{{"attachmentInfo":{{"attachmentType":"file","name":"payload.bin","size":{size}}}}}"#
    );
    let upload_url = create_session(&agent, &create, &auth, &body);
    let content_url = match upload_url.split_once('?') {
        Some((p, q)) => format!("{p}/content?{q}"),
        None => format!("{upload_url}/content"),
    };
    put_ranges(&agent, &content_url, Some(&auth), &mut file, size, chunk);
}

/// The minimal drive loop: create with the token, then PUT each range to the upload URL as
/// given, without it, going on from the first start in `nextExpectedRanges`, until the item.
fn drive_baseline(emu: &Emulator, path: &Path, chunk: u64) {
    let agent = ureq::Agent::new_with_defaults();
    let auth = format!("Bearer {}", emu.token());
    let mut file = File::open(path).expect("open");
    let size = file.metadata().expect("metadata").len();
    let create = format!(
        "{}/me/drive/items/{FOLDER}:/payload.bin:/createUploadSession",
        emu.base_url()
    );
    let body = r#"{"item":{"@microsoft.graph.conflictBehavior":"fail"}}"#;
    let upload_url = create_session(&agent, &create, &auth, body);
    // No token: the upload host is not Graph's.
    put_ranges(&agent, &upload_url, None, &mut file, size, chunk);
}

/// POSTs `body` to the createUploadSession URL `create` with the token; the uploadUrl.
fn create_session(agent: &ureq::Agent, create: &str, auth: &str, body: &str) -> String {
    let mut resp = agent
        .post(create)
        .header("Authorization", auth)
        .header("Content-Type", "application/json")
        .send(body.as_bytes())
        .expect("createUploadSession");
    let session: serde_json::Value =
        serde_json::from_slice(&resp.body_mut().read_to_vec().expect("answer")).expect("JSON");
    session["uploadUrl"].as_str().expect("uploadUrl").to_owned()
}

/// PUTs each range straight from the file, going on from the first start in
/// `nextExpectedRanges` (200 or 202), until the answer that completes it (200 with an item,
/// or 201).
fn put_ranges(
    agent: &ureq::Agent,
    url: &str,
    auth: Option<&str>,
    file: &mut File,
    size: u64,
    chunk: u64,
) {
    let mut at = 0u64;
    loop {
        let end = (at + chunk).min(size);
        file.seek(SeekFrom::Start(at)).expect("seek");
        let mut range = (&mut *file).take(end - at);
        let mut put = agent
            .put(url)
            .header("Content-Type", "application/octet-stream")
            .header("Content-Length", (end - at).to_string())
            .header("Content-Range", format!("bytes {at}-{}/{size}", end - 1));
        if let Some(auth) = auth {
            put = put.header("Authorization", auth);
        }
        let mut resp = put.send(SendBody::from_reader(&mut range)).expect("PUT");
        let status = resp.status().as_u16();
        let answer = resp.body_mut().read_to_vec().expect("answer");
        let v: serde_json::Value = serde_json::from_slice(&answer).unwrap_or_default();
        let more = v["nextExpectedRanges"][0].as_str();
        match (status, more) {
            (201, _) | (200, None) => return,
            (200 | 202, Some(first)) => {
                at = first
                    .split('-')
                    .next()
                    .and_then(|s| s.parse().ok())
                    .expect("a start");
            }
            (other, _) => panic!("PUT answered {other}: {}", String::from_utf8_lossy(&answer)),
        }
    }
}

fn mib_per_s(bytes: u64, secs: f64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0) / secs
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}
