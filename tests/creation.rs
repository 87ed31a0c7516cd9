//! Opening the upload: the session's creation, the single POST for small files, sizes and chunk
//! sizes, the URLs and ids the machine reads, and where the token may go.

mod kit;

use graph_model::encode_segment;
use kit::*;
use upload_session::{
    Action, Base64Encoder, Body, ConfigError, Error, FileInfo, Options, Owner, ProtocolError,
    Purpose, Response, State, Target, Upload,
};
use upload_session_testkit::{TestFile, HELD_BYTES};

/// The protocol's own example (docs/protocol.md §2, §3, §5): one POST, then 2 MiB and the
/// remaining 1,386,170 bytes, completed by a 201 whose `Location` names the attachment.
#[test]
fn the_seed_example_two_puts_of_2_mib() {
    let mut pair = pair("", SEED_SIZE);
    let mut up = pair.upload(Options::default().with_chunk_size(MIB2));
    assert_eq!(up.state(), State::Creating);
    assert_eq!((up.requests(), up.sessions()), (0, 0));
    let run = drive(&mut pair, &mut up);
    let c = done(&run).clone();
    assert_eq!(
        run.lines(),
        ["POST", "PUT 0-2097151", "PUT 2097152-3483321"]
    );
    assert_eq!(statuses(&run), [Some(200), Some(200), Some(201)]);
    let collection = pair.target().collection_url().unwrap().to_owned();
    assert_eq!(run.log[0].url, format!("{collection}/createUploadSession"));
    // Both PUTs go to the uploadUrl given at creation, with /content appended (§3).
    let session = run.log[1].url.strip_suffix("/content").unwrap();
    assert!(session.contains("/attachmentSessions/"), "{session}");
    assert_eq!(run.log[2].url, run.log[1].url);
    // The id is the segment after `Attachments/`, decoded; the Location is kept whole (§5).
    let made = pair.created();
    assert_eq!(made.len(), 1);
    assert_eq!(c.id, made[0].id);
    let location = c.location.as_deref().unwrap();
    assert!(
        location.ends_with(&format!("/Attachments/{}", encode_segment(&made[0].id))),
        "{location}"
    );
    assert!(!c.found_by_lookup);
    assert_eq!(c.size, SEED_SIZE);
    assert_eq!(up.state(), State::Done);
    assert_eq!(up.progress().confirmed, SEED_SIZE);
    assert_eq!((up.requests(), up.sessions()), (3, 1));
    assert_eq!(pair.model.sessions_created(), 1);
    assert_eq!(pair.model.live_sessions(pair.now.as_unix_millis()), 0);
    pair.assert_sound(&run.end);
}

/// The create request (docs/protocol.md §2): a POST to createUploadSession with the token and
/// `attachmentInfo`; polling again without input repeats the same request.
#[test]
fn first_poll_creates_with_the_attachment_info_and_the_token() {
    let mut pair = pair("", SEED_SIZE);
    let mut up = pair.upload(Options::default().with_chunk_size(MIB2));
    let Action::Send(req) = pair.poll(&mut up) else {
        panic!("the first action sends")
    };
    assert_eq!(req.purpose(), Purpose::CreateSession);
    assert_eq!(req.method().as_str(), "POST");
    assert!(req.needs_token());
    assert_eq!(req.url(), pair.target().create_url());
    let Body::Json(body) = req.body() else {
        panic!("{:?}", req.body())
    };
    let v: serde_json::Value = serde_json::from_str(body).unwrap();
    assert_eq!(v["attachmentInfo"]["size"], SEED_SIZE);
    assert_eq!(v["attachmentInfo"]["attachmentType"], "file");
    assert_eq!(v["attachmentInfo"]["name"], "flower.jpg");
    assert_eq!(
        up.poll(pair.now),
        Action::Send(req.clone()),
        "same request, same id"
    );
    assert_eq!((up.requests(), up.state()), (1, State::Creating));
    // The model takes it as it is.
    assert_eq!(pair.send(&up, &req).status(), Some(200));
    assert_eq!(pair.model.sessions_created(), 1);
    assert!(pair.model.violations().is_empty());
}

