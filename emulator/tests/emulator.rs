//! The emulator over real HTTP, driven by the tiny client in `common`.

mod common;

use std::time::{Duration, Instant};

use common::{content_url, enc, file, send, send_raw, Client};
use graph_emulator::{
    Config, Emulator, Fault, FaultRule, Faults, KeyCase, Origin, RequestKind, RetryAfter,
};

fn start() -> Emulator {
    Emulator::start(Config::default()).expect("emulator starts")
}

fn start_with(faults: Faults) -> Emulator {
    Emulator::start(Config {
        faults,
        ..Config::default()
    })
    .expect("emulator starts")
}

fn one(fault: Fault) -> Faults {
    Faults::none().with(FaultRule::nth(1, fault))
}

#[test]
fn full_upload_in_two_chunks_is_byte_exact() {
    let emu = start();
    let c = Client::new(&emu);
    let data = file(5_000_000);
    let r = c.create("flower.bin", data.len() as u64);
    assert_eq!(r.status, 200);
    let v = r.json();
    assert!(v["@odata.context"]
        .as_str()
        .unwrap()
        .ends_with("/$metadata#microsoft.graph.uploadSession"));
    assert_eq!(v["nextExpectedRanges"], serde_json::json!(["0-"]));
    let exp = v["expirationDateTime"].as_str().unwrap();
    assert_eq!(exp.len(), "2026-06-09T10:45:27.4324526Z".len(), "{exp}");
    assert!(exp.ends_with('Z') && exp.as_bytes()[19] == b'.');
    let url = v["uploadUrl"].as_str().unwrap().to_string();
    assert!(url.starts_with(&format!(
        "{}/users/{}/todo/lists/",
        emu.base_url(),
        emu.user_id()
    )));
    assert!(url.contains("/attachmentSessions/") && url.contains('='));
    assert!(url.contains(&enc(emu.list_id()).replace("%3D", "=")));

    let r = c.put(&url, &data, 0, 3_000_000).unwrap();
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.ranges(), ["3000000"]);
    assert_eq!(r.key("expirationDateTime").as_str(), Some(exp));
    assert!(r.key("uploadUrl").is_null());

    let r = c.get(&url).unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.ranges(), ["3000000"]);
    assert_eq!(r.key("uploadUrl").as_str(), Some(url.as_str()));

    let r = c.put(&url, &data, 3_000_000, 2_000_000).unwrap();
    assert_eq!(r.status, 201, "{r:?}");
    assert_eq!(r.header("content-length"), Some("0"));
    assert!(r.body.is_empty());
    let location = r.header("location").unwrap();
    assert!(location.starts_with(&format!("{}/users/", emu.base_url())));
    let id_enc = location.split("/Attachments/").nth(1).expect("capital A");

    let files = emu.task_attachments();
    assert_eq!(files.len(), 1);
    assert_eq!(files[0].name, "flower.bin");
    assert_eq!(files[0].size, 5_000_000);
    assert!(files[0].bytes == data, "bytes differ");
    assert_eq!(enc(&files[0].id).replace("%3D", "="), id_enc);

    // The session is gone.
    assert_eq!(c.get(&url).unwrap().status, 404);
    assert_eq!(c.put(&url, &data, 0, 10).unwrap().status, 404);
    assert_eq!(c.delete(&url).unwrap().status, 404);

    // Reading back: the list (no contentBytes), one, and $value.
    let r = c
        .get(&format!("{}/attachments?$select=name,size", c.task_url()))
        .unwrap();
    assert_eq!(r.status, 200);
    let item = &r.json()["value"][0];
    assert_eq!(item["name"], "flower.bin");
    assert_eq!(item["size"], 5_000_000);
    assert_eq!(item["@odata.type"], "#microsoft.graph.taskFileAttachment");
    assert!(item.get("contentBytes").is_none());
    let one = format!("{}/attachments/{}", c.task_url(), enc(&files[0].id));
    let r = c.get(&format!("{one}/$value")).unwrap();
    assert_eq!(r.status, 200);
    assert!(r.body == data);
    let r = c.get(&one).unwrap();
    assert_eq!(r.json()["size"], 5_000_000);
    assert!(r.json()["contentBytes"].as_str().unwrap().len() > 6_000_000);
    assert_eq!(emu.sessions_created(), 1);
    assert_eq!(emu.live_sessions(), 0);
}

#[test]
fn users_path_beta_and_literal_equals_work() {
    let emu = start();
    let c = Client::new(&emu);
    let url = format!(
        "{}/beta/users/{}/todo/lists/{}/tasks/{}/attachments/createUploadSession",
        emu.graph_origin(),
        emu.user_id(),
        enc(emu.list_id()).replace("%3D", "="),
        enc(emu.task_id())
    );
    let body = r#"{"AttachmentInfo":{"attachmenttype":"File","NAME":"a","Size":3,"extra":1},"other":true}"#;
    let r = c.post_json(&url, body).unwrap();
    assert_eq!(r.status, 200, "{r:?}");
    let upload = r.key("uploadUrl").as_str().unwrap().to_string();
    assert!(upload.contains("/beta/users/"));
    let r = c.put(&upload, b"abc", 0, 3).unwrap();
    assert_eq!(r.status, 201);
    assert!(r.header("location").unwrap().contains("/beta/"));
}

