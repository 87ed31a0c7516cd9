//! The fuzz targets' inputs on stable `cargo test`: every input a fuzzer found crashing,
//! replayed through the same harness functions as `fuzz/fuzz_targets/*.rs`, and the committed
//! seed corpora in `fuzz/corpus/<target>/`, so that CI without nightly runs them too.

use std::path::Path;

use upload_session::{
    Action, CallerError, FileInfo, Options, Owner, Response, Target, Timestamp, Upload,
};
use upload_session_testkit::fuzzing;

/// Runs `harness` on every file of `fuzz/corpus/{target}`; returns how many there were.
fn replay_corpus(target: &str, harness: fn(&[u8])) -> usize {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target);
    let mut entries: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in &entries {
        let data = std::fs::read(path).unwrap();
        eprintln!("{}", path.display());
        harness(&data);
    }
    entries.len()
}

#[test]
fn corpus_next_expected_ranges() {
    assert!(replay_corpus("next_expected_ranges", fuzzing::next_expected_ranges) > 0);
}

#[test]
fn corpus_upload_session_body() {
    assert!(replay_corpus("upload_session_body", fuzzing::upload_session_body) > 0);
}

#[test]
fn corpus_headers() {
    assert!(replay_corpus("headers", fuzzing::headers) > 0);
}

#[test]
fn corpus_machine() {
    assert!(replay_corpus("machine", fuzzing::machine) > 0);
}

#[test]
fn corpus_restore() {
    assert!(replay_corpus("restore", fuzzing::restore) > 0);
}

/// Decodes the `xxd -p` form the crash inputs are written in below.
fn hex(s: &str) -> Vec<u8> {
    let digits: Vec<u8> = s.bytes().filter(u8::is_ascii_hexdigit).collect();
    digits
        .chunks(2)
        .map(|p| u8::from_str_radix(std::str::from_utf8(p).unwrap(), 16).unwrap())
        .collect()
}

// Crashing inputs, one test each, named after what they found. Each is the artifact
// libFuzzer wrote (`fuzz/artifacts/<target>/crash-*`), minimised with `cargo fuzz tmin`.

/// `machine` found: a cancel asked for while a single POST was in flight, then a 401 answer,
/// left the machine Cancelled but still waiting for a token refresh, so `token_refreshed`
/// was accepted though no `RefreshToken` was ever polled (fixed in `Upload::apply_cancel`).
#[test]
fn crash_machine_cancel_then_401_accepts_an_unasked_refresh() {
    fuzzing::machine(&hex(
        "01ff1f00726c000000222c22ff006964224c00000000000000222c22ff00
         6964222c000000",
    ));
}

#[test]
fn cancel_during_a_refused_single_post_ends_cancelled_without_a_refresh() {
    let target =
        Target::todo_task("https://graph.microsoft.com/v1.0", Owner::Me, "L", "T").unwrap();
    let mut up = Upload::new(target, FileInfo::new("a.txt", 31), Options::default()).unwrap();
    let now = Timestamp::from_unix_millis(1_700_000_000_000);
    let Action::Send(post) = up.poll(now) else {
        panic!("a single POST first");
    };
    up.cancel(now);
    up.handle_response(now, post.id(), Response::new(401))
        .unwrap();
    assert_eq!(up.poll(now), Action::Cancelled);
    assert_eq!(up.token_refreshed(now), Err(CallerError::NoRefreshAsked));
    assert_eq!(up.poll(now), Action::Cancelled);
}

