//! Whole uploads against the model server: the exact request sequences the protocol demands,
//! and recovery from every fault docs/protocol.md names.

mod common;

use std::time::Duration;

use common::*;
use upload_session::{
    Action, CallerError, Error, FileInfo, Options, ProtocolError, Purpose, Response, RestoreError,
    RetryPolicy, State, Timestamp, TransportError, Upload,
};

const SEED_SIZE: u64 = 3_483_322;
const MIB2: u64 = 2_097_152;

fn opts(chunk: u64) -> Options {
    {
        let mut o = Options::default();
        o.chunk_size = Some(chunk);
        o
    }
}

fn done(run: &Run) -> &upload_session::Completion {
    match &run.end {
        End::Done(c) => c,
        other => panic!("expected Done, got {other:?}; log {:?}", run.log),
    }
}

fn failed(run: &Run) -> &Error {
    match &run.end {
        End::Failed(e) => e,
        other => panic!("expected Failed, got {other:?}"),
    }
}

#[test]
fn the_seed_example_two_puts_of_2_mib() {
    let (mut up, mut model) = new_upload(SEED_SIZE, opts(MIB2));
    assert_eq!(up.state(), State::Creating);
    let run = drive(&mut up, &mut model, |_, _| Fault::None, 20);
    let c = done(&run);
    assert_eq!(methods(&run.log), ["POST", "PUT", "PUT"]);
    assert_eq!(puts(&run.log), ["0-2097151", "2097152-3483321"]);
    assert_eq!(
        run.log[0].url,
        format!("{}/createUploadSession", collection())
    );
    assert!(run.log[1].url.ends_with("/attachmentSessions/S0=/content"));
    assert_eq!(c.id, "ATT0=");
    assert!(c
        .location
        .as_deref()
        .unwrap()
        .ends_with("/Attachments/ATT0="));
    assert!(!c.found_by_lookup);
    assert_eq!(model.attachments.len(), 1);
    assert!(model.violations.is_empty(), "{:?}", model.violations);
    assert_eq!(up.progress().confirmed, SEED_SIZE);
    assert_eq!((up.requests(), up.sessions()), (3, 1));
}

#[test]
fn first_poll_creates_with_the_attachment_info_and_the_token() {
    let (mut up, _) = new_upload(SEED_SIZE, opts(MIB2));
    let now = Timestamp::from_unix_millis(START);
    let Action::Send(req) = up.poll(now) else {
        panic!()
    };
    assert_eq!(req.method().as_str(), "POST");
    assert!(req.needs_token());
    let upload_session::Body::Json(body) = req.body() else {
        panic!()
    };
    let v: serde_json::Value = serde_json::from_str(body).unwrap();
    assert_eq!(v["attachmentInfo"]["size"], SEED_SIZE);
    assert_eq!(v["attachmentInfo"]["attachmentType"], "file");
    // Polling again without input gives the same request, same id.
    assert_eq!(up.poll(now), Action::Send(req.clone()));
    assert_eq!(up.requests(), 1);
}

#[test]
fn created_201_and_pascal_case_keys_are_accepted() {
    let (mut up, mut model) = new_upload(SEED_SIZE, opts(MIB2));
    model.style.created_201 = true;
    model.style.pascal = true;
    let run = drive(&mut up, &mut model, |_, _| Fault::None, 20);
    done(&run);
    assert_eq!(puts(&run.log), ["0-2097151", "2097152-3483321"]);
}

#[test]
fn default_chunk_and_the_25_mib_maximum() {
    let size = 25 * 1024 * 1024;
    let (mut up, mut model) = new_upload(size, Options::default());
    let run = drive(&mut up, &mut model, |_, _| Fault::None, 40);
    done(&run);
    let p = puts(&run.log);
    assert_eq!(p.len() as u64, size.div_ceil(3_932_160));
    assert_eq!(p[0], "0-3932159");
    assert_eq!(
        p.last().unwrap(),
        &format!("{}-{}", 6 * 3_932_160, size - 1)
    );
    let file = FileInfo::new("big", size + 1);
    assert!(matches!(
        Upload::new(target(), file, Options::default()),
        Err(upload_session::ConfigError::FileTooLarge { .. })
    ));
}

#[test]
fn chunk_sizes_are_validated() {
    for bad in [0, 3_999_999 + 1, 4_000_000, u64::MAX] {
        let r = Upload::new(target(), FileInfo::new("f", 10_000_000), opts(bad));
        assert!(
            matches!(r, Err(upload_session::ConfigError::ChunkSize { .. })),
            "{bad}"
        );
    }
    assert!(Upload::new(target(), FileInfo::new("f", 10_000_000), opts(3_999_999)).is_ok());
}