#[test]
fn zero_byte_file_completes_with_star_range() {
    let emu = start();
    let c = Client::new(&emu);
    let url = c.session("empty", 0);
    let r = send(
        &content_url(&url),
        "PUT",
        &[
            ("Authorization", &c.auth),
            ("Content-Type", "application/octet-stream"),
            ("Content-Range", "bytes */0"),
        ],
        b"",
    )
    .unwrap();
    assert_eq!(r.status, 201, "{r:?}");
    assert_eq!(emu.task_attachments()[0].size, 0);
}

#[test]
fn token_is_required_on_graph() {
    let emu = start();
    let c = Client::new(&emu);
    let url = format!("{}/attachments/createUploadSession", c.task_url());
    let body = r#"{"attachmentInfo":{"attachmentType":"file","name":"a","size":3}}"#;
    let r = send(
        &url,
        "POST",
        &[("Content-Type", "application/json")],
        body.as_bytes(),
    )
    .unwrap();
    assert_eq!(r.status, 401);
    assert_eq!(r.error_code(), "InvalidAuthenticationToken");
    let r = send(
        &url,
        "POST",
        &[
            ("Authorization", "Bearer wrong"),
            ("Content-Type", "application/json"),
        ],
        body.as_bytes(),
    )
    .unwrap();
    assert_eq!(r.status, 401);

    let upload = c.session("a", 3);
    let r = send(
        &content_url(&upload),
        "PUT",
        &[
            ("Content-Type", "application/octet-stream"),
            ("Content-Range", "bytes 0-2/3"),
        ],
        b"abc",
    )
    .unwrap();
    assert_eq!(r.status, 401);
    assert_eq!(r.error_code(), "InvalidAuthenticationToken");
    let r = send(&upload, "GET", &[("client-request-id", "abc-123")], b"").unwrap();
    assert_eq!(r.status, 401);
    assert_eq!(
        r.json()["error"]["innerError"]["client-request-id"],
        "abc-123"
    );
    assert_eq!(r.header("client-request-id"), Some("abc-123"));
    let recs = emu.requests();
    assert!(recs
        .iter()
        .any(|r| !r.authorization && r.status == Some(401)));
    assert!(recs
        .iter()
        .any(|r| r.authorization && !r.bearer_valid && r.status == Some(401)));
}

#[test]
fn create_is_validated() {
    let emu = start();
    let c = Client::new(&emu);
    let url = format!("{}/attachments/createUploadSession", c.task_url());
    for body in [
        "not json",
        "[1]",
        r#"{}"#,
        r#"{"attachmentInfo":{"attachmentType":"file","name":"","size":3}}"#,
        r#"{"attachmentInfo":{"attachmentType":"file","size":3}}"#,
        r#"{"attachmentInfo":{"attachmentType":"item","name":"a","size":3}}"#,
        r#"{"attachmentInfo":{"name":"a","size":3}}"#,
        r#"{"attachmentInfo":{"attachmentType":"file","name":"a","size":-1}}"#,
        r#"{"attachmentInfo":{"attachmentType":"file","name":"a","size":1.5}}"#,
        r#"{"attachmentInfo":{"attachmentType":"file","name":"a","size":"3"}}"#,
        r#"{"attachmentInfo":{"attachmentType":"file","name":"a","size":26214401}}"#,
    ] {
        let r = c.post_json(&url, body).unwrap();
        assert_eq!(r.status, 400, "{body}: {r:?}");
        r.error_code();
    }
    let r = c
        .post_json(
            &url,
            r#"{"attachmentInfo":{"attachmentType":"file","name":"a","size":26214400}}"#,
        )
        .unwrap();
    assert_eq!(r.status, 200);
    let r = send(
        &url,
        "POST",
        &[("Authorization", &c.auth), ("Content-Type", "text/plain")],
        b"{}",
    )
    .unwrap();
    assert_eq!(r.status, 415);
    r.error_code();
    // Unknown task, unknown user, an id whose '/' was not encoded.
    let bad_task = format!(
        "{}/me/todo/lists/{}/tasks/AAAA%3D/attachments/createUploadSession",
        emu.base_url(),
        enc(emu.list_id())
    );
    let r = c.post_json(&bad_task, "{}").unwrap();
    assert_eq!(r.status, 404);
    assert_eq!(r.error_code(), "ErrorItemNotFound");
    let bad_user = url.replace("/me/", "/users/someone-else/");
    assert_eq!(c.post_json(&bad_user, "{}").unwrap().status, 404);
    let raw_ids = format!(
        "{}/me/todo/lists/{}/tasks/{}/attachments/createUploadSession",
        emu.base_url(),
        emu.list_id(),
        emu.task_id()
    );
    let body = r#"{"attachmentInfo":{"attachmentType":"file","name":"a","size":3}}"#;
    if emu.list_id().contains('/') || emu.task_id().contains('/') {
        assert_eq!(c.post_json(&raw_ids, body).unwrap().status, 404);
    }
    let r = c
        .post_json(&format!("{}/v2.0/me", emu.graph_origin()), body)
        .unwrap();
    assert_eq!(r.status, 400);
    assert_eq!(
        c.post_json(&url.replace("%2", "%Z"), body).unwrap().status,
        400
    );
}