/// A 201 to the create and PascalCase or mixed-case keys are all accepted (docs/protocol.md §2,
/// §3, §8).
#[test]
fn created_201_and_pascal_or_mixed_case_keys_are_accepted() {
    for plan in ["created pascal", "created mixed", "pascal"] {
        let mut pair = pair(plan, SEED_SIZE);
        let mut up = pair.upload(Options::default().with_chunk_size(MIB2));
        let run = drive(&mut pair, &mut up);
        done(&run);
        assert_eq!(
            run.lines(),
            ["POST", "PUT 0-2097151", "PUT 2097152-3483321"],
            "{plan}"
        );
        let create = if plan.starts_with("created") {
            201
        } else {
            200
        };
        assert_eq!(
            statuses(&run),
            [Some(create), Some(200), Some(201)],
            "{plan}"
        );
        pair.assert_sound(&run.end);
    }
}

/// The default chunk is 3,932,160 bytes, and 25 MiB is the largest To Do file (docs/protocol.md
/// §1, §3).
#[test]
fn default_chunk_and_the_25_mib_maximum() {
    const DEFAULT: u64 = 3_932_160;
    let size = 25 * 1024 * 1024;
    assert!(size > HELD_BYTES);
    let mut pair = pair("", size);
    let mut up = pair.upload(Options::default());
    assert_eq!(up.chunk_size(), DEFAULT);
    let run = drive(&mut pair, &mut up);
    done(&run);
    let mut want = vec!["POST".to_string()];
    for i in 0..6 {
        want.push(format!("PUT {}-{}", i * DEFAULT, (i + 1) * DEFAULT - 1));
    }
    want.push(format!("PUT {}-{}", 6 * DEFAULT, size - 1));
    assert_eq!(run.lines(), want);
    pair.assert_sound(&run.end);
    // One byte more is refused before any request.
    let r = Upload::new(
        pair.target(),
        FileInfo::new("big", size + 1),
        Options::default(),
    );
    assert!(
        matches!(r, Err(ConfigError::FileTooLarge { size: s, max }) if s == size + 1 && max == size),
        "{r:?}"
    );
}

/// A chunk is 1 to 3,999,999 bytes ("under 4 MB", docs/protocol.md §3).
#[test]
fn chunk_sizes_are_validated() {
    let target = pair("", 0).target();
    let file = FileInfo::new("f", 10_000_000);
    for bad in [0, 4_000_000, 4_194_304, u64::MAX] {
        let r = Upload::new(
            target.clone(),
            file.clone(),
            Options::default().with_chunk_size(bad),
        );
        assert!(matches!(r, Err(ConfigError::ChunkSize { .. })), "{bad}");
    }
    for good in [1, 327_680, 3_999_999] {
        let up = Upload::new(
            target.clone(),
            file.clone(),
            Options::default().with_chunk_size(good),
        )
        .unwrap();
        assert_eq!(up.chunk_size(), good);
    }
}

/// Files under 3,000,000 bytes go by one POST of the attachment (docs/protocol.md §7) unless a
/// session is forced; a 0-byte file always does, since no `Content-Range` can describe it.
#[test]
fn small_files_go_by_single_post_unless_forced() {
    for size in [0, 1, 2_999_999] {
        let mut pair = pair("", size);
        let mut up = pair.upload(Options::default());
        assert_eq!(up.state(), State::Posting, "{size}");
        let run = drive(&mut pair, &mut up);
        let c = done(&run).clone();
        assert_eq!(run.lines(), ["POST"], "{size}");
        assert_eq!(statuses(&run), [Some(201)]);
        assert_eq!(run.log[0].url, pair.target().collection_url().unwrap());
        assert_eq!(c.id, pair.created()[0].id);
        assert!(!c.found_by_lookup);
        assert_eq!(pair.model.sessions_created(), 0);
        pair.assert_sound(&run.end);
    }
    // 3,000,000 bytes and up: a session.
    let mut big = pair("", 3_000_000);
    assert_eq!(big.upload(Options::default()).state(), State::Creating);
    // Forced: a 1-byte file through a session, one PUT of bytes 0-0/1.
    let forced = Options::default().with_force_session(true);
    let mut pair1 = pair("", 1);
    let mut up = pair1.upload(forced.clone());
    assert_eq!(up.state(), State::Creating);
    let run = drive(&mut pair1, &mut up);
    done(&run);
    assert_eq!(run.lines(), ["POST", "PUT 0-0"]);
    assert_eq!(pair1.model.sessions_created(), 1);
    pair1.assert_sound(&run.end);
    // A 0-byte file: single POST even when forced.
    let mut pair0 = pair("", 0);
    assert_eq!(pair0.upload(forced).state(), State::Posting);
}