#[test]
fn small_files_go_by_single_post_unless_forced() {
    for size in [0, 1, 2_999_999] {
        let (mut up, mut model) = new_upload(size, Options::default());
        assert_eq!(up.state(), State::Posting);
        let run = drive(&mut up, &mut model, |_, _| Fault::None, 10);
        assert_eq!(done(&run).id, "ATT0=");
        assert_eq!(methods(&run.log), ["POST"]);
        assert_eq!(run.log[0].url, collection());
        assert!(model.violations.is_empty(), "{:?}", model.violations);
    }
    // 3,000,000 bytes and up: a session.
    let (up, _) = new_upload(3_000_000, Options::default());
    assert_eq!(up.state(), State::Creating);
    // Forced: a 1-byte file through a session, one PUT of bytes 0-0/1.
    let (mut up, mut model) = new_upload(1, {
        let mut o = Options::default();
        o.force_session = true;
        o
    });
    let run = drive(&mut up, &mut model, |_, _| Fault::None, 10);
    done(&run);
    assert_eq!(puts(&run.log), ["0-0"]);
    // A 0-byte file cannot be a Content-Range: single POST even when forced.
    let (up, _) = new_upload(0, {
        let mut o = Options::default();
        o.force_session = true;
        o
    });
    assert_eq!(up.state(), State::Posting);
}

#[test]
fn single_post_body_length_is_exact() {
    let (mut up, _) = new_upload(1000, Options::default());
    let Action::Send(req) = up.poll(Timestamp::from_unix_millis(START)) else {
        panic!()
    };
    let upload_session::Body::JsonWithBase64File {
        prefix,
        range,
        suffix,
    } = req.body()
    else {
        panic!()
    };
    let file: Vec<u8> = (0..1000u32).map(|i| i as u8).collect();
    let mut enc = upload_session::Base64Encoder::new();
    let mut out = prefix.as_bytes().to_vec();
    let r = range.unwrap();
    enc.push(&file[r.start() as usize..r.end() as usize], &mut out);
    enc.finish(&mut out);
    out.extend_from_slice(suffix.as_bytes());
    assert_eq!(Some(out.len() as u64), req.content_length());
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v["name"], "flower.jpg");
    assert_eq!(v["contentBytes"].as_str().unwrap().len(), 1336);
}

#[test]
fn several_missing_ranges_are_filled_in_order() {
    let (mut up, mut model) = new_upload(10 * MIB2, opts(MIB2));
    // After the 4th PUT the server forgets part of what it held.
    let run = drive(
        &mut up,
        &mut model,
        |i, _| {
            if i == 4 {
                Fault::LoseRange
            } else {
                Fault::None
            }
        },
        40,
    );
    done(&run);
    let p = puts(&run.log);
    // Four chunks, then the gap the server lost (a quarter to a half of 6 MiB), then on.
    assert_eq!(
        &p[..4],
        [
            "0-2097151",
            "2097152-4194303",
            "4194304-6291455",
            "6291456-8388607"
        ]
    );
    assert_eq!(p[4], "1572864-3145728");
    assert_eq!(p[5], "8388608-10485759");
    assert!(p.len() > 5);
    assert_eq!(model.attachments.len(), 1);
    assert!(model.violations.is_empty(), "{:?}", model.violations);
}

#[test]
fn retry_after_503_is_honoured_then_the_status_is_asked() {
    let (mut up, mut model) = new_upload(SEED_SIZE, opts(MIB2));
    let run = drive(
        &mut up,
        &mut model,
        |i, _| {
            if i == 1 {
                Fault::Unavailable {
                    keep: false,
                    retry_after: Some("2.128".into()),
                }
            } else {
                Fault::None
            }
        },
        20,
    );
    done(&run);
    assert_eq!(methods(&run.log), ["POST", "PUT", "GET", "PUT", "PUT"]);
    assert!(
        run.log[2].at - run.log[1].at >= 2128,
        "waited {} ms",
        run.log[2].at - run.log[1].at
    );
    assert!(model.violations.is_empty(), "{:?}", model.violations);
}

#[test]
fn a_503_whose_chunk_was_kept_is_not_sent_twice() {
    let (mut up, mut model) = new_upload(SEED_SIZE, opts(MIB2));
    let run = drive(
        &mut up,
        &mut model,
        |i, _| {
            if i == 1 {
                Fault::Unavailable {
                    keep: true,
                    retry_after: Some("1".into()),
                }
            } else {
                Fault::None
            }
        },
        20,
    );
    done(&run);
    assert_eq!(methods(&run.log), ["POST", "PUT", "GET", "PUT"]);
    assert_eq!(puts(&run.log), ["0-2097151", "2097152-3483321"]);
}

#[test]
fn throttling_429_resends_after_retry_after_as_http_date() {
    let (mut up, mut model) = new_upload(SEED_SIZE, opts(MIB2));
    // 3 seconds after the start, as an HTTP-date.
    let date = "Tue, 14 Nov 2023 22:13:23 GMT";
    assert_eq!(START, 1_700_000_000_000);
    let run = drive(
        &mut up,
        &mut model,
        |i, _| {
            if i == 2 {
                Fault::Throttle(Some(date.into()))
            } else {
                Fault::None
            }
        },
        20,
    );
    done(&run);
    assert_eq!(methods(&run.log), ["POST", "PUT", "PUT", "PUT"]);
    assert_eq!(
        puts(&run.log),
        ["0-2097151", "2097152-3483321", "2097152-3483321"]
    );
    assert!(run.log[3].at >= START + 3000);
    assert!(model.violations.is_empty(), "{:?}", model.violations);
}

