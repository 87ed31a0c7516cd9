//! Transient failures and what the machine does about them (docs/protocol.md §9): Retry-After
//! and backoff, unknown outcomes followed by a status query, 416, refused queries, 401 and the
//! token refresh, sessions that vanish, stalls, and the bounds on all of it.

mod kit;

use std::time::Duration;

use kit::*;
use upload_session::{
    Action, CallerError, Error, Failure, Purpose, Response, RetryPolicy, State, Timestamp,
    TransportError, Upload, WaitReason,
};
use upload_session_testkit::{Config, End, Faults, START};

/// A 503 with `Retry-After: 2.128` (Graph's own fractional sample) is waited out in full;
/// nothing was kept, but the outcome of a PUT answered 5xx is unknown, so the machine asks
/// the session before sending more (docs/protocol.md §9).
#[test]
fn retry_after_503_is_honoured_then_the_status_is_asked() {
    let mut pair = pair("unavailable=2.128@1/put", SEED_SIZE);
    let mut up = pair.upload(mib2());
    let run = drive(&mut pair, &mut up);
    done(&run);
    assert_eq!(
        run.lines(),
        [
            "POST",
            "PUT 0-2097151",
            "GET",
            "PUT 0-2097151",
            "PUT 2097152-3483321"
        ]
    );
    assert_eq!(
        statuses(&run),
        [Some(200), Some(503), Some(200), Some(200), Some(201)]
    );
    let waited = run.log[2].at - run.log[1].at;
    assert!(waited >= 2128, "waited {waited} ms");
    // The model writes down any request on the session before the Retry-After allowed.
    pair.assert_sound(&run.end);
}

/// A 503 whose chunk the server kept (docs/protocol.md §9, [observed]): the status query shows
/// it, and the chunk is not sent again.
#[test]
fn a_503_whose_chunk_was_kept_is_not_sent_twice() {
    let mut pair = pair("kept503=1@1/put", SEED_SIZE);
    let mut up = pair.upload(mib2());
    let run = drive(&mut pair, &mut up);
    done(&run);
    assert_eq!(
        run.lines(),
        ["POST", "PUT 0-2097151", "GET", "PUT 2097152-3483321"]
    );
    assert_eq!(statuses(&run), [Some(200), Some(503), Some(200), Some(201)]);
    assert!(run.log[2].at - run.log[1].at >= 1000);
    pair.assert_sound(&run.end);
}

/// A 429 says nothing was done: the same chunk is sent again, without a status query, once
/// the `Retry-After` HTTP-date has passed (docs/protocol.md §9, §10).
#[test]
fn throttling_429_resends_after_retry_after_as_http_date() {
    let mut pair = pair("throttle=date:3@2/put", SEED_SIZE);
    let mut up = pair.upload(mib2());
    let run = drive(&mut pair, &mut up);
    done(&run);
    assert_eq!(
        run.lines(),
        [
            "POST",
            "PUT 0-2097151",
            "PUT 2097152-3483321",
            "PUT 2097152-3483321"
        ]
    );
    assert_eq!(statuses(&run), [Some(200), Some(200), Some(429), Some(201)]);
    let waited = run.log[3].at - run.log[2].at;
    assert!(waited >= 3000, "waited {waited} ms");
    assert!(
        run.log[3].at >= START + 4000,
        "the model writes 3 s rounded up past the next second: 4 s after the 429's Date"
    );
    pair.assert_sound(&run.end);
}

/// A PUT with no answer has an unknown outcome: the machine asks the session and follows it,
/// whether the chunk was kept (`lost`) or not (`drop`) (docs/protocol.md §9).
#[test]
fn a_put_without_an_answer_is_followed_by_a_status_query() {
    let mut pair = pair("lost@1/put", SEED_SIZE);
    let mut up = pair.upload(mib2());
    let run = drive(&mut pair, &mut up);
    done(&run);
    assert_eq!(
        run.lines(),
        ["POST", "PUT 0-2097151", "GET", "PUT 2097152-3483321"]
    );
    assert_eq!(statuses(&run), [Some(200), None, Some(200), Some(201)]);
    pair.assert_sound(&run.end);

    let mut pair = kit::pair("drop@1/put", SEED_SIZE);
    let mut up = pair.upload(mib2());
    let run = drive(&mut pair, &mut up);
    done(&run);
    assert_eq!(
        run.lines(),
        [
            "POST",
            "PUT 0-2097151",
            "GET",
            "PUT 0-2097151",
            "PUT 2097152-3483321"
        ]
    );
    assert_eq!(
        statuses(&run),
        [Some(200), None, Some(200), Some(200), Some(201)]
    );
    pair.assert_sound(&run.end);
}