/// The single POST's `Content-Length` is the exact length of the JSON with the base64 file
/// inside (docs/protocol.md §7, §9).
#[test]
fn single_post_body_length_is_exact() {
    let mut pair = pair("", 1000);
    let mut up = pair.upload(Options::default().with_chunk_size(MIB2));
    let Action::Send(req) = pair.poll(&mut up) else {
        panic!()
    };
    assert_eq!(req.purpose(), Purpose::SinglePost);
    let Body::JsonWithBase64File {
        prefix,
        range,
        suffix,
    } = req.body()
    else {
        panic!("{:?}", req.body())
    };
    let mut out = prefix.as_bytes().to_vec();
    let mut enc = Base64Encoder::new();
    enc.push(&pair.file.read(range.unwrap()), &mut out);
    enc.finish(&mut out);
    out.extend_from_slice(suffix.as_bytes());
    assert_eq!(Some(out.len() as u64), req.content_length());
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v["@odata.type"], "#microsoft.graph.taskFileAttachment");
    assert_eq!(v["name"], "flower.jpg");
    assert_eq!(v["contentBytes"].as_str().unwrap().len(), 1336);
    // The model decodes it back to the file.
    assert_eq!(pair.send(&up, &req).status(), Some(201));
    assert!(TestFile::new("flower.jpg", 1000).is(&pair.created()[0].bytes));
}

/// A create answer without an uploadUrl, with one that is no https URL, with ranges that
/// break §4 or that is no JSON is a typed protocol error (docs/protocol.md §2, §4). The model
/// never answers so; these answers are scripted.
#[test]
fn hostile_session_answers_are_protocol_errors() {
    type Check = fn(&ProtocolError) -> bool;
    let cases: [(&str, Check); 4] = [
        (r#"{"nextExpectedRanges": ["0-"]}"#, |e| {
            matches!(e, ProtocolError::MissingUploadUrl)
        }),
        (r#"{"uploadUrl": "ftp://x/y"}"#, |e| {
            matches!(e, ProtocolError::UploadUrl(_))
        }),
        (
            r#"{"uploadUrl": "https://g/u", "nextExpectedRanges": ["9-3"]}"#,
            |e| matches!(e, ProtocolError::Body(_)),
        ),
        ("<html>", |e| matches!(e, ProtocolError::Body(_))),
    ];
    for (body, check) in cases {
        let mut pair = pair("", SEED_SIZE);
        let mut up = pair.upload(Options::default().with_chunk_size(MIB2));
        let Action::Send(req) = pair.poll(&mut up) else {
            panic!()
        };
        up.handle_response(pair.now, req.id(), Response::new(200).body(body.as_bytes()))
            .unwrap();
        match pair.poll(&mut up) {
            Action::Failed(Error::Protocol {
                error,
                purpose: Purpose::CreateSession,
            }) => assert!(check(&error), "{body}: {error}"),
            other => panic!("{body}: {other:?}"),
        }
        assert_eq!(up.state(), State::Failed);
    }
}