#[test]
fn a_dropped_put_is_followed_by_a_status_query() {
    let (mut up, mut model) = new_upload(SEED_SIZE, opts(MIB2));
    let run = drive(
        &mut up,
        &mut model,
        |i, _| {
            if i == 1 {
                Fault::Drop { keep: true }
            } else {
                Fault::None
            }
        },
        20,
    );
    done(&run);
    assert_eq!(methods(&run.log), ["POST", "PUT", "GET", "PUT"]);
    let (mut up, mut model) = new_upload(SEED_SIZE, opts(MIB2));
    let run = drive(
        &mut up,
        &mut model,
        |i, _| {
            if i == 1 {
                Fault::Drop { keep: false }
            } else {
                Fault::None
            }
        },
        20,
    );
    done(&run);
    assert_eq!(
        puts(&run.log),
        ["0-2097151", "0-2097151", "2097152-3483321"]
    );
}

#[test]
fn a_416_asks_the_server_and_continues() {
    let (mut up, mut model) = new_upload(SEED_SIZE, opts(MIB2));
    let run = drive(
        &mut up,
        &mut model,
        |i, _| {
            if i == 2 {
                Fault::RangeRefused
            } else {
                Fault::None
            }
        },
        20,
    );
    done(&run);
    assert_eq!(methods(&run.log), ["POST", "PUT", "PUT", "GET", "PUT"]);
}

#[test]
fn a_refused_status_query_falls_back_to_resending() {
    let (mut up, mut model) = new_upload(SEED_SIZE, opts(MIB2));
    model.style.status_refused = true;
    let run = drive(
        &mut up,
        &mut model,
        |i, _| {
            if i == 1 {
                Fault::Drop { keep: false }
            } else {
                Fault::None
            }
        },
        20,
    );
    done(&run);
    assert_eq!(methods(&run.log), ["POST", "PUT", "GET", "PUT", "PUT"]);
    assert_eq!(run.log[2].status, Some(405));
    assert_eq!(
        puts(&run.log),
        ["0-2097151", "0-2097151", "2097152-3483321"]
    );
}

#[test]
fn expiry_mid_way_starts_a_new_session_from_byte_zero() {
    let (mut up, mut model) = new_upload(3 * MIB2, opts(MIB2));
    let run = drive(
        &mut up,
        &mut model,
        |i, _| if i == 2 { Fault::Expire } else { Fault::None },
        30,
    );
    done(&run);
    // A session that vanished mid-way is looked for once (it may have completed on a range it
    // listed as missing), then replaced.
    assert_eq!(
        methods(&run.log),
        ["POST", "PUT", "PUT", "GET", "POST", "PUT", "PUT", "PUT"]
    );
    assert_eq!(run.log[2].status, Some(404));
    assert_eq!(puts(&run.log)[2], "0-2097151");
    assert_eq!(up.sessions(), 2);
    assert_eq!(model.attachments.len(), 1);
}

#[test]
fn expiry_by_the_clock_is_noticed_before_sending() {
    let (mut up, mut model) = new_upload(3 * MIB2, opts(MIB2));
    model.style.lifetime = Some(Duration::from_millis(15));
    let run = drive(&mut up, &mut model, |_, _| Fault::None, 30);
    // Every session expires after one PUT: two restarts, then the typed error.
    assert_eq!(failed(&run), &Error::SessionExpired { sessions: 3 });
    assert_eq!(model.violations, Vec::<String>::new());
}

#[test]
fn restarts_can_be_disallowed() {
    let (mut up, mut model) = new_upload(3 * MIB2, {
        let mut o = Options::default();
        o.chunk_size = Some(MIB2);
        o.max_restarts = 0;
        o
    });
    let run = drive(
        &mut up,
        &mut model,
        |i, _| if i == 2 { Fault::Expire } else { Fault::None },
        30,
    );
    assert_eq!(failed(&run), &Error::SessionExpired { sessions: 1 });
}

#[test]
fn a_401_asks_for_a_token_and_keeps_the_session() {
    let (mut up, mut model) = new_upload(SEED_SIZE, opts(MIB2));
    let now = Timestamp::from_unix_millis(START);
    let Action::Send(create) = up.poll(now) else {
        panic!()
    };
    let Answer::Http { status, body, .. } = model.handle(&create, now, &Fault::None) else {
        panic!()
    };
    up.handle_response(now, create.id(), Response::new(status).body(&body))
        .unwrap();
    let Action::Send(put) = up.poll(now) else {
        panic!()
    };
    up.handle_response(now, put.id(), Response::new(401))
        .unwrap();
    assert_eq!(up.poll(now), Action::RefreshToken);
    assert_eq!(
        up.poll(now),
        Action::RefreshToken,
        "asking again changes nothing"
    );
    up.token_refreshed(now).unwrap();
    assert_eq!(up.token_refreshed(now), Err(CallerError::NoRefreshAsked));
    let Action::Send(again) = up.poll(now) else {
        panic!()
    };
    assert_eq!(again.file_range(), put.file_range());
    assert_ne!(again.id(), put.id());
    assert_eq!(up.sessions(), 1);
    // A second 401 in a row fails.
    up.handle_response(now, again.id(), Response::new(401))
        .unwrap();
    assert!(matches!(up.poll(now), Action::Failed(Error::Unauthorized)));
}