#[test]
fn lifted_max_size() {
    let emu = Emulator::start(Config {
        max_size: u64::MAX,
        ..Config::default()
    })
    .unwrap();
    let c = Client::new(&emu);
    let r = c.create("huge", 1 << 40);
    assert_eq!(r.status, 200);
}

#[test]
fn puts_are_checked_strictly() {
    let emu = start();
    let c = Client::new(&emu);
    let data = file(10_000);
    let url = c.session("f", data.len() as u64);
    let put = |headers: &[(&str, &str)], body: &[u8]| {
        let mut all = vec![("Authorization", c.auth.as_str())];
        all.extend_from_slice(headers);
        send_raw(&content_url(&url), "PUT", &all, body).unwrap()
    };
    let ct = ("Content-Type", "application/octet-stream");
    // Not where the server expects: 416 invalidRange.
    let r = put(
        &[
            ct,
            ("Content-Length", "10"),
            ("Content-Range", "bytes 10-19/10000"),
        ],
        &data[10..20],
    );
    assert_eq!(r.status, 416);
    assert_eq!(r.error_code(), "invalidRange");
    // End at or past the total.
    let r = put(
        &[
            ct,
            ("Content-Length", "1"),
            ("Content-Range", "bytes 10000-10000/10000"),
        ],
        b"x",
    );
    assert_eq!(r.status, 416);
    // Malformed ranges, mismatched lengths, a wrong total: 400.
    for range in [
        "bytes=0-9/10000",
        "bytes 0-9/*",
        "0-9/10000",
        "bytes 0-9",
        "bytes 9-0/10000",
    ] {
        let r = put(
            &[ct, ("Content-Length", "10"), ("Content-Range", range)],
            &data[..10],
        );
        assert_eq!(r.status, 400, "{range}");
        r.error_code();
    }
    let r = put(
        &[
            ct,
            ("Content-Length", "10"),
            ("Content-Range", "bytes 0-10/10000"),
        ],
        &data[..10],
    );
    assert_eq!(r.status, 400);
    let r = put(
        &[
            ct,
            ("Content-Length", "10"),
            ("Content-Range", "bytes 0-9/9999"),
        ],
        &data[..10],
    );
    assert_eq!(r.status, 400);
    let r = put(&[ct, ("Content-Length", "10")], &data[..10]);
    assert_eq!(r.status, 400);
    let r = put(
        &[
            ct,
            ("Content-Length", "10"),
            (
                "Content-Range",
                "bytes 0-18446744073709551615/18446744073709551615",
            ),
        ],
        &data[..10],
    );
    assert_eq!(r.status, 400);
    let r = put(
        &[
            ct,
            ("Content-Length", "10"),
            ("Content-Range", "bytes 0-9/99999999999999999999999"),
        ],
        &data[..10],
    );
    assert_eq!(r.status, 400);
    // No Content-Length at all.
    let r = put(&[ct, ("Content-Range", "bytes 0-9/10000")], b"");
    assert_eq!(r.status, 411);
    r.error_code();
    // Chunked and compressed bodies.
    let r = put(
        &[
            ct,
            ("Transfer-Encoding", "chunked"),
            ("Content-Range", "bytes 0-9/10000"),
        ],
        b"a\r\n0123456789\r\n0\r\n\r\n",
    );
    assert_eq!(r.status, 400);
    let r = put(
        &[
            ct,
            ("Content-Encoding", "gzip"),
            ("Content-Length", "10"),
            ("Content-Range", "bytes 0-9/10000"),
        ],
        &data[..10],
    );
    assert_eq!(r.status, 400);
    // Wrong content type.
    let r = put(
        &[
            ("Content-Type", "text/plain"),
            ("Content-Length", "10"),
            ("Content-Range", "bytes 0-9/10000"),
        ],
        &data[..10],
    );
    assert_eq!(r.status, 415);
    // PUT to the uploadUrl itself (without /content).
    let r = send(
        &url,
        "PUT",
        &[
            ("Authorization", &c.auth),
            ct,
            ("Content-Range", "bytes 0-9/10000"),
        ],
        &data[..10],
    )
    .unwrap();
    assert_eq!(r.status, 405);
    // Nothing was kept by any of these.
    assert_eq!(c.get(&url).unwrap().ranges(), ["0-"]);
    // A good one still goes through.
    assert_eq!(c.put(&url, &data, 0, 10).unwrap().status, 200);
    // Re-sending it is out of order now.
    assert_eq!(c.put(&url, &data, 0, 10).unwrap().status, 416);
    assert!(emu.requests().iter().all(|r| r.status.is_some()));
}

#[test]
fn chunks_of_4_000_000_bytes_or_more_are_refused() {
    let emu = start();
    let c = Client::new(&emu);
    let data = file(8_000_000);
    let url = c.session("big", data.len() as u64);
    let r = c.put(&url, &data, 0, 4_000_000).unwrap();
    assert_eq!(r.status, 413, "{r:?}");
    r.error_code();
    let r = c.put(&url, &data, 0, 3_999_999).unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.ranges(), ["3999999"]);
}