/// A status that retrying cannot fix ends the upload with Graph's code, request id and message
/// (docs/protocol.md §9). The model answers no 403 to a correct client; this one is scripted.
#[test]
fn other_errors_carry_graphs_code() {
    let mut pair = pair("", SEED_SIZE);
    let mut up = pair.upload(Options::default().with_chunk_size(MIB2));
    let Action::Send(req) = pair.poll(&mut up) else {
        panic!()
    };
    let body = br#"{"error": {"code": "ErrorAccessDenied", "message": "Access is denied.", "innerError": {"request-id": "abc"}}}"#;
    up.handle_response(pair.now, req.id(), Response::new(403).body(body))
        .unwrap();
    let Action::Failed(Error::Status(e)) = pair.poll(&mut up) else {
        panic!("{:?}", up.poll(pair.now))
    };
    assert_eq!((e.status, e.purpose), (403, Purpose::CreateSession));
    assert_eq!(e.graph.code.as_deref(), Some("ErrorAccessDenied"));
    assert_eq!(e.graph.request_id.as_deref(), Some("abc"));
    assert_eq!(
        e.to_string(),
        "session creation answered HTTP 403 (ErrorAccessDenied): Access is denied."
    );
    assert_eq!(up.requests(), 1, "not retried");
}

/// An uploadUrl on another origin never gets the token, and its `?tempauth=` credential is
/// kept on the wire and shown nowhere (docs/protocol.md §8, §9). The model refuses any
/// `Authorization` there, which `assert_sound` would report.
#[test]
fn a_foreign_upload_url_never_gets_the_token() {
    let mut pair = pair("foreign", SEED_SIZE);
    let mut up = pair.upload(Options::default().with_chunk_size(MIB2));
    let run = drive(&mut pair, &mut up);
    done(&run);
    assert_eq!(
        run.lines(),
        ["POST", "PUT 0-2097151", "PUT 2097152-3483321"]
    );
    let foreign = pair.model.foreign_origin().to_owned();
    for put in &run.log[1..] {
        assert!(put.url.starts_with(&foreign), "{}", put.url);
        assert!(put.url.contains("/content?tempauth="), "{}", put.url);
    }
    let secret = run.log[1].url.split_once("tempauth=").unwrap().1;
    assert!(!secret.is_empty());
    assert!(!format!("{up:?}").contains(secret));
    let put_records: Vec<_> = pair
        .model
        .requests()
        .filter(|r| r.method == "PUT")
        .collect();
    assert_eq!(put_records.len(), 2);
    assert!(put_records.iter().all(|r| !r.authorization));
    pair.assert_sound(&run.end);
}

/// A Graph-origin uploadUrl with a query keeps it, `/content` going before the `?`
/// (docs/protocol.md §3), and the query is redacted wherever the machine shows the URL (§9).
#[test]
fn a_query_on_the_upload_url_is_kept_and_redacted() {
    let mut pair = pair("query", SEED_SIZE);
    let mut up = pair.upload(Options::default().with_chunk_size(MIB2));
    let Action::Send(create) = pair.poll(&mut up) else {
        panic!()
    };
    pair.send(&up, &create)
        .feed(&mut up, pair.now, &create)
        .unwrap();
    let Action::Send(put) = pair.poll(&mut up) else {
        panic!()
    };
    let (path, secret) = put.url().split_once("?tempauth=").unwrap();
    assert!(path.ends_with("/content"), "{path}");
    assert!(put.url().starts_with(pair.model.graph_origin()));
    assert!(put.needs_token(), "the Graph origin takes the token");
    assert!(!format!("{put:?}").contains(secret));
    assert!(!format!("{up:?}").contains(secret));
    assert!(!up.upload_url().unwrap().to_string().contains(secret));
    assert!(!put.redacted_url().to_string().contains(secret));
    // The model checks the credential on every request of the session.
    let run = drive(&mut pair, &mut up);
    done(&run);
    assert_eq!(run.lines(), ["PUT 0-2097151", "PUT 2097152-3483321"]);
    pair.assert_sound(&run.end);
}

/// The token goes only to the Graph base URL's origin (docs/protocol.md §9): a look-alike
/// host with user info is another origin.
#[test]
fn the_token_goes_only_to_the_graph_origin() {
    let target =
        Target::todo_task("https://graph.example.com/v1.0", Owner::Me, "L=", "T=").unwrap();
    assert!(target.is_graph_origin("https://graph.example.com/v1.0/x"));
    assert!(!target.is_graph_origin("https://graph.example.com@evil.example/v1.0/x"));
    assert!(!target.is_graph_origin("https://graph.example.com.evil.example/v1.0/x"));
    assert!(!target.is_graph_origin("http://graph.example.com/v1.0/x"));
}
