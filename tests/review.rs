//! Adversarial core-level cases, driven by hand against scripted answers. Tests that showed
//! a defect when they were written pass now.

use upload_session_testkit::START;

const BASE: &str = "https://graph.example.com/v1.0";

fn target() -> upload_session::Target {
    upload_session::Target::todo_task(
        BASE,
        upload_session::Owner::Me,
        "AAMDiF/kfh=",
        "AAMkAD+liMm=",
    )
    .unwrap()
}
use upload_session::{
    Action, FileInfo, Method, Options, Purpose, Request, Response, Timestamp, TransportError,
    Upload,
};

fn at(ms: u64) -> Timestamp {
    Timestamp::from_unix_millis(START + ms)
}

/// Polls until the machine sends something, jumping the clock over waits.
fn next(up: &mut Upload, now: &mut u64) -> Action {
    for _ in 0..100 {
        match up.poll(at(*now)) {
            Action::Wait { until, .. } => {
                *now = until.as_unix_millis() - START;
            }
            other => return other,
        }
    }
    panic!("the machine keeps asking to wait");
}

fn send(up: &mut Upload, now: &mut u64) -> Request {
    match next(up, now) {
        Action::Send(r) => r,
        other => panic!("expected a request, got {other:?}"),
    }
}

fn session_body() -> String {
    format!(
        r#"{{"uploadUrl":"{BASE}/me/todo/lists/L=/tasks/T=/attachmentSessions/S0=","expirationDateTime":"2099-01-01T00:00:00.1234567Z","nextExpectedRanges":["0-"]}}"#
    )
}

fn forced(chunk: u64) -> Options {
    {
        let mut o = Options::default();
        o.chunk_size = Some(chunk);
        o.force_session = true;
        o
    }
}

/// docs/protocol.md §8 ("a lost answer to the final PUT ... look for the result before starting
/// over") and 9 (after an unknown outcome the server "may hold all, some or none").
///
/// The final PUT times out while the server is still committing it. The status GET, served
/// before that commit, still lists the chunk; the machine re-sends it; by then the first PUT
/// completed the upload and the session is gone, so the re-send gets 404. The machine forgot
/// that the final chunk had an unknown outcome (follow_ranges clears `maybe_complete`) and
/// creates a new session: the file is attached twice. Right: a 404 in a session whose final
/// chunk had an unknown outcome must look for the result first.
#[test]
fn late_commit_of_the_final_chunk_is_looked_for_not_reuploaded() {
    let file = FileInfo::new("flower.bin", 1000);
    let mut up = Upload::new(target(), file, forced(1000)).unwrap();
    let mut now = 0;
    let create = send(&mut up, &mut now);
    assert_eq!(create.purpose(), Purpose::CreateSession);
    let body = session_body();
    up.handle_response(
        at(now),
        create.id(),
        Response::new(200).body(body.as_bytes()),
    )
    .unwrap();

    let put = send(&mut up, &mut now);
    assert_eq!(put.method(), Method::Put);
    up.handle_transport_error(at(now), put.id(), TransportError::Timeout)
        .unwrap();

    let get = send(&mut up, &mut now);
    assert_eq!(get.purpose(), Purpose::QueryStatus);
    up.handle_response(
        at(now),
        get.id(),
        Response::new(200).body(br#"{"nextExpectedRanges":["0-"]}"#),
    )
    .unwrap();

    let again = send(&mut up, &mut now);
    assert_eq!(again.method(), Method::Put);
    assert_eq!(again.file_range(), put.file_range());
    up.handle_response(at(now), again.id(), Response::new(404))
        .unwrap();

    let after = send(&mut up, &mut now);
    assert_eq!(
        after.purpose(),
        Purpose::FindResult,
        "the first final PUT may have completed the upload: look before a new session"
    );
}

/// Gap coverage (passes): several nextExpectedRanges, each sent in order, chunks never
/// crossing a gap's end, and the PUT URL keeping the uploadUrl's query after `/content`.
#[test]
fn several_ranges_and_a_query_string() {
    let file = FileInfo::new("a.bin", 1000);
    let mut up = Upload::new(target(), file, forced(300)).unwrap();
    let mut now = 0;
    let create = send(&mut up, &mut now);
    let body =
        format!(r#"{{"UploadUrl":"{BASE}/s/S1=?tempauth=abc","NextExpectedRanges":["0-"]}}"#);
    up.handle_response(
        at(now),
        create.id(),
        Response::new(201).body(body.as_bytes()),
    )
    .unwrap();
    let p1 = send(&mut up, &mut now);
    assert_eq!(p1.url(), format!("{BASE}/s/S1=/content?tempauth=abc"));
    assert!(p1.needs_token());
    assert_eq!(p1.content_range().unwrap().to_string(), "bytes 0-299/1000");
    up.handle_response(
        at(now),
        p1.id(),
        Response::new(200).body(br#"{"NextExpectedRanges":["100-149","300-"]}"#),
    )
    .unwrap();
    let p2 = send(&mut up, &mut now);
    assert_eq!(
        p2.content_range().unwrap().to_string(),
        "bytes 100-149/1000"
    );
    up.handle_response(
        at(now),
        p2.id(),
        Response::new(200).body(br#"{"nextExpectedRanges":["300-999"]}"#),
    )
    .unwrap();
    let p3 = send(&mut up, &mut now);
    assert_eq!(
        p3.content_range().unwrap().to_string(),
        "bytes 300-599/1000"
    );
}