#[test]
fn delete_cancels() {
    let emu = start();
    let c = Client::new(&emu);
    let url = c.session("f", 10);
    assert_eq!(c.delete(&url).unwrap().status, 204);
    assert_eq!(c.delete(&url).unwrap().status, 404);
    assert_eq!(c.get(&url).unwrap().status, 404);
    assert_eq!(emu.live_sessions(), 0);
}

#[test]
fn sessions_expire_after_their_lifetime() {
    let emu = Emulator::start(Config {
        session_lifetime: Duration::from_millis(300),
        ..Config::default()
    })
    .unwrap();
    let c = Client::new(&emu);
    let data = file(10);
    let url = c.session("f", 10);
    assert_eq!(c.put(&url, &data, 0, 5).unwrap().status, 200);
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(c.put(&url, &data, 5, 5).unwrap().status, 404);
    assert_eq!(c.get(&url).unwrap().status, 404);
    let url = c.session("g", 10);
    emu.expire_sessions();
    assert_eq!(c.get(&url).unwrap().status, 404);
}

#[test]
fn single_post_for_small_files() {
    let emu = start();
    let c = Client::new(&emu);
    let url = format!("{}/attachments", c.task_url());
    let body = r##"{"@odata.type":"#microsoft.graph.taskFileAttachment","name":"smile.png","contentBytes":"aGVsbG8=","contentType":"image/png"}"##;
    let r = c.post_json(&url, body).unwrap();
    assert_eq!(r.status, 201, "{r:?}");
    let v = r.json();
    assert_eq!(v["name"], "smile.png");
    assert_eq!(v["size"], 5);
    assert_eq!(v["contentType"], "image/png");
    assert_eq!(v["isInline"], false);
    assert!(v["id"].as_str().unwrap().contains('='));
    assert!(v["lastModifiedDateTime"].is_string());
    assert!(r.header("location").is_some());
    let files = emu.task_attachments();
    assert_eq!(files[0].bytes, b"hello");
    assert_eq!(files[0].content_type, "image/png");

    for bad in [
        r#"{"name":"a","contentBytes":"aGVsbG8="}"#,
        r##"{"@odata.type":"#microsoft.graph.taskFileAttachment","contentBytes":"aGVsbG8="}"##,
        r##"{"@odata.type":"#microsoft.graph.taskFileAttachment","name":"a","contentBytes":"not base64!"}"##,
    ] {
        assert_eq!(c.post_json(&url, bad).unwrap().status, 400, "{bad}");
    }
    let big = graph_emulator_b64(&vec![7u8; 3 * 1024 * 1024]);
    let body = format!(
        r##"{{"@odata.type":"#microsoft.graph.taskFileAttachment","name":"big","contentBytes":"{big}"}}"##
    );
    let r = c.post_json(&url, &body).unwrap();
    assert_eq!(r.status, 413);
    r.error_code();
    assert_eq!(emu.task_attachments().len(), 1);
}

