//! Recovery by facts (docs/protocol.md §10, §11): one test per way a resumable uploader must
//! never break, each driven by hand against scripted answers so that the exact request
//! sequence and the state before and after each input are asserted.

use std::time::Duration;

use graph_model::{graph_timestamp as rfc3339, http_date};
use upload_session::{
    Action, CallerError, Error, FileInfo, Method, Options, Owner, Purpose, Request, Response,
    State, Target, Timestamp, TransportError, Upload, WaitReason,
};
use upload_session_testkit::START;

/// One upload driven by hand: the client clock, the server clock (`skew_ms` ahead), and every
/// wait the machine asked for.
struct Script {
    up: Upload,
    /// Client clock, ms since the epoch.
    now: u64,
    /// Server clock minus client clock; `None`: answers carry no `Date`.
    skew_ms: Option<i64>,
    waits: Vec<(Duration, WaitReason)>,
}

const NAME: &str = "flower.jpg";
const BASE: &str = "https://graph.example.com/v1.0";
const LIST: &str = "AAMDiF/kfh=";
const TASK: &str = "AAMkAD+liMm=";

fn target() -> Target {
    Target::todo_task(BASE, Owner::Me, LIST, TASK).unwrap()
}

fn forced(chunk: u64) -> Options {
    Options::default()
        .with_chunk_size(chunk)
        .with_force_session(true)
}

impl Script {
    fn new(size: u64, options: Options) -> Script {
        let up = Upload::new(target(), FileInfo::new(NAME, size), options).unwrap();
        Script {
            up,
            now: START,
            skew_ms: Some(0),
            waits: Vec::new(),
        }
    }

    fn at(&self) -> Timestamp {
        Timestamp::from_unix_millis(self.now)
    }

    fn server_ms(&self) -> u64 {
        (self.now as i64 + self.skew_ms.unwrap_or(0)) as u64
    }

    /// Polls until the machine sends something, sleeping through its waits.
    fn send(&mut self) -> Request {
        for _ in 0..50 {
            match self.up.poll(self.at()) {
                Action::Send(r) => return r,
                Action::Wait { until, reason } => {
                    let ms = until.as_unix_millis();
                    assert!(ms > self.now, "a wait into the past");
                    self.waits
                        .push((Duration::from_millis(ms - self.now), reason));
                    self.now = ms;
                }
                other => panic!("expected a request, got {other:?}"),
            }
        }
        panic!("the machine keeps waiting");
    }

    /// Answers `req` with this status, headers and body, plus the server's `Date`.
    fn answer(&mut self, req: &Request, status: u16, headers: &[(&str, &str)], body: &str) {
        self.now += 20;
        let date = http_date(self.server_ms());
        let mut resp = Response::new(status)
            .headers(headers.iter().copied())
            .body(body.as_bytes());
        if self.skew_ms.is_some() {
            resp = resp.header("Date", &date);
        }
        self.up.handle_response(self.at(), req.id(), resp).unwrap();
    }

    fn no_answer(&mut self, req: &Request, e: TransportError) {
        self.now += 20;
        self.up
            .handle_transport_error(self.at(), req.id(), e)
            .unwrap();
    }

    /// Creates the session: expiring `lifetime_s` after now on the server's clock.
    fn create(&mut self, lifetime_s: u64, ranges: &str) {
        let req = self.send();
        assert_eq!(req.purpose(), Purpose::CreateSession);
        let body = format!(
            r#"{{"uploadUrl":"{BASE}/users/u/todo/lists/L=/tasks/T=/attachmentSessions/S=","expirationDateTime":"{}","nextExpectedRanges":{ranges}}}"#,
            rfc3339(self.server_ms() + lifetime_s * 1000)
        );
        self.answer(&req, 201, &[], &body);
    }