/// A 500 on a PUT is an unknown outcome too, after a backoff of at least half the first
/// interval (docs/protocol.md §9).
#[test]
fn a_500_backs_off_then_asks() {
    let mut pair = pair("error500@1/put", SEED_SIZE);
    let mut up = pair.upload(mib2());
    while pair.log.len() < 2 {
        assert_eq!(pair.step(&mut up), None);
    }
    let Action::Wait { until, reason } = pair.poll(&mut up) else {
        panic!("{:?}", up.poll(pair.now))
    };
    assert_eq!(reason, WaitReason::Backoff);
    let wait = until.saturating_duration_since(pair.now);
    assert!(
        (Duration::from_millis(1500)..=Duration::from_secs(3)).contains(&wait),
        "{wait:?}"
    );
    assert_eq!(up.progress().confirmed, 0);
    let run = drive(&mut pair, &mut up);
    done(&run);
    assert_eq!(run.lines(), ["GET", "PUT 0-2097151", "PUT 2097152-3483321"]);
    assert_eq!(run.log[0].at, until.as_unix_millis());
    pair.assert_sound(&run.end);
}

/// A 416 is a disagreement about what arrived: ask, then follow the answer (docs/protocol.md
/// §9).
#[test]
fn a_416_asks_the_server_and_continues() {
    let mut pair = pair("range416@2/put", SEED_SIZE);
    let mut up = pair.upload(mib2());
    let run = drive(&mut pair, &mut up);
    done(&run);
    assert_eq!(
        run.lines(),
        [
            "POST",
            "PUT 0-2097151",
            "PUT 2097152-3483321",
            "GET",
            "PUT 2097152-3483321"
        ]
    );
    assert_eq!(run.log[2].status, Some(416));
    pair.assert_sound(&run.end);
}

/// When the session refuses the status query, the machine resends from the last acknowledged
/// offset and follows that answer (docs/protocol.md §9).
#[test]
fn a_refused_status_query_falls_back_to_resending() {
    for code in [405, 400] {
        let mut pair = pair(&format!("status-refused={code} drop@1/put"), SEED_SIZE);
        let mut up = pair.upload(mib2());
        let run = drive(&mut pair, &mut up);
        done(&run);
        assert_eq!(
            run.lines(),
            [
                "POST",
                "PUT 0-2097151",
                "GET",
                "PUT 0-2097151",
                "PUT 2097152-3483321"
            ]
        );
        assert_eq!(
            statuses(&run),
            [Some(200), None, Some(code), Some(200), Some(201)]
        );
        pair.assert_sound(&run.end);
    }
}

/// A session that vanishes mid-way (404, docs/protocol.md §6, §9) is looked for once (it may
/// have completed on a range it listed as missing, §11), then replaced by a new session from
/// byte 0.
#[test]
fn expiry_mid_way_starts_a_new_session_from_byte_zero() {
    let mut pair = pair("gone@2/put", 3 * MIB2);
    let mut up = pair.upload(mib2());
    let run = drive(&mut pair, &mut up);
    done(&run);
    assert_eq!(
        run.lines(),
        [
            "POST",
            "PUT 0-2097151",
            "PUT 2097152-4194303",
            "GET",
            "POST",
            "PUT 0-2097151",
            "PUT 2097152-4194303",
            "PUT 4194304-6291455"
        ]
    );
    assert_eq!(run.log[2].status, Some(404));
    assert_eq!(run.log[3].url, pair.target().collection_url().unwrap());
    assert_eq!(up.sessions(), 2);
    assert_eq!(pair.model.sessions_created(), 2);
    pair.assert_sound(&run.end);
}