fn graph_emulator_b64(data: &[u8]) -> String {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for c in data.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= c.len() {
                out.push(A[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[test]
fn other_tasks_and_lists() {
    let emu = start();
    let task = emu.create_task();
    let list = emu.create_list();
    assert!(emu.create_task_in("nope").is_none());
    let t2 = emu.create_task_in(&list).unwrap();
    assert_ne!(task, emu.task_id());
    let c = Client::new(&emu);
    let url = format!(
        "{}/me/todo/lists/{}/tasks/{}/attachments/createUploadSession",
        emu.base_url(),
        enc(&list),
        enc(&t2)
    );
    let r = c
        .post_json(
            &url,
            r#"{"attachmentInfo":{"attachmentType":"file","name":"x","size":2}}"#,
        )
        .unwrap();
    let upload = r.key("uploadUrl").as_str().unwrap().to_string();
    assert_eq!(c.put(&upload, b"hi", 0, 2).unwrap().status, 201);
    assert_eq!(emu.attachments(&list, &t2)[0].bytes, b"hi");
    assert!(emu.task_attachments().is_empty());
}

#[test]
fn garbage_gets_graph_errors() {
    let emu = start();
    let c = Client::new(&emu);
    let upload = c.session("f", 10);
    let task = c.task_url();
    let deep = format!("{}1{}", "[".repeat(5000), "]".repeat(5000));
    let cases: Vec<(String, &str, String)> = vec![
        (format!("{}/", emu.graph_origin()), "GET", String::new()),
        (format!("{}/v1.0", emu.graph_origin()), "GET", String::new()),
        (
            format!("{}/v1.0/users", emu.graph_origin()),
            "GET",
            String::new(),
        ),
        (
            format!("{task}/attachments/createUploadSession"),
            "GET",
            String::new(),
        ),
        (
            format!("{task}/attachments/createUploadSession"),
            "POST",
            deep.clone(),
        ),
        (format!("{task}/attachments"), "POST", deep),
        (format!("{task}/attachments"), "PATCH", "{}".into()),
        (format!("{task}/attachments/nope"), "GET", String::new()),
        (
            format!("{task}/attachments/nope/$value"),
            "GET",
            String::new(),
        ),
        (format!("{task}/attachments/nope"), "DELETE", String::new()),
        (
            format!("{task}/attachmentSessions/%FF%FE"),
            "GET",
            String::new(),
        ),
        (
            format!("{task}/attachmentSessions/x/content"),
            "GET",
            String::new(),
        ),
        (format!("{upload}/content"), "POST", String::new()),
        (upload.clone(), "PATCH", String::new()),
        (format!("{upload}/extra/segments"), "GET", String::new()),
    ];
    for (url, method, body) in cases {
        let r = send(
            &url,
            method,
            &[
                ("Authorization", &c.auth),
                ("Content-Type", "application/json"),
            ],
            body.as_bytes(),
        )
        .unwrap_or_else(|e| panic!("{method} {url}: {e}"));
        assert!((400..500).contains(&r.status), "{method} {url}: {r:?}");
        r.error_code();
    }
    // Non-UTF-8 and odd headers.
    let r = send_raw(
        &content_url(&upload),
        "PUT",
        &[
            ("Authorization", "Bearer \u{ff}"),
            ("Content-Length", "0"),
            ("Content-Range", "bytes \u{ff}"),
        ],
        b"",
    )
    .unwrap();
    assert_eq!(r.status, 401);
    let r = send_raw(
        &content_url(&upload),
        "PUT",
        &[
            ("Authorization", &c.auth),
            ("Content-Type", "application/octet-stream"),
            ("Content-Length", "0"),
            ("Content-Range", "bytes \u{ff}-1/10"),
        ],
        b"",
    )
    .unwrap();
    assert_eq!(r.status, 400);
    r.error_code();
    // The foreign listener serves sessions only.
    let r = send(
        &format!("{}/v1.0/me", emu.foreign_origin()),
        "GET",
        &[],
        b"",
    )
    .unwrap();
    assert_eq!(r.status, 404);
    let r = send(
        &format!("{task}/attachments").replace(&emu.graph_origin(), &emu.foreign_origin()),
        "GET",
        &[],
        b"",
    )
    .unwrap();
    assert_eq!(r.status, 404);
}

/// Reads one answer from a kept-alive connection (Content-Length bodies).
fn read_answer(stream: &mut std::net::TcpStream) -> (u16, Vec<u8>) {
    use std::io::Read;
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        stream.read_exact(&mut byte).unwrap();
        head.push(byte[0]);
    }
    let text = String::from_utf8_lossy(&head).to_ascii_lowercase();
    let status = text[9..12].parse().unwrap();
    let len = text
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .map_or(0, |v| v.trim().parse().unwrap());
    let mut body = vec![0u8; len];
    stream.read_exact(&mut body).unwrap();
    (status, body)
}

#[test]
fn keep_alive_connections_survive_refusals() {
    use std::io::Write;
    let emu = start();
    let c = Client::new(&emu);
    let data = file(4_100_000);
    let url = c.session("f", data.len() as u64);
    let (host, path) = common::split_url(&content_url(&url));
    let mut s = std::net::TcpStream::connect(&host).unwrap();
    let put = |s: &mut std::net::TcpStream, start: usize, len: usize| {
        let head = format!(
            "PUT {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: {}\r\nContent-Type: application/octet-stream\r\nContent-Length: {len}\r\nContent-Range: bytes {start}-{}/{}\r\n\r\n",
            c.auth,
            start + len - 1,
            data.len()
        );
        s.write_all(head.as_bytes()).unwrap();
        s.write_all(&data[start..start + len]).unwrap();
        read_answer(s)
    };
    assert_eq!(put(&mut s, 0, 4_000_000).0, 413);
    assert_eq!(put(&mut s, 10, 10).0, 416);
    assert_eq!(put(&mut s, 0, 3_000_000).0, 200);
    assert_eq!(put(&mut s, 3_000_000, 1_100_000).0, 201);
    assert!(emu.task_attachments()[0].bytes == data);
}

// ---- faults ----

#[test]
fn fault_create_answers_201() {
    let emu = start_with(one(Fault::CreatedStatus));
    let c = Client::new(&emu);
    assert_eq!(c.create("a", 1).status, 201);
    assert_eq!(c.create("a", 1).status, 200);
}

#[test]
fn fault_key_casing() {
    let emu = start_with(Faults::none().with(FaultRule::nth(1, Fault::KeyCase(KeyCase::Pascal))));
    let c = Client::new(&emu);
    let data = file(10);
    let r = c.create("a", 10);
    let v = r.json();
    assert!(v.get("UploadUrl").is_some() && v.get("NextExpectedRanges").is_some());
    assert!(v.get("uploadUrl").is_none());
    let url = v["UploadUrl"].as_str().unwrap().to_string();
    let r = c.put(&url, &data, 0, 4).unwrap();
    assert_eq!(r.json()["NextExpectedRanges"], serde_json::json!(["4"]));
    assert!(r.json().get("ExpirationDateTime").is_some());

    emu.set_faults(Faults::none().with(FaultRule::always(Fault::KeyCase(KeyCase::Mixed))));
    let v = c.create("b", 10).json();
    assert!(v.get("uploadUrl").is_some() && v.get("ExpirationDateTime").is_some());
    assert!(v.get("nextExpectedRanges").is_some());
}

#[test]
fn fault_throttle_and_unavailable_with_retry_after() {
    let emu = start_with(
        Faults::none()
            .with(
                FaultRule::nth(
                    1,
                    Fault::TooManyRequests(Some(RetryAfter::Delta(Duration::from_millis(250)))),
                )
                .on(RequestKind::Create),
            )
            .with(FaultRule::nth(
                1,
                Fault::Unavailable(Some(RetryAfter::Date(Duration::from_secs(2)))),
            ))
            .with(FaultRule::nth(2, Fault::InternalError).on(RequestKind::Status)),
    );
    let c = Client::new(&emu);
    let r = c.create("a", 10);
    assert_eq!(r.status, 429);
    assert_eq!(r.header("retry-after"), Some("0.25"));
    assert_eq!(r.error_code(), "TooManyRequests");
    let url = c.session("a", 10);
    let data = file(10);
    let r = c.put(&url, &data, 0, 5).unwrap();
    assert_eq!(r.status, 503);
    assert!(r.header("retry-after").unwrap().ends_with(" GMT"));
    r.error_code();
    assert_eq!(c.get(&url).unwrap().ranges(), ["0-"], "503 kept nothing");
    let r = c.get(&url).unwrap();
    assert_eq!(r.status, 500);
    assert!(r.header("retry-after").is_none());
    let recs = emu.requests();
    assert_eq!(recs[0].fault, Some("throttle"));
    assert!(recs
        .iter()
        .any(|r| r.fault == Some("error500") && r.status == Some(500)));
}

#[test]
fn fault_drop_mid_body() {
    let emu = start_with(one(Fault::DropMidBody));
    let c = Client::new(&emu);
    let data = file(3_000_000);
    let url = c.session("a", data.len() as u64);
    assert!(
        c.put(&url, &data, 0, 2_000_000).is_err(),
        "no answer expected"
    );
    assert_eq!(c.get(&url).unwrap().ranges(), ["0-"]);
    let dropped = emu
        .requests()
        .into_iter()
        .find(|r| r.method == "PUT")
        .unwrap();
    assert_eq!(dropped.status, None);
    assert_eq!(dropped.fault, Some("drop"));
    assert_eq!(c.put(&url, &data, 0, 2_000_000).unwrap().status, 200);
}

#[test]
fn fault_stall_keep_and_lose() {
    let emu = start_with(one(Fault::Stall {
        delay: Duration::from_millis(300),
        keep: true,
    }));
    let c = Client::new(&emu);
    let data = file(100);
    let url = c.session("a", 100);
    let t = Instant::now();
    let r = c.put(&url, &data, 0, 50).unwrap();
    assert!(t.elapsed() >= Duration::from_millis(300));
    assert_eq!(r.status, 200);
    assert_eq!(c.get(&url).unwrap().ranges(), ["50"]);

    emu.set_faults(one(Fault::Stall {
        delay: Duration::from_millis(200),
        keep: false,
    }));
    let t = Instant::now();
    assert!(c.put(&url, &data, 50, 50).is_err());
    assert!(t.elapsed() >= Duration::from_millis(200));
    assert_eq!(c.get(&url).unwrap().ranges(), ["50"]);
    assert_eq!(c.put(&url, &data, 50, 50).unwrap().status, 201);
    assert!(emu.task_attachments()[0].bytes == data);
}

#[test]
fn fault_416_on_a_put() {
    let emu = start_with(Faults::none().with(FaultRule::nth(2, Fault::RangeNotSatisfiable)));
    let c = Client::new(&emu);
    let data = file(30);
    let url = c.session("a", 30);
    assert_eq!(c.put(&url, &data, 0, 10).unwrap().status, 200);
    let r = c.put(&url, &data, 10, 10).unwrap();
    assert_eq!(r.status, 416);
    assert_eq!(r.error_code(), "invalidRange");
    assert_eq!(c.get(&url).unwrap().ranges(), ["10"]);
}

#[test]
fn fault_lose_range_lists_several_ranges() {
    let emu = start_with(Faults::none().with(FaultRule::nth(2, Fault::LoseRange)));
    let c = Client::new(&emu);
    let data = file(10_000);
    let url = c.session("a", 10_000);
    assert_eq!(c.put(&url, &data, 0, 4000).unwrap().status, 200);
    let r = c.put(&url, &data, 4000, 1000).unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.ranges(), ["1000-1999", "5000"]);
    // Sending on from 5000 is out of order: the gap comes first.
    assert_eq!(c.put(&url, &data, 5000, 1000).unwrap().status, 416);
    assert_eq!(c.get(&url).unwrap().ranges(), ["1000-1999", "5000"]);
    // A range that runs past the gap is refused too.
    assert_eq!(c.put(&url, &data, 1000, 1500).unwrap().status, 416);
    assert_eq!(c.put(&url, &data, 1000, 1000).unwrap().ranges(), ["5000"]);
    assert_eq!(c.put(&url, &data, 5000, 5000).unwrap().status, 201);
    assert!(emu.task_attachments()[0].bytes == data);
}

#[test]
fn fault_session_expires_after_n_chunks() {
    let emu = start_with(one(Fault::ExpireAfterChunks(2)));
    let c = Client::new(&emu);
    let data = file(30);
    let url = c.session("a", 30);
    assert_eq!(c.put(&url, &data, 0, 10).unwrap().status, 200);
    assert_eq!(c.put(&url, &data, 10, 10).unwrap().status, 200);
    assert_eq!(c.put(&url, &data, 20, 10).unwrap().status, 404);
    assert_eq!(c.get(&url).unwrap().status, 404);
    assert_eq!(c.delete(&url).unwrap().status, 404);
    assert!(emu.task_attachments().is_empty());
}

#[test]
fn fault_lost_final_answer() {
    let emu = start_with(one(Fault::LostFinalAnswer));
    let c = Client::new(&emu);
    let data = file(30);
    let url = c.session("report.pdf", 30);
    assert_eq!(c.put(&url, &data, 0, 10).unwrap().status, 200);
    assert!(c.put(&url, &data, 10, 20).is_err(), "the answer is lost");
    assert_eq!(c.get(&url).unwrap().status, 404);
    let list = c
        .get(&format!("{}/attachments", c.task_url()))
        .unwrap()
        .json();
    assert_eq!(list["value"][0]["name"], "report.pdf");
    assert_eq!(list["value"][0]["size"], 30);
    assert!(emu.task_attachments()[0].bytes == data);
}

#[test]
fn fault_503_with_chunk_kept() {
    let emu = start_with(one(Fault::UnavailableKept(None)));
    let c = Client::new(&emu);
    let data = file(30);
    let url = c.session("a", 30);
    let r = c.put(&url, &data, 0, 10).unwrap();
    assert_eq!(r.status, 503);
    assert!(r.header("retry-after").is_none());
    assert_eq!(c.put(&url, &data, 0, 10).unwrap().status, 416);
    assert_eq!(c.get(&url).unwrap().ranges(), ["10"]);
}

#[test]
fn fault_status_get_refused() {
    let emu = start_with(
        Faults::none()
            .with(FaultRule::nth(1, Fault::StatusRefused(405)))
            .with(FaultRule::nth(2, Fault::StatusRefused(400))),
    );
    let c = Client::new(&emu);
    let a = c.session("a", 10);
    let b = c.session("b", 10);
    let r = c.get(&a).unwrap();
    assert_eq!(r.status, 405);
    r.error_code();
    assert_eq!(c.get(&b).unwrap().status, 400);
    // The rest of the session works.
    assert_eq!(c.put(&a, &file(10), 0, 10).unwrap().status, 201);
}

#[test]
fn fault_foreign_origin_upload_url() {
    let emu = start_with(one(Fault::ForeignOrigin));
    let c = Client::new(&emu);
    let data = file(20);
    let url = c.session("a", 20);
    assert!(url.starts_with(&emu.foreign_origin()), "{url}");
    assert!(url.contains("?tempauth="));
    // The token must not go there.
    let range = "bytes 0-9/20";
    let r = send(
        &content_url(&url),
        "PUT",
        &[
            ("Authorization", &c.auth),
            ("Content-Type", "application/octet-stream"),
            ("Content-Range", range),
        ],
        &data[..10],
    )
    .unwrap();
    assert_eq!(r.status, 401);
    assert_eq!(r.error_code(), "InvalidAudience");
    assert_eq!(emu.tokens_sent_to_foreign_origin(), 1);
    // The tempauth must come.
    let bare = url.split('?').next().unwrap();
    let r = send(
        &format!("{bare}/content"),
        "PUT",
        &[
            ("Content-Type", "application/octet-stream"),
            ("Content-Range", range),
        ],
        &data[..10],
    )
    .unwrap();
    assert_eq!(r.status, 401);
    assert_eq!(c.get(bare).unwrap().status, 401);
    // The same session is not served on the Graph origin.
    let on_graph = bare.replace(&emu.foreign_origin(), &emu.graph_origin());
    assert_eq!(c.get(&on_graph).unwrap().status, 404);
    // Done right, it works.
    assert_eq!(c.put(&url, &data, 0, 10).unwrap().status, 200);
    assert_eq!(c.get(&url).unwrap().ranges(), ["10"]);
    let r = c.put(&url, &data, 10, 10).unwrap();
    assert_eq!(r.status, 201);
    assert!(r.header("location").unwrap().starts_with(&emu.base_url()));
    let recs = emu.requests();
    assert!(recs
        .iter()
        .any(|r| r.origin == Origin::Foreign && r.status == Some(201)));
    assert!(emu.task_attachments()[0].bytes == data);
}

#[test]
fn fault_query_on_graph_origin() {
    let emu = start_with(one(Fault::QueryOnGraphOrigin));
    let c = Client::new(&emu);
    let data = file(20);
    let url = c.session("a", 20);
    assert!(
        url.starts_with(&emu.base_url()) && url.contains("?tempauth="),
        "{url}"
    );
    let bare = url.split('?').next().unwrap();
    assert_eq!(c.put(bare, &data, 0, 10).unwrap().status, 403);
    // /content after the query leaves the path the session's: PUT refused.
    let wrong = format!("{url}/content");
    let r = send(
        &wrong,
        "PUT",
        &[
            ("Authorization", &c.auth),
            ("Content-Type", "application/octet-stream"),
            ("Content-Range", "bytes 0-9/20"),
        ],
        &data[..10],
    )
    .unwrap();
    assert_eq!(r.status, 405);
    assert_eq!(c.put(&url, &data, 0, 10).unwrap().status, 200);
    assert_eq!(c.get(&url).unwrap().ranges(), ["10"]);
    assert_eq!(c.put(&url, &data, 10, 10).unwrap().status, 201);
}

#[test]
fn chance_faults_are_reproducible_from_the_seed() {
    let run = || {
        let emu = Emulator::start(Config {
            seed: 42,
            faults: Faults::none().with(FaultRule::chance(0.5, Fault::InternalError)),
            ..Config::default()
        })
        .unwrap();
        let c = Client::new(&emu);
        let data = file(100);
        let url = c.session("a", 100);
        let mut statuses = Vec::new();
        let mut at = 0;
        while at < 100 {
            let r = c.put(&url, &data, at, 10).unwrap();
            statuses.push(r.status);
            if r.status < 300 {
                at += 10;
            }
        }
        (statuses, emu.task_id().to_string())
    };
    let (a, ta) = run();
    let (b, tb) = run();
    assert_eq!(a, b);
    assert_eq!(ta, tb);
    assert!(a.contains(&500) && a.contains(&201), "{a:?}");
}

#[test]
fn faults_from_text_specs() {
    let faults = Faults::parse(&["created", "pascal", "throttle=0.5@2/create"]).unwrap();
    let emu = start_with(faults);
    let c = Client::new(&emu);
    let r = c.create("a", 1);
    assert_eq!(r.status, 201);
    assert!(r.json().get("UploadUrl").is_some());
    let r = c.create("a", 1);
    assert_eq!(r.status, 429);
    assert_eq!(r.header("retry-after"), Some("0.5"));
}

#[test]
fn usable_from_inside_an_async_test() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let emu = start();
        let base = emu.base_url();
        let ok = tokio::task::spawn_blocking(move || {
            let (host, _) = common::split_url(&base);
            std::net::TcpStream::connect(host).is_ok()
        })
        .await
        .unwrap();
        assert!(ok);
        assert_eq!(emu.sessions_created(), 0);
        drop(emu);
    });
}