/// A single POST that keeps failing with 503 while the look-up finds nothing: each look-up
/// answer used to end the failure streak, so POST, 503, GET, POST, 503, GET... went on for
/// ever. The streak now survives the look-up, and the retry policy ends it.
#[test]
fn a_single_post_failing_forever_is_bounded_by_the_retry_policy() {
    let target =
        Target::todo_task("https://graph.microsoft.com/v1.0", Owner::Me, "L", "T").unwrap();
    let mut options = Options::default();
    options.retry.max_attempts = 3;
    let mut up = Upload::new(target, FileInfo::new("a.txt", 1000), options).unwrap();
    let mut now = Timestamp::from_unix_millis(1_700_000_000_000);
    let mut sent = 0;
    let end = loop {
        assert!(sent < 100, "no end after {sent} requests");
        match up.poll(now) {
            Action::Send(req) => {
                sent += 1;
                let resp = match req.method() {
                    upload_session::Method::Post => Response::new(503),
                    _ => Response::new(200).body(br#"{"value": []}"#),
                };
                up.handle_response(now, req.id(), resp).unwrap();
            }
            Action::Wait { until, .. } => now = until,
            other => break other,
        }
    };
    assert!(
        matches!(
            end,
            Action::Failed(upload_session::Error::RetriesExhausted { .. })
        ),
        "{end:?}"
    );
    assert!(sent <= 3 * 2, "{sent} requests for 3 attempts");
}

/// With `size_limit` lifted, a file near `u64::MAX` bytes in 1-byte chunks overflowed the
/// per-session PUT budget `4 * chunks + 32` (a panic in debug builds) on the first poll
/// after the session was created. The budget now saturates.
#[test]
fn a_huge_file_in_tiny_chunks_does_not_overflow_the_put_budget() {
    let target =
        Target::todo_task("https://graph.microsoft.com/v1.0", Owner::Me, "L", "T").unwrap();
    let options = {
        let mut o = Options::default();
        o.chunk_size = Some(1);
        o.size_limit = Some(u64::MAX);
        o
    };
    let mut up = Upload::new(target, FileInfo::new("a.bin", u64::MAX), options).unwrap();
    let now = Timestamp::from_unix_millis(1_700_000_000_000);
    let Action::Send(create) = up.poll(now) else {
        panic!("a session first");
    };
    let body =
        br#"{"uploadUrl": "https://graph.microsoft.com/v1.0/s/1", "nextExpectedRanges": ["0-"]}"#;
    up.handle_response(now, create.id(), Response::new(200).body(body))
        .unwrap();
    let Action::Send(put) = up.poll(now) else {
        panic!("then a PUT");
    };
    assert_eq!(put.file_range().map(|r| (r.start(), r.end())), Some((0, 1)));
}

/// `restore` found: a saved state whose `requests` count is `u64::MAX` restored fine, and the
/// first request then overflowed the counter (a panic in debug builds). The count now
/// saturates.
#[test]
fn crash_restore_request_count_at_u64_max() {
    fuzzing::restore(&hex("22011d007002016e616d01ffffffffffffffff6e6f"));
}

#[test]
fn a_restored_request_count_at_the_maximum_saturates() {
    let target =
        Target::todo_task("https://graph.microsoft.com/v1.0", Owner::Me, "L", "T").unwrap();
    let file = FileInfo::new("a.bin", 8_000_000);
    let options = Options::default();
    let up = Upload::new(target.clone(), file.clone(), options.clone()).unwrap();
    let mut saved: serde_json::Value = serde_json::from_str(&up.save()).unwrap();
    saved["requests"] = serde_json::json!(u64::MAX);
    let mut up = Upload::restore(saved.to_string().as_bytes(), target, file, options).unwrap();
    let now = Timestamp::from_unix_millis(1_700_000_000_000);
    assert!(matches!(up.poll(now), Action::Send(_)));
    assert_eq!(up.requests(), u64::MAX);
}

/// `restore` found: a saved state whose JSON error message (which quotes the input) was
/// cut at byte 200 in the middle of a multi-byte character, a panic in `String::truncate`.
/// The same cut was made on a server's body in `session.rs`; both now cut on a character
/// boundary.
#[test]
fn crash_restore_error_message_cut_inside_a_character() {
    fuzzing::restore(&hex(
        "01010c0c0c0c0c00050193ff0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c
         0c0c0c0c0c0c0c0c0c0c0c0c0cffffffffffffffff956e00",
    ));
}

#[test]
fn long_non_ascii_text_in_bodies_and_saved_state_gives_typed_errors() {
    let target =
        Target::todo_task("https://graph.microsoft.com/v1.0", Owner::Me, "L", "T").unwrap();
    let file = FileInfo::new("a.bin", 8_000_000);
    // serde quotes the string it did not expect; 'é' is two bytes, so with one of the two
    // paddings byte 200 of the message splits one.
    for pad in ["x", "xx"] {
        let text = format!("{pad}{}", "é".repeat(150));
        for saved in [
            format!(r#"{{"format": 1, "x": "{text}"}}"#),
            format!(r#"{{"format": "{text}"}}"#),
            format!(r#"{{"{text}": 1}}"#),
        ] {
            let res = Upload::restore(
                saved.as_bytes(),
                target.clone(),
                file.clone(),
                Options::default(),
            );
            assert!(res.is_err(), "{saved}");
        }
        let mut up = Upload::new(target.clone(), file.clone(), Options::default()).unwrap();
        let now = Timestamp::from_unix_millis(1_700_000_000_000);
        let Action::Send(create) = up.poll(now) else {
            panic!("a session first");
        };
        let body = format!(
            r#"{{"uploadUrl": "https://graph.microsoft.com/v1.0/s/1", "nextExpectedRanges": "{text}"}}"#
        );
        up.handle_response(now, create.id(), Response::new(200).body(body.as_bytes()))
            .unwrap();
        assert!(
            matches!(
                up.poll(now),
                Action::Failed(upload_session::Error::Protocol { .. })
            ),
            "a protocol error, not a panic"
        );
    }
}

/// `headers` found: an attachment ID that itself begins with "Attachments" (IDs are opaque)
/// was cut at the wrong place, because the last "/attachments" in the path was taken even
/// when it was only the start of the ID's segment. Only a whole `attachments` segment counts
/// now.
#[test]
fn crash_headers_attachment_id_beginning_with_attachments() {
    fuzzing::headers(&hex("006d2f4174746163686d656e74732800002934"));
}

/// `headers` found, after that fix: an ID that is exactly "Attachments" now read as a path
/// ending in the segment, without an ID. The segment must have something after it.
#[test]
fn crash_headers_attachment_id_that_is_the_word_attachments() {
    fuzzing::headers(&hex("0073284174746163686d656e7473"));
}

#[test]
fn an_attachment_id_may_begin_with_the_word_attachments() {
    use upload_session::fuzzing::attachment_id_from_location;
    let base = "https://graph.microsoft.com/beta/users/6f9a/todo/lists/L=/tasks/T=";
    assert_eq!(
        attachment_id_from_location(&format!("{base}/Attachments/AttachmentsAAMk=")).as_deref(),
        Ok("AttachmentsAAMk=")
    );
    assert_eq!(
        attachment_id_from_location(&format!("{base}/Attachments/attachments%2Fx")).as_deref(),
        Ok("attachments/x")
    );
    assert_eq!(
        attachment_id_from_location(
            "https://outlook.office.com/api/v2.0/Me/Messages('m')/Attachments('Attachments1')"
        )
        .as_deref(),
        Ok("Attachments1")
    );
    assert_eq!(
        attachment_id_from_location("https://h/ATTACHMENTS/Attachments#frag").as_deref(),
        Ok("Attachments")
    );
    assert!(attachment_id_from_location(&format!("{base}/Attachments/")).is_err());
    assert!(attachment_id_from_location(&format!("{base}/Attachments")).is_err());
}

/// `upload_session_body` stopped on two faults of the harness itself, kept here so the
/// harness stays right: it expected a chunk PUT where its script leads to the status query
/// after the last chunk's lost answer, and it took a planted secret that a raw body put in
/// a URL's host (shown, correctly, in the error) for a leaked query.
#[test]
fn crash_upload_session_body_harness_faults() {
    fuzzing::upload_session_body(&hex(
        "8401010001015068747470733a2f2f67726170682e6d6963726f736f66742e636f6d2f62372d3465363432383532663336642f746f646f",
    ));
    fuzzing::upload_session_body(&hex("0000010001007b22406f646174612e636f6e74657874223a2268747470733a2f2f677261706f736f66742e636f6d2f626574612f246d65746170682e75706c2f616453657373696f6e222c2275706c6f616455726c223a2268747470733a2f2f74656d70617574683d5345435245546f666b413532365a222c226e657874457870656374656452616e676573223a5b22302d225d7d"));
}