/// A session whose `expirationDateTime` has passed by the server's clock is not sent bytes:
/// after a long wait the machine asks the session first (docs/protocol.md §10: the local
/// expiry is a hint, the 404 the fact), looks for a result once (§11), and starts over.
#[test]
fn expiry_by_the_clock_is_noticed_before_sending() {
    let config = Config {
        session_lifetime: Duration::from_secs(60),
        ..Config::default()
    };
    let mut pair = pair_with("throttle=120@2/put", 3 * MIB2, config);
    let mut up = pair.upload(mib2());
    while pair.log.len() < 3 {
        assert_eq!(pair.step(&mut up), None);
    }
    assert_eq!(pair.log[2].status, Some(429));
    let Action::Wait { until, reason } = pair.poll(&mut up) else {
        panic!("{:?}", up.poll(pair.now))
    };
    assert_eq!(reason, WaitReason::RetryAfter);
    assert!(until.as_unix_millis() >= START + 120_000);
    pair.now = until;
    let Action::Send(ask) = pair.poll(&mut up) else {
        panic!("{:?}", up.poll(pair.now))
    };
    assert_eq!(
        ask.purpose(),
        Purpose::QueryStatus,
        "no PUT to a session past its time"
    );
    assert_eq!(up.state(), State::Querying);
    assert_eq!(up.progress().confirmed, MIB2);
    let run = drive(&mut pair, &mut up);
    done(&run);
    assert_eq!(
        run.lines(),
        [
            "GET",
            "GET",
            "POST",
            "PUT 0-2097151",
            "PUT 2097152-4194303",
            "PUT 4194304-6291455"
        ]
    );
    assert_eq!(run.log[0].status, Some(404));
    assert_eq!(run.log[1].url, pair.target().collection_url().unwrap());
    assert_eq!(up.sessions(), 2);
    pair.assert_sound(&run.end);
}

/// Replacing sessions is bounded (docs/protocol.md §6, §9): sessions that live 15 ms die after
/// their first chunk (too soon for the one-second `Date` to show it, §10, so the server's 404
/// tells), and after two restarts the upload fails with the typed error.
#[test]
fn short_lived_sessions_end_after_the_restarts_allowed() {
    let config = Config {
        session_lifetime: Duration::from_millis(15),
        ..Config::default()
    };
    let mut pair = pair_with("", 3 * MIB2, config);
    let mut up = pair.upload(mib2());
    let run = drive(&mut pair, &mut up);
    assert_eq!(failed(&run), &Error::SessionExpired { sessions: 3 });
    let one = ["POST", "PUT 0-2097151", "PUT 2097152-4194303", "GET"];
    assert_eq!(run.lines(), one.repeat(3));
    let statuses_one = [Some(200), Some(200), Some(404), Some(200)];
    assert_eq!(statuses(&run), statuses_one.repeat(3));
    assert_eq!(pair.model.sessions_created(), 3);
    assert_eq!(pair.model.live_sessions(pair.now.as_unix_millis()), 0);
    assert!(pair.created().is_empty());
    pair.assert_sound(&run.end);
}

/// With no restart allowed, a vanished session is a typed failure (docs/protocol.md §9).
#[test]
fn restarts_can_be_disallowed() {
    let mut pair = pair("gone@2/put", 3 * MIB2);
    let mut up = pair.upload(mib2().with_max_restarts(0));
    let run = drive(&mut pair, &mut up);
    assert_eq!(failed(&run), &Error::SessionExpired { sessions: 1 });
    assert_eq!(
        run.lines(),
        ["POST", "PUT 0-2097151", "PUT 2097152-4194303", "GET"]
    );
    assert_eq!(pair.model.sessions_created(), 1);
    assert_eq!(up.state(), State::Failed);
    pair.assert_sound(&run.end);
}

/// A 401 asks the caller for a fresh token and keeps the session; the same range goes again
/// under a new id, and a second 401 in a row fails (docs/protocol.md §9).
#[test]
fn a_401_asks_for_a_token_and_keeps_the_session() {
    let mut pair = pair("expired-token@always/put", SEED_SIZE);
    let mut up = pair.upload(mib2());
    assert_eq!(pair.step(&mut up), None, "the create");
    let Action::Send(put) = pair.poll(&mut up) else {
        panic!()
    };
    let delivery = pair.send(&up, &put);
    assert_eq!(delivery.status(), Some(401));
    delivery.feed(&mut up, pair.now, &put).unwrap();
    assert_eq!(
        pair.poll(&mut up),
        Action::RefreshToken,
        "asked twice, same"
    );
    assert_eq!(up.state(), State::Uploading);
    up.token_refreshed(pair.now).unwrap();
    assert_eq!(
        up.token_refreshed(pair.now),
        Err(CallerError::NoRefreshAsked)
    );
    let Action::Send(again) = pair.poll(&mut up) else {
        panic!()
    };
    assert_eq!(again.file_range(), put.file_range());
    assert_ne!(again.id(), put.id());
    assert_eq!(up.sessions(), 1);
    let delivery = pair.send(&up, &again);
    assert_eq!(delivery.status(), Some(401));
    delivery.feed(&mut up, pair.now, &again).unwrap();
    assert_eq!(pair.poll(&mut up), Action::Failed(Error::Unauthorized));
    assert_eq!(pair.model.sessions_created(), 1);
    pair.assert_sound(&End::Failed(Error::Unauthorized));
}