#[test]
fn binary_prints_its_coordinates_and_serves() {
    use std::io::BufRead;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_graph-emulator"))
        .args([
            "--seed",
            "7",
            "--token",
            "t0k",
            "--fault",
            "created@always",
            "--max-size",
            "unlimited",
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("binary runs");
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(&line).unwrap();
    let base = v["base_url"].as_str().unwrap().to_string();
    assert_eq!(v["token"], "t0k");
    let url = format!(
        "{base}/users/{}/todo/lists/{}/tasks/{}/attachments/createUploadSession",
        v["user_id"].as_str().unwrap(),
        enc(v["list_id"].as_str().unwrap()),
        enc(v["task_id"].as_str().unwrap())
    );
    let r = send(
        &url,
        "POST",
        &[
            ("Authorization", "Bearer t0k"),
            ("Content-Type", "application/json"),
        ],
        br#"{"attachmentInfo":{"attachmentType":"file","name":"a","size":1099511627776}}"#,
    );
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(r.unwrap().status, 201);

    let out = std::process::Command::new(env!("CARGO_BIN_EXE_graph-emulator"))
        .args(["--fault", "bogus"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let help = std::process::Command::new(env!("CARGO_BIN_EXE_graph-emulator"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&help.stdout).contains("lose-range"));
}

/// A OneDrive drive item over HTTP (docs/protocol.md §8): the session is created on Graph
/// with the token, its uploadUrl is on the second origin and takes none, fragments on the
/// 320 KiB grid are answered 202 with `"S-"` ranges, and the last one with the item.
#[test]
fn a_drive_item_uploads_on_the_second_origin_without_the_token() {
    let emu = start();
    let auth = format!("Bearer {}", emu.token());
    let r = send(
        &format!(
            "{}/me/drive/items/F1:/a.bin:/createUploadSession",
            emu.base_url()
        ),
        "POST",
        &[
            ("Authorization", &auth),
            ("Content-Type", "application/json"),
        ],
        br#"{"item":{"@microsoft.graph.conflictBehavior":"rename","name":"a.bin"}}"#,
    )
    .unwrap();
    assert_eq!(r.status, 200, "{r:?}");
    let url = r.json()["uploadUrl"].as_str().unwrap().to_string();
    assert!(url.starts_with(&emu.foreign_origin()), "{url}");
    let data = file(327_680 + 5);
    let put = |start: usize, len: usize, auth: Option<&str>| {
        let cr = format!("bytes {}-{}/{}", start, start + len - 1, data.len());
        let mut h = vec![
            ("Content-Type", "application/octet-stream"),
            ("Content-Range", cr.as_str()),
        ];
        if let Some(a) = auth {
            h.push(("Authorization", a));
        }
        send(&url, "PUT", &h, &data[start..start + len]).unwrap()
    };
    assert_eq!(put(0, 327_680, Some(&auth)).status, 401);
    let r = put(0, 327_680, None);
    assert_eq!(r.status, 202, "{r:?}");
    assert_eq!(r.ranges(), ["327680-"]);
    let r = put(327_680, 5, None);
    assert_eq!(r.status, 201, "{r:?}");
    assert_eq!(r.json()["name"], "a.bin");
    assert_eq!(r.json()["size"], data.len() as u64);
    assert_eq!(emu.tokens_sent_to_foreign_origin(), 1);
    assert_eq!(emu.violations().len(), 1, "the one PUT with a token");
}