#[test]
fn a_401_once_in_a_while_is_survived() {
    let (mut up, mut model) = new_upload(SEED_SIZE, opts(MIB2));
    let run = drive(
        &mut up,
        &mut model,
        |i, _| {
            if i == 1 || i == 3 {
                Fault::Unauthorized
            } else {
                Fault::None
            }
        },
        20,
    );
    done(&run);
    assert_eq!(up.sessions(), 1);
}

#[test]
fn the_lost_answer_to_the_final_put_is_found_not_duplicated() {
    let (mut up, mut model) = new_upload(SEED_SIZE, opts(MIB2));
    let run = drive(
        &mut up,
        &mut model,
        |i, _| {
            if i == 2 {
                Fault::Drop { keep: true }
            } else {
                Fault::None
            }
        },
        20,
    );
    let c = done(&run);
    assert_eq!(methods(&run.log), ["POST", "PUT", "PUT", "GET", "GET"]);
    assert_eq!(run.log[3].status, Some(404));
    assert_eq!(run.log[4].url, collection());
    assert!(c.found_by_lookup);
    assert_eq!(c.id, "ATT0=");
    assert_eq!(model.attachments.len(), 1, "no duplicate attachment");
}

#[test]
fn a_lost_single_post_is_looked_for_before_posting_again() {
    let (mut up, mut model) = new_upload(1000, Options::default());
    let run = drive(
        &mut up,
        &mut model,
        |i, _| {
            if i == 0 {
                Fault::Drop { keep: true }
            } else {
                Fault::None
            }
        },
        20,
    );
    assert!(done(&run).found_by_lookup);
    assert_eq!(methods(&run.log), ["POST", "GET"]);
    assert_eq!(model.attachments.len(), 1);
    let (mut up, mut model) = new_upload(1000, Options::default());
    let run = drive(
        &mut up,
        &mut model,
        |i, _| {
            if i == 0 {
                Fault::Drop { keep: false }
            } else {
                Fault::None
            }
        },
        20,
    );
    assert!(!done(&run).found_by_lookup);
    assert_eq!(methods(&run.log), ["POST", "GET", "POST"]);
    assert_eq!(model.attachments.len(), 1);
}

