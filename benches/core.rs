//! The core's cost per input, with criterion: one chunk cycle, parsing large
//! `nextExpectedRanges` answers, restoring saved state. `BENCHMARKS.md` has the figures.

use std::hint::black_box;
use std::io::Write;

use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion, Throughput};
use upload_session::{
    Action, ExpectedRanges, FileInfo, Options, Owner, Response, Target, Timestamp, Upload,
};

const BASE: &str = "https://graph.microsoft.com/v1.0";
const CREATED: &[u8] = br#"{"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#microsoft.graph.uploadSession",
    "uploadUrl": "https://graph.microsoft.com/v1.0/users/6f9a1c2e-4b7d-4e0a-9c3b-2d8e5f7a1b4c/todo/lists/AAMkADliMmU5YjJlLTVmMmQtNGQzNy1iOGNmLTczOTQwOTVkMzhlNgAuAAAAAAAp=/tasks/AAMkADliMmU5YjJlLTVmMmQtNGQzNy1iOGNmLTczOTQwOTVkMzhlNgBGAAAAAAAp=/attachmentSessions/AAMkADliMmU5YjJlLTVmMmQtNGQzNy1iOGNmLTczOTQwOTVkMzhlNgBGAAAAAAAp=",
    "expirationDateTime": "2099-06-09T10:45:27.4324526Z", "nextExpectedRanges": ["0-"]}"#;

fn target() -> Target {
    Target::todo_task(
        BASE,
        Owner::Me,
        "AAMkADliMmU5YjJl=",
        "AAMkADliMmU5YjJlTask=",
    )
    .unwrap()
}

/// A machine with a session, for a file so large that the benchmark never reaches its end.
fn uploading(chunk: u64) -> (Upload, Timestamp) {
    let options = Options::default()
        .with_chunk_size(chunk)
        .with_size_limit(Some(u64::MAX));
    let mut up = Upload::new(target(), FileInfo::new("big.bin", 1 << 60), options).unwrap();
    let now = Timestamp::from_unix_millis(1_700_000_000_000);
    let Action::Send(req) = up.poll(now) else {
        unreachable!()
    };
    up.handle_response(now, req.id(), Response::new(200).body(CREATED))
        .unwrap();
    (up, now)
}

fn chunk_cycle(c: &mut Criterion) {
    let (mut up, now) = uploading(3_932_160);
    let mut body = Vec::with_capacity(128);
    c.bench_function("chunk_cycle", |b| {
        b.iter(|| {
            let Action::Send(req) = up.poll(now) else { unreachable!() };
            let next = req.file_range().unwrap().end();
            body.clear();
            write!(body, r#"{{"expirationDateTime": "2099-06-09T10:45:27.4324526Z", "nextExpectedRanges": ["{next}"]}}"#).unwrap();
            // Real answers carry the server's Date: the machine reads its clock from it.
            let resp = Response::new(200)
                .header("Date", "Tue, 14 Nov 2023 22:13:20 GMT")
                .body(&body);
            up.handle_response(now, req.id(), resp).unwrap();
            black_box(up.progress())
        })
    });
}

fn ranges_body(n: u64, size: u64) -> Vec<u8> {
    let step = size / (n + 1);
    let entries: Vec<String> = (0..n)
        .map(|i| format!("\"{}-{}\"", i * step, i * step + step / 2))
        .collect();
    format!("{{\"nextExpectedRanges\": [{}]}}", entries.join(",")).into_bytes()
}

fn parse_many_ranges(c: &mut Criterion) {
    let mut group = c.benchmark_group("next_expected_ranges");
    for n in [10u64, 100, 1_000, 10_000] {
        let size = 1 << 50;
        let body = ranges_body(n, size);
        group.throughput(Throughput::Elements(n));
        // Through the machine: a PUT answered with n ranges. A fresh machine each time (not
        // timed): answers that add no bytes would otherwise end the upload as stalled.
        group.bench_with_input(BenchmarkId::new("machine", n), &body, |b, body| {
            b.iter_batched(
                || uploading(3_932_160),
                |(mut up, now)| {
                    let Action::Send(req) = up.poll(now) else {
                        unreachable!()
                    };
                    up.handle_response(now, req.id(), Response::new(200).body(body))
                        .unwrap();
                    up
                },
                BatchSize::SmallInput,
            )
        });
        // The parser alone.
        let entries: Vec<String> = (0..n)
            .map(|i| format!("{}-{}", i * (size / (n + 1)), i * (size / (n + 1)) + 7))
            .collect();
        let mut set = ExpectedRanges::default();
        group.bench_with_input(BenchmarkId::new("parse_all", n), &entries, |b, entries| {
            b.iter(|| {
                set.parse_all(entries.iter().map(String::as_str), size)
                    .unwrap();
                black_box(set.missing_bytes())
            })
        });
    }
    group.finish();
}

fn restore(c: &mut Criterion) {
    let (mut up, now) = uploading(3_932_160);
    for _ in 0..3 {
        let Action::Send(req) = up.poll(now) else {
            unreachable!()
        };
        let next = req.file_range().unwrap().end();
        let body = format!(r#"{{"nextExpectedRanges": ["{next}-"]}}"#);
        up.handle_response(now, req.id(), Response::new(200).body(body.as_bytes()))
            .unwrap();
    }
    let saved = up.save();
    let target = target();
    let file = FileInfo::new("big.bin", 1 << 60);
    let options = Options::default()
        .with_chunk_size(3_932_160)
        .with_size_limit(Some(u64::MAX));
    c.bench_function("restore", |b| {
        b.iter(|| {
            let up = Upload::restore(
                black_box(saved.as_bytes()),
                target.clone(),
                file.clone(),
                options.clone(),
            )
            .unwrap();
            black_box(up.progress())
        })
    });
    c.bench_function("save", |b| b.iter(|| black_box(up.save())));
}

criterion_group!(benches, chunk_cycle, parse_many_ranges, restore);
criterion_main!(benches);