/// A 401 now and then, each followed by a refresh, costs one resend each and no new session.
#[test]
fn a_401_once_in_a_while_is_survived() {
    let mut pair = pair("expired-token@1/put expired-token@3/put", SEED_SIZE);
    let mut up = pair.upload(mib2());
    let run = drive(&mut pair, &mut up);
    done(&run);
    assert_eq!(
        run.lines(),
        [
            "POST",
            "PUT 0-2097151",
            "PUT 0-2097151",
            "PUT 2097152-3483321",
            "PUT 2097152-3483321"
        ]
    );
    assert_eq!(
        statuses(&run),
        [Some(200), Some(401), Some(200), Some(401), Some(201)]
    );
    assert_eq!(up.sessions(), 1);
    pair.assert_sound(&run.end);
}

/// A stalled answer only costs time; a stall that ends with the connection closed is an
/// unknown outcome like a drop (docs/protocol.md §9).
#[test]
fn stalls_cost_time_or_a_status_query() {
    let mut pair = pair("stall=5000@1/put", SEED_SIZE);
    let mut up = pair.upload(mib2());
    let run = drive(&mut pair, &mut up);
    done(&run);
    assert_eq!(
        run.lines(),
        ["POST", "PUT 0-2097151", "PUT 2097152-3483321"]
    );
    assert!(run.log[2].at - run.log[1].at >= 5000);
    pair.assert_sound(&run.end);

    let mut pair = kit::pair("stall=5000,lose@1/put", SEED_SIZE);
    let mut up = pair.upload(mib2());
    let run = drive(&mut pair, &mut up);
    done(&run);
    assert_eq!(
        run.lines(),
        [
            "POST",
            "PUT 0-2097151",
            "GET",
            "PUT 0-2097151",
            "PUT 2097152-3483321"
        ]
    );
    assert_eq!(run.log[1].status, None);
    assert!(run.log[2].at - run.log[1].at >= 5000);
    pair.assert_sound(&run.end);
}

/// Retries are bounded in attempts and in time (docs/protocol.md §9): four 500s in a row end
/// the upload after growing backoffs; a `Retry-After` that would end past `max_total` ends it
/// at once, naming the server's ask rather than waiting less.
#[test]
fn retries_are_bounded_by_attempts_and_by_time() {
    let policy = RetryPolicy {
        max_attempts: 4,
        ..RetryPolicy::default()
    };
    let mut pair = pair("error500@always/create", SEED_SIZE);
    let mut up = pair.upload(mib2().with_retry(policy));
    let run = drive(&mut pair, &mut up);
    assert!(
        matches!(
            failed(&run),
            Error::RetriesExhausted {
                attempts: 4,
                purpose: Purpose::CreateSession,
                last: Failure::Status(500),
            }
        ),
        "{:?}",
        run.end
    );
    assert_eq!(run.lines(), ["POST"; 4]);
    // Waits grew: at least 1.5 s + 3 s + 6 s of backoff with jitter.
    let gaps: Vec<u64> = run.log.windows(2).map(|w| w[1].at - w[0].at).collect();
    assert!(
        gaps[0] >= 1500 && gaps[1] >= 3000 && gaps[2] >= 6000,
        "{gaps:?}"
    );
    pair.assert_sound(&run.end);

    let policy = RetryPolicy {
        max_total: Duration::from_secs(10),
        ..RetryPolicy::default()
    };
    let mut pair = kit::pair("throttle=4@always/create", SEED_SIZE);
    let mut up = pair.upload(mib2().with_retry(policy));
    let run = drive(&mut pair, &mut up);
    // The third wait would end past the 10 s the policy allows.
    assert!(
        matches!(
            failed(&run),
            Error::RetryAfterTooLong { asked, purpose: Purpose::CreateSession, .. }
                if *asked == Duration::from_secs(4)
        ),
        "{:?}",
        run.end
    );
    assert_eq!(run.lines(), ["POST"; 3]);
    assert_eq!(statuses(&run), [Some(429); 3]);
    pair.assert_sound(&run.end);
}