#[test]
fn cancel_mid_upload_deletes_the_session() {
    let (mut up, mut model) = new_upload(3 * MIB2, opts(MIB2));
    let mut cancelled = false;
    let now = Timestamp::from_unix_millis(START);
    let mut log = Vec::new();
    loop {
        match up.poll(now) {
            Action::Send(req) => {
                log.push(req.method().as_str());
                let Answer::Http { status, body, .. } = model.handle(&req, now, &Fault::None)
                else {
                    panic!()
                };
                if req.file_range().is_some() && !cancelled {
                    // Cancel while the PUT is in flight: it is answered first.
                    up.cancel(now);
                    cancelled = true;
                    assert_eq!(up.state(), State::Uploading);
                }
                up.handle_response(now, req.id(), Response::new(status).body(&body))
                    .unwrap();
            }
            Action::Cancelled => break,
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(log, ["POST", "PUT", "DELETE"]);
    assert!(model.sessions[0].gone);
    assert_eq!(up.poll(now), Action::Cancelled);
    // Before any session exists, cancel ends at once.
    let (mut up, _) = new_upload(3 * MIB2, opts(MIB2));
    up.cancel(now);
    assert_eq!(up.poll(now), Action::Cancelled);
}

#[test]
fn save_and_restore_mid_upload_continues_where_the_server_stands() {
    let (mut up, mut model) = new_upload(5 * MIB2, opts(MIB2));
    let now = Timestamp::from_unix_millis(START);
    let mut saved = String::new();
    for _ in 0..3 {
        let Action::Send(req) = up.poll(now) else {
            panic!()
        };
        let Answer::Http { status, body, .. } = model.handle(&req, now, &Fault::None) else {
            panic!()
        };
        up.handle_response(now, req.id(), Response::new(status).body(&body))
            .unwrap();
        saved = up.save();
    }
    assert!(!saved.contains("Bearer"));
    // The process "dies" while sending the third PUT; the server kept it.
    let Action::Send(lost) = up.poll(now) else {
        panic!()
    };
    let _ = model.handle(&lost, now, &Fault::None);
    drop(up);
    let file = FileInfo::new("flower.jpg", 5 * MIB2).with_fingerprint(format!("{}:1", 5 * MIB2));
    let mut up = Upload::restore(saved.as_bytes(), target(), file, opts(MIB2)).unwrap();
    assert_eq!(up.state(), State::Querying);
    assert_eq!(up.progress().confirmed, 2 * MIB2);
    let run = drive(&mut up, &mut model, |_, _| Fault::None, 20);
    done(&run);
    assert_eq!(methods(&run.log), ["GET", "PUT", "PUT"]);
    assert_eq!(puts(&run.log), ["6291456-8388607", "8388608-10485759"]);
    assert_eq!(model.attachments.len(), 1);
    assert_eq!(up.sessions(), 1);
}

#[test]
fn restore_refuses_another_file_target_or_garbage() {
    let (up, _) = new_upload(5 * MIB2, opts(MIB2));
    let saved = up.save();
    let other_size = FileInfo::new("flower.jpg", 5 * MIB2 + 1).with_fingerprint("x");
    assert!(matches!(
        Upload::restore(saved.as_bytes(), target(), other_size, opts(MIB2)),
        Err(RestoreError::DifferentFile { what: "size", .. })
    ));
    let other_fp = FileInfo::new("flower.jpg", 5 * MIB2).with_fingerprint("changed");
    let e = Upload::restore(saved.as_bytes(), target(), other_fp, opts(MIB2)).unwrap_err();
    assert!(matches!(
        e,
        RestoreError::DifferentFile {
            what: "fingerprint",
            ..
        }
    ));
    let file = || FileInfo::new("flower.jpg", 5 * MIB2).with_fingerprint(format!("{}:1", 5 * MIB2));
    let elsewhere =
        upload_session::Target::todo_task(BASE, upload_session::Owner::Me, "other", TASK).unwrap();
    assert!(matches!(
        Upload::restore(saved.as_bytes(), elsewhere, file(), opts(MIB2)),
        Err(RestoreError::DifferentTarget { .. })
    ));
    for bad in [&b""[..], b"{}", b"null", b"[1,2]", &[0xff, 0xfe]] {
        assert!(matches!(
            Upload::restore(bad, target(), file(), opts(MIB2)),
            Err(RestoreError::Malformed(_))
        ));
    }
    let v1 = saved.replace("\"version\":2", "\"version\":1");
    assert!(matches!(
        Upload::restore(v1.as_bytes(), target(), file(), opts(MIB2)),
        Err(RestoreError::Version { found: 1, .. })
    ));
    let hostile = saved.replace(
        "{\"kind\":\"start\"}",
        &format!(
            r#"{{"kind":"session","upload_url":"{BASE}/s/1","expires":null,"expected":[{{"start":0,"end":99999999999}}],"since":{{"client":1,"server":null}},"result_may_exist_since":null,"status_query_refused":false}}"#
        ),
    );
    assert_ne!(hostile, saved);
    assert!(matches!(
        Upload::restore(hostile.as_bytes(), target(), file(), opts(MIB2)),
        Err(RestoreError::Invalid(_))
    ));
}

#[test]
fn a_foreign_upload_url_never_gets_the_token() {
    let (mut up, mut model) = new_upload(SEED_SIZE, opts(MIB2));
    model.style.foreign = true;
    let run = drive(&mut up, &mut model, |_, _| Fault::None, 20);
    done(&run);
    assert!(run.log[1].url.starts_with(FOREIGN));
    assert!(run.log[1].url.ends_with("/content?tempauth=SECRET-0"));
    // check_request in drive() asserted needs_token() was false for it.
    assert!(!format!("{up:?}").contains("SECRET"));
}

#[test]
fn a_query_on_the_upload_url_is_kept_and_redacted() {
    let (mut up, mut model) = new_upload(SEED_SIZE, opts(MIB2));
    model.style.query = true;
    let now = Timestamp::from_unix_millis(START);
    let Action::Send(create) = up.poll(now) else {
        panic!()
    };
    let Answer::Http { status, body, .. } = model.handle(&create, now, &Fault::None) else {
        panic!()
    };
    up.handle_response(now, create.id(), Response::new(status).body(&body))
        .unwrap();
    let Action::Send(put) = up.poll(now) else {
        panic!()
    };
    assert!(put.url().ends_with("/S0=/content?tempauth=SECRET-0"));
    assert!(!format!("{put:?}").contains("SECRET"));
    assert!(!format!("{up:?}").contains("SECRET"));
    assert!(!up.upload_url().unwrap().to_string().contains("SECRET"));
}

#[test]
fn answers_for_other_requests_are_refused_without_effect() {
    let (mut up, _) = new_upload(SEED_SIZE, opts(MIB2));
    let now = Timestamp::from_unix_millis(START);
    let Action::Send(req) = up.poll(now) else {
        panic!()
    };
    let wrong = req.id();
    // A stale id from a previous upload: build one by running another machine one step.
    let (mut other, _) = new_upload(SEED_SIZE, opts(MIB2));
    let Action::Send(o1) = other.poll(now) else {
        panic!()
    };
    other
        .handle_transport_error(now, o1.id(), TransportError::Connect)
        .unwrap();
    let Action::Send(o2) = other.poll(now) else {
        panic!()
    };
    assert_ne!(o2.id(), req.id());
    let e = up
        .handle_response(now, o2.id(), Response::new(200))
        .unwrap_err();
    assert_eq!(
        e,
        CallerError::NotInFlight {
            got: o2.id(),
            in_flight: Some(req.id())
        }
    );
    assert_eq!(up.poll(now), Action::Send(req.clone()), "state unchanged");
    up.handle_transport_error(now, wrong, TransportError::Connect)
        .unwrap();
    assert!(
        up.handle_response(now, wrong, Response::new(200)).is_err(),
        "answered twice"
    );
}

#[test]
fn waits_ignore_early_wakeups_and_clocks_that_go_back() {
    let (mut up, _) = new_upload(SEED_SIZE, opts(MIB2));
    let now = Timestamp::from_unix_millis(START);
    let Action::Send(req) = up.poll(now) else {
        panic!()
    };
    up.handle_response(now, req.id(), Response::new(503).header("Retry-After", "5"))
        .unwrap();
    let want = Action::Wait {
        until: Timestamp::from_unix_millis(START + 5000),
        reason: upload_session::WaitReason::RetryAfter,
    };
    assert_eq!(up.poll(now), want);
    assert_eq!(
        up.poll(Timestamp::from_unix_millis(START + 4999)),
        want,
        "early wake-up"
    );
    assert_eq!(
        up.poll(Timestamp::from_unix_millis(0)),
        want,
        "a clock that went back"
    );
    let Action::Send(again) = up.poll(Timestamp::from_unix_millis(START + 5000)) else {
        panic!()
    };
    assert_eq!(again.purpose(), Purpose::CreateSession);
}

#[test]
fn retries_are_bounded_by_attempts_and_by_time() {
    let policy = RetryPolicy {
        max_attempts: 4,
        ..RetryPolicy::default()
    };
    let (mut up, mut model) = new_upload(SEED_SIZE, {
        let mut o = Options::default();
        o.chunk_size = Some(MIB2);
        o.retry = policy;
        o
    });
    let run = drive(&mut up, &mut model, |_, _| Fault::Internal, 50);
    assert!(matches!(
        failed(&run),
        Error::RetriesExhausted {
            attempts: 4,
            purpose: Purpose::CreateSession,
            ..
        }
    ));
    assert_eq!(run.log.len(), 4);
    // Waits grew: at least 1.5 s + 3 s + 6 s of backoff with jitter.
    assert!(run.clock.as_unix_millis() - START >= 1500 + 3000 + 6000);
    let policy = RetryPolicy {
        max_total: Duration::from_secs(10),
        ..RetryPolicy::default()
    };
    let (mut up, mut model) = new_upload(SEED_SIZE, {
        let mut o = Options::default();
        o.chunk_size = Some(MIB2);
        o.retry = policy;
        o
    });
    let run = drive(
        &mut up,
        &mut model,
        |_, _| Fault::Throttle(Some("4".into())),
        50,
    );
    // The third wait would end past the 10 s the policy allows: the error names the
    // server's ask rather than waiting less.
    assert!(
        matches!(
            failed(&run),
            Error::RetryAfterTooLong { asked, .. } if *asked == Duration::from_secs(4)
        ),
        "{:?}",
        failed(&run)
    );
    assert_eq!(run.log.len(), 3);
}

#[test]
fn other_errors_carry_graphs_code() {
    let (mut up, _) = new_upload(SEED_SIZE, opts(MIB2));
    let now = Timestamp::from_unix_millis(START);
    let Action::Send(req) = up.poll(now) else {
        panic!()
    };
    let body = br#"{"error": {"code": "ErrorAccessDenied", "message": "Access is denied.", "innerError": {"request-id": "abc"}}}"#;
    up.handle_response(now, req.id(), Response::new(403).body(body))
        .unwrap();
    let Action::Failed(Error::Status(e)) = up.poll(now) else {
        panic!()
    };
    assert_eq!((e.status, e.purpose), (403, Purpose::CreateSession));
    assert_eq!(e.graph.code.as_deref(), Some("ErrorAccessDenied"));
    assert_eq!(e.graph.request_id.as_deref(), Some("abc"));
    assert_eq!(
        e.to_string(),
        "session creation answered HTTP 403 (ErrorAccessDenied): Access is denied."
    );
}

#[test]
fn hostile_session_answers_are_protocol_errors() {
    type Check = fn(&ProtocolError) -> bool;
    let cases: [(&[u8], Check); 4] = [
        (br#"{"nextExpectedRanges": ["0-"]}"#, |e| {
            matches!(e, ProtocolError::MissingUploadUrl)
        }),
        (br#"{"uploadUrl": "ftp://x/y"}"#, |e| {
            matches!(e, ProtocolError::UploadUrl(_))
        }),
        (
            br#"{"uploadUrl": "https://g/u", "nextExpectedRanges": ["9-3"]}"#,
            |e| matches!(e, ProtocolError::Body(_)),
        ),
        (b"<html>", |e| matches!(e, ProtocolError::Body(_))),
    ];
    for (body, check) in cases {
        let (mut up, _) = new_upload(SEED_SIZE, opts(MIB2));
        let now = Timestamp::from_unix_millis(START);
        let Action::Send(req) = up.poll(now) else {
            panic!()
        };
        up.handle_response(now, req.id(), Response::new(200).body(body))
            .unwrap();
        match up.poll(now) {
            Action::Failed(Error::Protocol {
                error,
                purpose: Purpose::CreateSession,
            }) => assert!(check(&error), "{error}"),
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn a_server_that_never_advances_is_given_up_on() {
    let (mut up, _) = new_upload(SEED_SIZE, opts(MIB2));
    let now = Timestamp::from_unix_millis(START);
    let Action::Send(req) = up.poll(now) else {
        panic!()
    };
    up.handle_response(
        now,
        req.id(),
        Response::new(200).body(br#"{"uploadUrl": "https://graph.example.com/u"}"#),
    )
    .unwrap();
    let mut n = 0;
    let mut now = now;
    let mut waits = Vec::new();
    loop {
        match up.poll(now) {
            Action::Send(req) => {
                n += 1;
                up.handle_response(
                    now,
                    req.id(),
                    Response::new(200).body(br#"{"nextExpectedRanges": ["0-"]}"#),
                )
                .unwrap();
            }
            // Answers that add nothing back off, as failures do.
            Action::Wait { until, .. } => {
                waits.push(until.saturating_duration_since(now));
                now = until;
            }
            Action::Failed(Error::Protocol {
                error: ProtocolError::NoProgress { .. },
                ..
            }) => break,
            other => panic!("{other:?}"),
        }
        assert!(n < 100, "looped");
    }
    assert_eq!(n, 9);
    assert_eq!(waits.len(), 7, "{waits:?}");
    assert!(waits.windows(2).all(|w| w[0] <= w[1]), "{waits:?}");
}

/// Another resource is a profile, not new machine code (docs/protocol.md §8): OneDrive answers 202
/// with `"S-E"` ranges, completes with a driveItem body, wants chunks on the 320 KiB grid and
/// must not get the token on its pre-authenticated uploadUrl.
#[test]
fn a_onedrive_profile_drives_the_same_machine() {
    use upload_session::{CompletionRule, CreateBody, Profile, PutUrl, SessionAuth, Target};
    let grid = 327_680;
    let mut profile = Profile::TODO_TASK;
    profile.name = "onedrive-item";
    profile.create_body = CreateBody::DriveItem {
        conflict_behavior: "rename",
    };
    profile.put_url = PutUrl::AsGiven;
    profile.session_auth = SessionAuth::PreAuthenticated;
    profile.max_chunk = 60 * 1024 * 1024 - 1;
    profile.chunk_align = grid;
    profile.default_chunk = 10 * grid;
    profile.max_size = 250 << 30;
    profile.intermediate_statuses = &[202];
    profile.complete_statuses = &[200, 201];
    profile.completion = CompletionRule::JsonBody;
    profile.single_post_below = None;
    profile.can_list_attachments = false;
    let base = "https://graph.microsoft.com/v1.0";
    let target = Target::new(
        base,
        profile,
        format!("{base}/me/drive/items/root:/big.bin:/createUploadSession"),
        None,
    )
    .unwrap();
    let size = 25 * grid + 17;
    let mut up = Upload::new(
        target.clone(),
        FileInfo::new("big.bin", size),
        Options::default(),
    )
    .unwrap();
    assert!(
        Upload::new(target, FileInfo::new("big.bin", size), opts(grid + 1)).is_err(),
        "off the grid"
    );
    let now = Timestamp::from_unix_millis(START);
    let Action::Send(create) = up.poll(now) else {
        panic!()
    };
    assert!(create.needs_token());
    let created = br#"{"uploadUrl": "https://sn3302.up.1drv.com/up/fe6987415ace7X4e1eF866337?tempauth=x", "expirationDateTime": "2030-01-01T00:00:00Z"}"#;
    up.handle_response(now, create.id(), Response::new(200).body(created))
        .unwrap();
    let mut ranges = Vec::new();
    let item = loop {
        match up.poll(now) {
            Action::Send(put) => {
                assert!(!put.needs_token(), "pre-authenticated uploadUrl");
                assert_eq!(
                    put.url(),
                    "https://sn3302.up.1drv.com/up/fe6987415ace7X4e1eF866337?tempauth=x"
                );
                let r = put.file_range().unwrap();
                ranges.push(r.to_string());
                // The first fragment is partly kept (off the grid); the rest as sent.
                let kept = if ranges.len() == 1 {
                    r.start() + 1000
                } else {
                    r.end()
                };
                if kept == size {
                    let body =
                        format!(r#"{{"id": "01BYE5RZ", "name": "big.bin", "size": {size}}}"#);
                    up.handle_response(now, put.id(), Response::new(201).body(body.as_bytes()))
                        .unwrap();
                } else {
                    let body = format!(r#"{{"nextExpectedRanges": ["{kept}-{}"]}}"#, size - 1);
                    up.handle_response(now, put.id(), Response::new(202).body(body.as_bytes()))
                        .unwrap();
                }
            }
            Action::Done(c) => break c,
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(item.id, "01BYE5RZ");
    // 1000 bytes kept of the first fragment: the next chunk realigns to the grid.
    assert_eq!(ranges[0], format!("0-{}", 10 * grid - 1));
    assert_eq!(ranges[1], format!("1000-{}", 10 * grid - 1));
    assert_eq!(ranges[2], format!("{}-{}", 10 * grid, 20 * grid - 1));
    assert_eq!(
        ranges.last().unwrap(),
        &format!("{}-{}", 20 * grid, size - 1)
    );
}

/// A 404 *answered* to the final PUT means it did not land: one look-up finds nothing, and a
/// new session follows.
#[test]
fn a_404_answered_to_the_final_put_is_looked_up_once_then_started_over() {
    let (mut up, mut model) = new_upload(SEED_SIZE, opts(MIB2));
    let run = drive(
        &mut up,
        &mut model,
        |i, _| if i == 2 { Fault::Expire } else { Fault::None },
        20,
    );
    done(&run);
    assert_eq!(
        methods(&run.log),
        ["POST", "PUT", "PUT", "GET", "POST", "PUT", "PUT"]
    );
    assert_eq!(model.attachments.len(), 1);
}

/// A saved session for a small file (created with `force_session`) is resumed, not left open.
#[test]
fn a_saved_session_for_a_small_file_is_resumed() {
    let forced = {
        let mut o = Options::default();
        o.force_session = true;
        o
    };
    let (mut up, mut model) = new_upload(1000, forced);
    let now = Timestamp::from_unix_millis(START);
    let Action::Send(create) = up.poll(now) else {
        panic!()
    };
    let Answer::Http { status, body, .. } = model.handle(&create, now, &Fault::None) else {
        panic!()
    };
    up.handle_response(now, create.id(), Response::new(status).body(&body))
        .unwrap();
    let saved = up.save();
    let file = FileInfo::new("flower.jpg", 1000).with_fingerprint("1000:1");
    let mut up = Upload::restore(saved.as_bytes(), target(), file, Options::default()).unwrap();
    assert_eq!(up.state(), State::Querying);
    let run = drive(&mut up, &mut model, |_, _| Fault::None, 10);
    done(&run);
    assert_eq!(methods(&run.log), ["GET", "PUT"]);
    assert_eq!(model.attachments.len(), 1);
}

/// A state saved with the single POST in flight (write-ahead) makes the restored machine look
/// for the attachment before posting again: a crash mid-POST leaves no duplicate.
#[test]
fn a_crash_during_the_single_post_is_resumed_by_a_lookup() {
    for landed in [true, false] {
        let (mut up, mut model) = new_upload(1000, Options::default());
        let now = Timestamp::from_unix_millis(START);
        let Action::Send(post) = up.poll(now) else {
            panic!()
        };
        let saved = up.save();
        if landed {
            let _ = model.handle(&post, now, &Fault::None);
        }
        drop(up);
        let file = FileInfo::new("flower.jpg", 1000).with_fingerprint("1000:1");
        let mut up = Upload::restore(saved.as_bytes(), target(), file, Options::default()).unwrap();
        assert_eq!(up.state(), State::FindingResult);
        let run = drive(&mut up, &mut model, |_, _| Fault::None, 10);
        assert_eq!(done(&run).found_by_lookup, landed);
        let want: &[&str] = if landed { &["GET"] } else { &["GET", "POST"] };
        assert_eq!(methods(&run.log), want);
        assert_eq!(model.attachments.len(), 1);
    }
}

/// Without a status query, a restored upload whose first chunk the server already kept is
/// refused (416) once and then skipped: no new session, no byte sent twice more than once.
#[test]
fn a_restore_without_status_query_skips_a_chunk_the_server_kept() {
    let (mut up, mut model) = new_upload(3 * MIB2, opts(MIB2));
    model.style.status_refused = true;
    let now = Timestamp::from_unix_millis(START);
    let Action::Send(create) = up.poll(now) else {
        panic!()
    };
    let Answer::Http { status, body, .. } = model.handle(&create, now, &Fault::None) else {
        panic!()
    };
    up.handle_response(now, create.id(), Response::new(status).body(&body))
        .unwrap();
    // The first PUT is saved in flight, lands, and the process dies.
    let Action::Send(put) = up.poll(now) else {
        panic!()
    };
    let saved = up.save();
    let _ = model.handle(&put, now, &Fault::None);
    let file = FileInfo::new("flower.jpg", 3 * MIB2).with_fingerprint(format!("{}:1", 3 * MIB2));
    let mut up = Upload::restore(saved.as_bytes(), target(), file, opts(MIB2)).unwrap();
    let run = drive(&mut up, &mut model, |_, _| Fault::None, 20);
    done(&run);
    assert_eq!(methods(&run.log), ["GET", "PUT", "PUT", "PUT"]);
    assert_eq!(run.log[1].status, Some(416));
    assert_eq!(
        puts(&run.log),
        ["0-2097151", "2097152-4194303", "4194304-6291455"]
    );
    assert_eq!(up.sessions(), 1);
}

/// A session that refuses every chunk while refusing status queries is deleted, and a new
/// one started, rather than retried for ever or left open.
#[test]
fn a_session_that_keeps_refusing_is_deleted_and_replaced() {
    let (mut up, _) = new_upload(SEED_SIZE, opts(MIB2));
    let now = Timestamp::from_unix_millis(START);
    let Action::Send(create) = up.poll(now) else {
        panic!()
    };
    let created = br#"{"uploadUrl": "https://graph.example.com/v1.0/up/1"}"#;
    up.handle_response(now, create.id(), Response::new(200).body(created))
        .unwrap();
    let mut seen = Vec::new();
    let mut now = now;
    loop {
        let req = match up.poll(now) {
            Action::Send(req) => req,
            Action::Wait { until, .. } => {
                now = until;
                continue;
            }
            other => panic!("{other:?}"),
        };
        seen.push(req.method().as_str());
        let (status, body): (u16, &[u8]) = match req.purpose() {
            Purpose::UploadChunk => (416, b""),
            Purpose::QueryStatus => (405, b""),
            Purpose::Cancel => (204, b""),
            // The abandoned session may have completed: one look, nothing there.
            Purpose::FindResult => (200, br#"{"value": []}"#),
            _ => break,
        };
        up.handle_response(now, req.id(), Response::new(status).body(body))
            .unwrap();
        assert!(seen.len() < 40, "{seen:?}");
    }
    assert_eq!(seen.first(), Some(&"PUT"));
    assert_eq!(&seen[seen.len() - 3..], ["DELETE", "GET", "POST"]);
    assert!(seen.contains(&"GET"));
}