    /// Sends the next PUT, checks its range, answers 200 with `ranges`.
    fn put(&mut self, range: &str, ranges: &str) {
        let req = self.send();
        assert_eq!(req.method(), Method::Put);
        assert_eq!(req.file_range().unwrap().to_string(), range);
        self.answer(
            &req,
            200,
            &[],
            &format!(r#"{{"nextExpectedRanges":{ranges}}}"#),
        );
    }

    fn end(&mut self) -> Action {
        self.up.poll(self.at())
    }
}

/// A saved state restored for the file of `size` bytes with chunk `chunk`.
fn restored(saved: &str, size: u64, chunk: u64) -> Upload {
    Upload::restore(
        saved.as_bytes(),
        target(),
        FileInfo::new(NAME, size),
        forced(chunk),
    )
    .unwrap()
}

/// The purpose of the request `up` sends next at `now`.
fn next_purpose(up: &mut Upload, now: Timestamp) -> (Request, Purpose) {
    match up.poll(now) {
        Action::Send(r) => {
            let p = r.purpose();
            (r, p)
        }
        other => panic!("expected a request, got {other:?}"),
    }
}

fn listing(items: &[(&str, u64, u64)]) -> String {
    let value: Vec<String> = items
        .iter()
        .map(|(id, size, modified)| {
            format!(
                r#"{{"id":"{id}","name":"{NAME}","size":{size},"lastModifiedDateTime":"{}"}}"#,
                rfc3339(*modified)
            )
        })
        .collect();
    format!(r#"{{"value":[{}]}}"#, value.join(","))
}

/// Finding 1: "final" means this PUT covers every byte the server still misses, wherever
/// the gap is. A gap in the middle, its PUT lost, the session then gone: look, don't re-upload.
#[test]
fn a_final_put_that_fills_a_middle_gap_is_looked_for_before_a_new_session() {
    let mut s = Script::new(300, forced(100));
    s.create(900, r#"["0-"]"#);
    s.put("0-99", r#"["100-"]"#);
    s.put("100-199", r#"["200-"]"#);
    s.put("200-299", r#"["100-199"]"#);
    let last = s.send();
    assert_eq!(last.file_range().unwrap().to_string(), "100-199");
    assert!(last.save_before_sending(), "it may complete the upload");
    let sent_at = s.server_ms();
    s.no_answer(&last, TransportError::Timeout);
    assert!(s.up.result_may_exist());
    let get = s.send();
    assert_eq!(get.purpose(), Purpose::QueryStatus);
    s.answer(&get, 404, &[], "");
    let find = s.send();
    assert_eq!(
        find.purpose(),
        Purpose::FindResult,
        "look before a new session"
    );
    s.answer(&find, 200, &[], &listing(&[("ATT=", 300, sent_at + 300)]));
    match s.end() {
        Action::Done(c) => assert!(c.found_by_lookup && c.id == "ATT="),
        other => panic!("{other:?}"),
    }
    assert_eq!(s.up.sessions(), 1);
}

/// Finding 2: a status query that shows no new bytes does not end the chunk's failure
/// streak; waits grow and `max_attempts` ends it.
#[test]
fn a_failure_streak_survives_status_queries_with_growing_waits() {
    for fail in [None, Some(500)] {
        let size = 7 * 100;
        let mut s = Script::new(size, forced(100));
        s.create(900, r#"["0-"]"#);
        let mut puts = 0;
        let mut put_times = Vec::new();
        let end = loop {
            match s.up.poll(s.at()) {
                Action::Send(req) if req.method() == Method::Put => {
                    puts += 1;
                    put_times.push(s.now);
                    match fail {
                        None => s.no_answer(&req, TransportError::Timeout),
                        Some(status) => s.answer(&req, status, &[], ""),
                    }
                }
                Action::Send(req) => {
                    assert_eq!(req.purpose(), Purpose::QueryStatus);
                    s.answer(&req, 200, &[], r#"{"nextExpectedRanges":["0-"]}"#);
                }
                Action::Wait { until, reason } => {
                    let d = Duration::from_millis(until.as_unix_millis() - s.now);
                    s.waits.push((d, reason));
                    s.now = until.as_unix_millis();
                }
                Action::Failed(e) => break e,
                other => panic!("{other:?}"),
            }
            assert!(puts <= 20, "{puts} PUTs of a failing chunk");
        };
        let max = Options::default().retry.max_attempts;
        assert!(
            matches!(end, Error::RetriesExhausted { attempts, purpose: Purpose::UploadChunk, .. } if attempts == max),
            "{end:?}"
        );
        assert_eq!(puts, max, "one try per attempt, {fail:?}");
        let waits: Vec<Duration> = s.waits.iter().map(|w| w.0).collect();
        assert!(waits.windows(2).all(|w| w[0] <= w[1]), "{waits:?}");
        assert!(
            waits.last().unwrap() >= &Duration::from_secs(90),
            "backoff grew: {waits:?}"
        );
        let gaps: Vec<u64> = put_times.windows(2).map(|w| w[1] - w[0]).collect();
        assert!(
            gaps[1..].iter().all(|g| *g >= 1_000),
            "PUTs back to back: {gaps:?}"
        );
    }
}

/// Finding 3: terminal outcomes are part of the saved state.
#[test]
fn a_state_saved_after_done_or_cancel_restores_the_same_end_and_sends_nothing() {
    let file = || FileInfo::new(NAME, 300);
    let mut s = Script::new(300, forced(300));
    s.create(900, r#"["0-"]"#);
    let put = s.send();
    s.answer(
        &put,
        201,
        &[("Location", &format!("{BASE}/x/Attachments/ATT="))],
        "",
    );
    let Action::Done(done) = s.end() else {
        panic!()
    };
    let saved = s.up.save();
    let mut back = Upload::restore(saved.as_bytes(), target(), file(), forced(300)).unwrap();
    assert_eq!(back.state(), State::Done);
    assert_eq!(back.poll(s.at()), Action::Done(done));
    assert!(back.in_flight().is_none());

    let mut s = Script::new(300, forced(100));
    s.create(900, r#"["0-"]"#);
    s.put("0-99", r#"["100-"]"#);
    s.up.cancel(s.at());
    let delete = s.send();
    assert_eq!(delete.method(), Method::Delete);
    s.answer(&delete, 204, &[], "");
    assert_eq!(s.end(), Action::Cancelled);
    let saved = s.up.save();
    let mut back = Upload::restore(saved.as_bytes(), target(), file(), forced(100)).unwrap();
    assert_eq!(
        back.poll(s.at()),
        Action::Cancelled,
        "no GET, no new upload"
    );
}

/// Finding 4: server times are compared with server times. A client 10 s fast (or slow)
/// still adopts the attachment its lost final PUT created, and never one from before.
#[test]
fn the_lookup_reads_server_times_through_the_date_offset() {
    for skew_s in [-10i64, 10, -600] {
        let mut s = Script::new(300, forced(300));
        s.skew_ms = Some(skew_s * 1000);
        s.create(900, r#"["0-"]"#);
        let put = s.send();
        let created = s.server_ms() + 50;
        s.no_answer(&put, TransportError::Interrupted);
        let get = s.send();
        s.answer(&get, 404, &[], "");
        let find = s.send();
        assert_eq!(find.purpose(), Purpose::FindResult);
        // An older one of the same name and size (an hour before), and ours.
        let body = listing(&[("OLD=", 300, created - 3_600_000), ("NEW=", 300, created)]);
        s.answer(&find, 200, &[], &body);
        match s.end() {
            Action::Done(c) => assert_eq!(c.id, "NEW=", "skew {skew_s} s"),
            other => panic!("skew {skew_s} s: {other:?}"),
        }
    }
}

#[test]
fn an_attachment_from_before_the_upload_is_never_adopted() {
    let mut s = Script::new(300, forced(300));
    s.skew_ms = Some(-10_000);
    let before = s.server_ms() - 30_000;
    s.create(900, r#"["0-"]"#);
    let put = s.send();
    s.no_answer(&put, TransportError::Timeout);
    let get = s.send();
    s.answer(&get, 404, &[], "");
    let find = s.send();
    s.answer(&find, 200, &[], &listing(&[("OLD=", 300, before)]));
    let create = s.send();
    assert_eq!(
        create.purpose(),
        Purpose::CreateSession,
        "nothing of ours was listed: a new session"
    );
}

/// Finding 5: the doubt is recorded when the final PUT is emitted, not re-derived from the
/// chunk size of whoever restores the state.
#[test]
fn a_crash_during_the_final_put_is_looked_for_whatever_the_restored_chunk_size() {
    let mut s = Script::new(1000, forced(600));
    s.create(900, r#"["0-"]"#);
    s.put("0-599", r#"["600-"]"#);
    let last = s.send();
    assert!(last.save_before_sending());
    let saved = s.up.save();
    // The process dies with the final PUT in flight; the server completed the upload.
    let mut up = restored(&saved, 1000, 100);
    assert!(up.result_may_exist());
    let (get, purpose) = next_purpose(&mut up, s.at());
    assert_eq!(purpose, Purpose::QueryStatus);
    up.handle_response(s.at(), get.id(), Response::new(404))
        .unwrap();
    let (_, purpose) = next_purpose(&mut up, s.at());
    assert_eq!(purpose, Purpose::FindResult);
}

/// Finding 6: never wait less than the server asked; a wait beyond the budget is an error
/// naming the ask; a Retry-After date is an instant of the server's clock.
#[test]
fn retry_after_is_never_shortened_and_its_date_is_read_on_the_servers_clock() {
    let mut s = Script::new(5_000_000, Options::default());
    let create = s.send();
    s.answer(&create, 429, &[("Retry-After", "40000000")], "");
    match s.end() {
        Action::Failed(Error::RetryAfterTooLong { asked, .. }) => {
            assert_eq!(asked, Duration::from_secs(40_000_000))
        }
        other => panic!("{other:?}"),
    }

    let mut s = Script::new(5_000_000, Options::default());
    let create = s.send();
    s.answer(&create, 503, &[("Retry-After", "60")], "");
    let again = s.send();
    assert_eq!(again.purpose(), Purpose::CreateSession);
    assert_eq!(s.waits, [(Duration::from_secs(60), WaitReason::RetryAfter)]);

    // The client runs ten minutes fast; the server asks for 3 s as a date.
    let mut s = Script::new(5_000_000, Options::default());
    s.skew_ms = Some(-600_000);
    s.now = START + 250; // the server's Date is cut to the second
    let create = s.send();
    let until = http_date(s.server_ms() - 250 + 3_000);
    s.answer(&create, 503, &[("Retry-After", &until)], "");
    s.send();
    let (wait, reason) = s.waits[0];
    assert_eq!(reason, WaitReason::RetryAfter);
    assert!(
        wait >= Duration::from_millis(2_730) && wait <= Duration::from_secs(3),
        "{wait:?}"
    );
}

/// Finding 7: expiry is judged on the server's clock, and a session is tried before it is
/// given up; a restored state does not carry an old clock reading.
#[test]
fn a_client_clock_twenty_minutes_fast_still_uses_its_session() {
    // With Date headers: the offset puts expiry where the server has it.
    let mut s = Script::new(300, forced(100));
    s.skew_ms = Some(-1_200_000);
    s.create(900, r#"["0-"]"#);
    s.put("0-99", r#"["100-"]"#);
    s.put("100-199", r#"["200-"]"#);
    assert_eq!(s.up.sessions(), 1);

    // Without them: the hint says expired, so the session is asked, and it answers.
    let mut s = Script::new(300, forced(100));
    s.skew_ms = None;
    let create = s.send();
    let expires = rfc3339(START - 1_200_000 + 900_000);
    let body = format!(
        r#"{{"uploadUrl":"{BASE}/s/S=","expirationDateTime":"{expires}","nextExpectedRanges":["0-"]}}"#
    );
    s.answer(&create, 200, &[], &body);
    let get = s.send();
    assert_eq!(get.purpose(), Purpose::QueryStatus, "tried, not abandoned");
    s.answer(&get, 200, &[], r#"{"nextExpectedRanges":["0-"]}"#);
    s.put("0-99", r#"["100-"]"#);
    s.put("100-199", r#"["200-"]"#);
    let last = s.send();
    assert_eq!(last.method(), Method::Put);
    assert_eq!(s.up.sessions(), 1);

    // A state saved by a clock 20 minutes fast, restored after the clock was corrected:
    // waits are counted from the corrected clock.
    let mut s = Script::new(300, forced(100));
    s.now = START + 1_200_000;
    s.create(900, r#"["0-"]"#);
    let saved = s.up.save();
    let mut up = restored(&saved, 300, 100);
    let now = Timestamp::from_unix_millis(START);
    let Action::Send(get) = up.poll(now) else {
        panic!()
    };
    up.handle_response(now, get.id(), Response::new(503).header("Retry-After", "2"))
        .unwrap();
    assert_eq!(
        up.poll(now),
        Action::Wait {
            until: Timestamp::from_unix_millis(START + 2_000),
            reason: WaitReason::RetryAfter
        }
    );
}

/// Finding 8: steady progress is progress. Fifty one-byte gaps, each PUT closing one.
#[test]
fn fifty_one_byte_gaps_closed_one_per_put_is_steady_progress() {
    let gaps: Vec<String> = (0..50).map(|i| format!("\"{0}-{0}\"", i * 2)).collect();
    let mut s = Script::new(100, forced(100));
    s.create(900, &format!("[{}]", gaps.join(",")));
    for i in 0..49 {
        let rest: Vec<&str> = gaps[i + 1..].iter().map(String::as_str).collect();
        s.put(&format!("{0}-{0}", i * 2), &format!("[{}]", rest.join(",")));
    }
    let last = s.send();
    assert_eq!(last.file_range().unwrap().to_string(), "98-98");
    s.answer(
        &last,
        201,
        &[("Location", &format!("{BASE}/x/Attachments/A="))],
        "",
    );
    assert!(matches!(s.end(), Action::Done(_)));
}

/// Finding 9: a cancel while a refresh is pending deletes the session, refreshing first
/// since the DELETE needs the token.
#[test]
fn cancel_during_a_pending_token_refresh_deletes_the_session() {
    let mut s = Script::new(300, forced(100));
    s.create(900, r#"["0-"]"#);
    let put = s.send();
    s.answer(&put, 401, &[], "");
    assert_eq!(s.end(), Action::RefreshToken);
    s.up.cancel(s.at());
    assert_eq!(
        s.end(),
        Action::RefreshToken,
        "the DELETE needs a fresh token"
    );
    s.up.token_refreshed(s.at()).unwrap();
    let delete = s.send();
    assert_eq!(delete.method(), Method::Delete);
    assert!(delete.needs_token());
    s.answer(&delete, 204, &[], "");
    assert_eq!(s.end(), Action::Cancelled);
}

/// Finding 10: a refused caller call changes nothing, not even the clock.
#[test]
fn a_refused_caller_call_leaves_the_machine_as_it_was() {
    let mut s = Script::new(300, forced(100));
    let create = s.send();
    s.answer(&create, 503, &[("Retry-After", "60")], "");
    let wait = s.end();
    assert!(matches!(
        wait,
        Action::Wait {
            reason: WaitReason::RetryAfter,
            ..
        }
    ));
    let later = Timestamp::from_unix_millis(s.now + 120_000);
    assert_eq!(
        s.up.token_refreshed(later),
        Err(CallerError::NoRefreshAsked)
    );
    assert!(matches!(
        s.up.handle_response(later, create.id(), Response::new(200)),
        Err(CallerError::NotInFlight { .. })
    ));
    assert_eq!(s.end(), wait, "the Retry-After still stands");
}

/// Finding 11: IDs `.` and `..` are not dot segments.
#[test]
fn dot_and_dot_dot_ids_are_encoded() {
    let t = Target::todo_task(BASE, Owner::Me, ".", "..").unwrap();
    assert!(
        t.create_url()
            .contains("/lists/%2E/tasks/%2E%2E/attachments/"),
        "{}",
        t.create_url()
    );
}

/// The machine says which requests need the state saved before they leave.
#[test]
fn only_requests_that_may_create_the_result_ask_for_a_save_first() {
    let mut s = Script::new(1_000, Options::default());
    let post = s.send();
    assert_eq!(post.purpose(), Purpose::SinglePost);
    assert!(post.save_before_sending());
    let mut s = Script::new(300, forced(100));
    let create = s.send();
    assert!(!create.save_before_sending());
    s.answer(
        &create,
        201,
        &[],
        &format!(r#"{{"uploadUrl":"{BASE}/s/S=","nextExpectedRanges":["0-"]}}"#),
    );
    let first = s.send();
    assert!(!first.save_before_sending());
}

/// A session that refuses status queries, its final PUT (a gap in the middle) refused with
/// 416: the chunk is never skipped (nothing would be left to send), and the refusals end.
#[test]
fn blind_refusals_of_a_middle_final_chunk_end_without_a_query_loop() {
    let mut s = Script::new(300, forced(100));
    s.create(900, r#"["0-"]"#);
    s.put("0-99", r#"["100-"]"#);
    s.put("100-199", r#"["200-"]"#);
    s.put("200-299", r#"["100-199"]"#);
    let last = s.send();
    s.no_answer(&last, TransportError::Interrupted);
    let get = s.send();
    s.answer(&get, 405, &[], "");
    let mut methods = Vec::new();
    for _ in 0..40 {
        match s.up.poll(s.at()) {
            Action::Send(req) => {
                methods.push(req.method());
                if req.method() == Method::Put {
                    assert_eq!(req.file_range().unwrap().to_string(), "100-199");
                    s.answer(&req, 416, &[], "");
                } else {
                    break;
                }
            }
            Action::Wait { until, .. } => s.now = until.as_unix_millis(),
            other => panic!("{other:?}"),
        }
    }
    assert!(
        !methods.contains(&Method::Get),
        "no status query loop: {methods:?}"
    );
    assert_eq!(
        methods.last(),
        Some(&Method::Delete),
        "the refusing session is abandoned"
    );
    // Its final PUT went unanswered: before a new session, look for what it may have made.
    let delete = s.up.in_flight().unwrap().clone();
    s.answer(&delete, 204, &[], "");
    assert_eq!(s.send().purpose(), Purpose::FindResult);
}

/// An unreadable answer to the final PUT may hide a completion: the doubt is kept, and a
/// restore looks before sending anything again.
#[test]
fn an_unreadable_answer_to_the_final_put_keeps_the_doubt_across_a_restore() {
    for (status, body) in [(204, ""), (200, "not json"), (507, "")] {
        let mut s = Script::new(300, forced(300));
        s.create(900, r#"["0-"]"#);
        let put = s.send();
        s.answer(&put, status, &[], body);
        assert!(matches!(s.end(), Action::Failed(_)), "{status}");
        assert!(s.up.result_may_exist(), "{status}");
        let saved = s.up.save();
        let mut up = restored(&saved, 300, 300);
        let Action::Send(get) = up.poll(s.at()) else {
            panic!()
        };
        up.handle_response(s.at(), get.id(), Response::new(404))
            .unwrap();
        let Action::Send(find) = up.poll(s.at()) else {
            panic!()
        };
        assert_eq!(find.purpose(), Purpose::FindResult, "{status}");
    }
}

/// A cancel outlives a failure of the request in flight and the process: the session it
/// would leave open is deleted.
#[test]
fn a_cancel_survives_a_failed_answer_and_a_restore() {
    let mut s = Script::new(300, forced(100));
    s.create(900, r#"["0-"]"#);
    let put = s.send();
    s.up.cancel(s.at());
    s.answer(&put, 403, &[], r#"{"error":{"code":"accessDenied"}}"#);
    let delete = s.send();
    assert_eq!(
        delete.method(),
        Method::Delete,
        "the failed upload's session is deleted"
    );

    let mut s = Script::new(300, forced(100));
    s.create(900, r#"["0-"]"#);
    let _put = s.send();
    s.up.cancel(s.at());
    let saved = s.up.save();
    let mut up = restored(&saved, 300, 100);
    assert_eq!(up.state(), State::Cancelling);
    let Action::Send(delete) = up.poll(s.at()) else {
        panic!()
    };
    assert_eq!(delete.method(), Method::Delete);
    up.handle_response(s.at(), delete.id(), Response::new(204))
        .unwrap();
    assert_eq!(up.poll(s.at()), Action::Cancelled);
}

/// A listing that cannot tell ours from another ends the upload rather than upload again,
/// and a restore looks again.
#[test]
fn an_inconclusive_lookup_fails_rather_than_risk_a_second_copy() {
    let mut s = Script::new(300, forced(300));
    s.create(900, r#"["0-"]"#);
    let put = s.send();
    s.no_answer(&put, TransportError::Timeout);
    let get = s.send();
    s.answer(&get, 404, &[], "");
    let find = s.send();
    let undated = format!(r#"{{"value":[{{"id":"X=","name":"{NAME}","size":300}}]}}"#);
    s.answer(&find, 200, &[], &undated);
    match s.end() {
        Action::Failed(Error::Protocol { error, .. }) => {
            assert!(error.to_string().contains("could not tell"), "{error}")
        }
        other => panic!("{other:?}"),
    }
    let saved = s.up.save();
    let mut up = restored(&saved, 300, 300);
    let (_, purpose) = next_purpose(&mut up, s.at());
    assert_eq!(purpose, Purpose::FindResult);
}

/// The server's Retry-After outlives the process: a restore waits for what was left of it,
/// counted from its own first poll.
#[test]
fn a_retry_after_survives_a_restore() {
    let mut s = Script::new(300, forced(100));
    let create = s.send();
    s.answer(&create, 429, &[("Retry-After", "600")], "");
    let saved = s.up.save();
    let mut up = restored(&saved, 300, 100);
    // Restored an hour "earlier" by a corrected clock: still the full wait from there.
    let now = Timestamp::from_unix_millis(START - 3_600_000);
    assert_eq!(
        up.poll(now),
        Action::Wait {
            until: Timestamp::from_unix_millis(START - 3_600_000 + 600_000),
            reason: WaitReason::RetryAfter
        }
    );
}

/// A server that names an expiry a moment ahead in every answer cannot make the machine ask
/// where the session stands before every PUT.
#[test]
fn an_expiry_hint_the_server_keeps_renewing_does_not_cause_a_query_per_put() {
    let mut s = Script::new(1_000, forced(100));
    s.create(0, r#"["0-"]"#);
    let mut gets = 0;
    let mut puts = 0;
    loop {
        let req = s.send();
        s.now += 5;
        let soon = rfc3339(s.server_ms() + 1);
        match req.method() {
            Method::Get => {
                gets += 1;
                let body = format!(
                    r#"{{"expirationDateTime":"{soon}","nextExpectedRanges":["{}-"]}}"#,
                    puts * 100
                );
                s.answer(&req, 200, &[], &body);
            }
            Method::Put if puts == 9 => {
                s.answer(
                    &req,
                    201,
                    &[("Location", &format!("{BASE}/x/Attachments/A="))],
                    "",
                );
                break;
            }
            Method::Put => {
                puts += 1;
                let body = format!(
                    r#"{{"expirationDateTime":"{soon}","nextExpectedRanges":["{}-"]}}"#,
                    puts * 100
                );
                s.answer(&req, 200, &[], &body);
            }
            m => panic!("{m:?}"),
        }
    }
    assert!(gets <= 1, "{gets} status queries for {puts} PUTs");
}

/// "Nothing missing" from a session that then refuses to be asked: the result is looked for,
/// not a stale chunk sent again.
#[test]
fn nothing_missing_and_no_status_query_looks_for_the_result() {
    let mut s = Script::new(300, forced(100));
    s.create(900, r#"["0-"]"#);
    s.put("0-99", r#"["100-"]"#);
    s.put("100-199", r#"["200-"]"#);
    s.put("200-299", "[]");
    let get = s.send();
    assert_eq!(get.purpose(), Purpose::QueryStatus);
    s.answer(&get, 405, &[], "");
    assert_eq!(s.send().purpose(), Purpose::FindResult);
}

/// A cancel while the final PUT's outcome is unknown: the session turns out gone, so the
/// result is looked for; found, the upload stays completed.
#[test]
fn a_cancel_that_finds_the_upload_completed_reports_it_done() {
    let mut s = Script::new(300, forced(300));
    s.create(900, r#"["0-"]"#);
    let put = s.send();
    let made = s.server_ms() + 10;
    s.up.cancel(s.at());
    s.answer(&put, 503, &[], "");
    let delete = s.send();
    assert_eq!(delete.method(), Method::Delete);
    s.answer(&delete, 404, &[], "");
    let find = s.send();
    assert_eq!(find.purpose(), Purpose::FindResult);
    s.answer(&find, 200, &[], &listing(&[("ATT=", 300, made)]));
    assert!(matches!(s.end(), Action::Done(c) if c.found_by_lookup));
}

/// A hostile saved state cannot make the machine wait for ever.
#[test]
fn saved_waits_are_bounded_on_restore() {
    let mut s = Script::new(300, forced(100));
    let create = s.send();
    s.answer(&create, 429, &[("Retry-After", "60")], "");
    let saved = s.up.save();
    assert!(saved.contains(r#""wait":{"ms":60000"#), "{saved}");
    let hostile = saved.replace(r#""ms":60000"#, r#""ms":18446744073709551615"#);
    let mut up = Upload::restore(
        hostile.as_bytes(),
        target(),
        FileInfo::new(NAME, 300),
        forced(100),
    )
    .unwrap();
    let max = Options::default().retry.max_total;
    assert_eq!(
        up.poll(s.at()),
        Action::Wait {
            until: s.at().saturating_add(max),
            reason: WaitReason::RetryAfter
        }
    );
}

/// A client clock stepped a few seconds forward between two answers: the second answer's
/// `Date` shows the old offset is too large, so a lost single POST's own attachment is still
/// recognised, not posted again.
#[test]
fn a_client_clock_stepped_forward_still_finds_the_posted_attachment() {
    let mut s = Script::new(1_000, Options::default());
    s.skew_ms = Some(0);
    let post = s.send();
    assert_eq!(post.purpose(), Purpose::SinglePost);
    s.answer(&post, 429, &[("Retry-After", "1")], "");
    // The client clock jumps 4 s forward: the server is now 4 s behind it.
    s.now += 4_000;
    s.skew_ms = Some(-4_000);
    let again = s.send();
    assert_eq!(again.purpose(), Purpose::SinglePost);
    let made = s.server_ms() + 300;
    s.answer(&again, 503, &[], "");
    let find = s.send();
    assert_eq!(find.purpose(), Purpose::FindResult);
    s.answer(&find, 200, &[], &listing(&[("ATT=", 1_000, made)]));
    assert!(
        matches!(s.end(), Action::Done(c) if c.id == "ATT="),
        "its own attachment, not a second POST"
    );
}

/// "Retry-After: 0" again and again: the first is honoured as given, the next ones back off.
#[test]
fn a_zero_retry_after_does_not_mean_back_to_back_retries() {
    let mut s = Script::new(5_000_000, Options::default());
    for _ in 0..4 {
        let create = s.send();
        assert_eq!(create.purpose(), Purpose::CreateSession);
        s.answer(&create, 503, &[("Retry-After", "0")], "");
    }
    // The first failure retries at once, as the server said; the next two back off.
    let waits: Vec<Duration> = s.waits.iter().map(|w| w.0).collect();
    assert_eq!(waits.len(), 2, "{waits:?}");
    assert!(waits[0] >= Duration::from_millis(3_000), "{waits:?}");
    assert!(waits.windows(2).all(|w| w[0] <= w[1]), "{waits:?}");
}

/// docs/protocol.md §9: a `Retry-After` binds the client, not the process that heard it.
/// An upload that gave up on a server answering 503 `Retry-After: 2`, saved and restored at
/// once, waits those 2 s out before it creates again: the model records any request that
/// comes earlier.
#[test]
fn a_failed_upload_restored_at_once_still_waits_out_the_last_retry_after() {
    use upload_session_testkit::{Config, End, Faults, Pair};
    let mut pair = Pair::new(
        Config {
            faults: Faults::plan("unavailable=2@1+/create").unwrap(),
            ..Config::default()
        },
        5_000,
    );
    let options = forced(2_000);
    let mut up = pair.upload(options.clone());
    let run = pair.drive_bounded(&mut up, 100).unwrap();
    assert!(
        matches!(run.end, End::Failed(Error::RetriesExhausted { .. })),
        "{:?}",
        run.end
    );
    assert!(run.lines().iter().all(|l| l == "POST"));
    let saved = up.save();
    let mut again = Upload::restore(
        saved.as_bytes(),
        pair.target(),
        pair.file.info(),
        options.clone(),
    )
    .unwrap();
    pair.model.set_faults(Faults::none());
    pair.watch(&again, &options);
    let gave_up = pair.now;
    match pair.poll(&mut again) {
        Action::Wait { until, reason } => {
            assert_eq!(reason, WaitReason::RetryAfter);
            assert!(until.saturating_duration_since(gave_up) >= Duration::from_secs(2));
        }
        other => panic!("a restored upload asked again at once: {other:?}"),
    }
    let resumed = pair.drive_bounded(&mut again, 100).unwrap();
    assert_eq!(
        resumed.lines(),
        ["POST", "PUT 0-1999", "PUT 2000-3999", "PUT 4000-4999"]
    );
    pair.assert_sound(&resumed.end);
}