/// A wait is a wait: an early wake-up or a clock that went back gets the same wait again, and
/// the request comes once its time is reached.
#[test]
fn waits_ignore_early_wakeups_and_clocks_that_go_back() {
    let mut pair = pair("unavailable=5@1/create", SEED_SIZE);
    let mut up = pair.upload(mib2());
    let Action::Send(req) = pair.poll(&mut up) else {
        panic!()
    };
    let delivery = pair.send(&up, &req);
    assert_eq!(delivery.status(), Some(503));
    delivery.feed(&mut up, pair.now, &req).unwrap();
    let want = Action::Wait {
        until: Timestamp::from_unix_millis(START + 5000),
        reason: WaitReason::RetryAfter,
    };
    assert_eq!(pair.poll(&mut up), want);
    let at = Timestamp::from_unix_millis;
    assert_eq!(up.poll(at(START + 4999)), want, "early wake-up");
    assert_eq!(up.poll(at(0)), want, "a clock that went back");
    pair.now = at(START + 5000);
    let Action::Send(again) = pair.poll(&mut up) else {
        panic!()
    };
    assert_eq!(again.purpose(), Purpose::CreateSession);
    assert_ne!(again.id(), req.id());
    let run = drive(&mut pair, &mut up);
    done(&run);
    pair.assert_sound(&run.end);
}

/// A session that refuses every chunk while refusing status queries is deleted, looked for
/// once, and replaced, rather than retried for ever or left open (docs/protocol.md §6, §9,
/// §11).
#[test]
fn a_session_that_keeps_refusing_is_deleted_and_replaced() {
    let mut pair = pair("status-refused range416@always/put", SEED_SIZE);
    let mut up = pair.upload(mib2());
    while pair.model.sessions_created() < 2 {
        assert_eq!(pair.step(&mut up), None);
        assert!(pair.log.len() < 60, "{:?}", pair.log);
    }
    let lines: Vec<String> = pair.log.iter().map(|e| e.line()).collect();
    let statuses: Vec<Option<u16>> = pair.log.iter().map(|e| e.status).collect();
    // Refused and asked (refused too): then only PUTs speak. The chunk whose outcome was
    // unknown, refused again, is taken as held and skipped; the next one refused twice shows
    // the machine ran ahead, so back to byte 0; the ninth refusal in a row gives the session
    // up: DELETE, one look for a result, a new session.
    let mut want = vec!["POST", "PUT 0-2097151", "GET", "PUT 0-2097151"];
    want.extend(["PUT 2097152-3483321"; 2]);
    want.extend(["PUT 0-2097151"; 6]);
    want.extend(["DELETE", "GET", "POST"]);
    assert_eq!(lines, want);
    let mut want = vec![Some(200), Some(416), Some(405)];
    want.extend([Some(416); 9]);
    want.extend([Some(204), Some(200), Some(200)]);
    assert_eq!(statuses, want);
    assert_eq!(pair.log[13].url, pair.target().collection_url().unwrap());
    assert_eq!(pair.model.live_sessions(pair.now.as_unix_millis()), 1);
    // The new session takes its chunks.
    pair.model.set_faults(Faults::none());
    let run = drive(&mut pair, &mut up);
    done(&run);
    assert_eq!(run.lines(), ["PUT 0-2097151", "PUT 2097152-3483321"]);
    assert_eq!(up.sessions(), 2);
    pair.assert_sound(&run.end);
}

/// An answer fed for a request that is not in flight is refused and changes nothing; a request
/// is answered once.
#[test]
fn answers_for_other_requests_are_refused_without_effect() {
    let mut pair = pair("", SEED_SIZE);
    let mut up = pair.upload(mib2());
    let Action::Send(req) = pair.poll(&mut up) else {
        panic!()
    };
    // An id from another machine, one request further on.
    let mut other = Upload::new(pair.target(), pair.file.info(), mib2()).unwrap();
    let Action::Send(o1) = other.poll(pair.now) else {
        panic!()
    };
    other
        .handle_transport_error(pair.now, o1.id(), TransportError::Connect)
        .unwrap();
    let Action::Send(o2) = other.poll(pair.now) else {
        panic!("{:?}", other.poll(pair.now))
    };
    assert_ne!(o2.id(), req.id());
    assert_eq!(
        up.handle_response(pair.now, o2.id(), Response::new(200)),
        Err(CallerError::NotInFlight {
            got: o2.id(),
            in_flight: Some(req.id())
        })
    );
    assert_eq!(pair.poll(&mut up), Action::Send(req.clone()), "unchanged");
    up.handle_transport_error(pair.now, req.id(), TransportError::Connect)
        .unwrap();
    assert_eq!(
        up.handle_response(pair.now, req.id(), Response::new(200)),
        Err(CallerError::NotInFlight {
            got: req.id(),
            in_flight: None
        }),
        "answered twice"
    );
    assert_eq!(up.requests(), 1);
}
