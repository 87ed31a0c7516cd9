//! Heap use of the core, counted with a counting global allocator (this file is its own test
//! binary with a single test, so the count sees only it):
//! allocations per chunk cycle once the session exists, and the heap one upload holds between
//! requests.

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::Write;
use std::sync::atomic::{AtomicIsize, AtomicUsize, Ordering::Relaxed};

use upload_session::{Action, FileInfo, Options, Owner, Response, Target, Timestamp, Upload};

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);
static LIVE_BYTES: AtomicIsize = AtomicIsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Relaxed);
        LIVE_BYTES.fetch_add(layout.size() as isize, Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE_BYTES.fetch_sub(layout.size() as isize, Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Relaxed);
        LIVE_BYTES.fetch_add(new_size as isize - layout.size() as isize, Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const CREATED: &[u8] = br#"{"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#microsoft.graph.uploadSession",
    "uploadUrl": "https://graph.microsoft.com/v1.0/users/6f9a1c2e-4b7d-4e0a-9c3b-2d8e5f7a1b4c/todo/lists/AAMkADliMmU5YjJlLTVmMmQtNGQzNy1iOGNmLTczOTQwOTVkMzhlNgAuAAAAAAAp=/tasks/AAMkADliMmU5YjJlLTVmMmQtNGQzNy1iOGNmLTczOTQwOTVkMzhlNgBGAAAAAAAp=/attachmentSessions/AAMkADliMmU5YjJlLTVmMmQtNGQzNy1iOGNmLTczOTQwOTVkMzhlNgBGAAAAAAAp=",
    "expirationDateTime": "2099-06-09T10:45:27.4324526Z", "nextExpectedRanges": ["0-"]}"#;

fn uploading() -> (Upload, Timestamp) {
    let target = Target::todo_task(
        "https://graph.microsoft.com/v1.0",
        Owner::User("6f9a1c2e-4b7d-4e0a-9c3b-2d8e5f7a1b4c".into()),
        "AAMkADliMmU5YjJlLTVmMmQtNGQzNy1iOGNmLTczOTQwOTVkMzhlNgAuAAAAAAAp=",
        "AAMkADliMmU5YjJlLTVmMmQtNGQzNy1iOGNmLTczOTQwOTVkMzhlNgBGAAAAAAAp=",
    )
    .unwrap();
    let file = FileInfo::new("quarterly report 2026.pdf", 25 * 1024 * 1024)
        .with_content_type("application/pdf")
        .with_fingerprint("26214400:1763900000123456789");
    let mut up = Upload::new(target, file, Options::default()).unwrap();
    let now = Timestamp::from_unix_millis(1_700_000_000_000);
    let Action::Send(req) = up.poll(now) else {
        panic!()
    };
    up.handle_response(now, req.id(), Response::new(200).body(CREATED))
        .unwrap();
    (up, now)
}

/// One chunk cycle: poll -> Send, then the 200 with nextExpectedRanges. The body is written
/// into a reused buffer so that only the core's allocations are counted.
fn cycle(up: &mut Upload, now: Timestamp, body: &mut Vec<u8>) {
    let Action::Send(req) = up.poll(now) else {
        panic!("expected a PUT")
    };
    let next = req.file_range().unwrap().end();
    body.clear();
    write!(body, r#"{{"ExpirationDateTime": "2099-06-09T10:45:27.4324526Z", "NextExpectedRanges": ["{next}"]}}"#).unwrap();
    up.handle_response(now, req.id(), Response::new(200).body(body))
        .unwrap();
}

/// One test, so that no other test thread allocates while the counts are read.
#[test]
fn chunk_cycles_allocate_at_most_twice_and_an_upload_holds_under_4_kib() {
    at_most_two_allocations_per_chunk_cycle();
    heap_held_between_requests_is_under_4_kib();
}

fn at_most_two_allocations_per_chunk_cycle() {
    let (mut up, now) = uploading();
    let mut body = Vec::with_capacity(256);
    cycle(&mut up, now, &mut body); // warm the buffers
    let cycles = 5;
    let before = ALLOCATIONS.load(Relaxed);
    for _ in 0..cycles {
        cycle(&mut up, now, &mut body);
    }
    let per_cycle = (ALLOCATIONS.load(Relaxed) - before) as f64 / cycles as f64;
    println!("allocations per chunk cycle: {per_cycle}");
    assert!(per_cycle <= 2.0, "{per_cycle} allocations per chunk cycle");
}

fn heap_held_between_requests_is_under_4_kib() {
    let before = LIVE_BYTES.load(Relaxed);
    let (mut up, now) = uploading();
    let mut body = Vec::with_capacity(256);
    for _ in 0..3 {
        cycle(&mut up, now, &mut body);
    }
    drop(body);
    let held = LIVE_BYTES.load(Relaxed) - before;
    let live_with_upload = LIVE_BYTES.load(Relaxed);
    drop(up);
    let freed = live_with_upload - LIVE_BYTES.load(Relaxed);
    println!("heap held by one upload between requests: {held} bytes ({freed} freed on drop)");
    assert!(held <= 4096, "{held} bytes held");
    assert_eq!(
        freed, held,
        "what the upload held is what dropping it frees"
    );
}
