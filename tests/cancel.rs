//! Cancelling (docs/protocol.md §6): a session is abandoned with `DELETE {uploadUrl}`, a
//! request in flight is answered first, waits the server asked for still hold, and a DELETE
//! that fails is retried within bounds.

mod kit;

use kit::*;
use upload_session::{Action, Error, Failure, Purpose, State, Upload};
use upload_session_testkit::{End, Pair, START};

/// Steps until `n` exchanges are logged.
fn until_log(pair: &mut Pair, up: &mut Upload, n: usize) {
    while pair.log.len() < n {
        assert_eq!(pair.step(up), None);
    }
}

/// Cancel while a PUT is in flight: its answer is still taken, then the session is deleted
/// with `DELETE {uploadUrl}`, the bare URL without `/content` (docs/protocol.md §6).
#[test]
fn cancel_mid_upload_deletes_the_session() {
    let mut pair = pair("", 3 * MIB2);
    let mut up = pair.upload(mib2());
    until_log(&mut pair, &mut up, 1);
    let Action::Send(put) = pair.poll(&mut up) else {
        panic!()
    };
    let delivery = pair.send(&up, &put);
    up.cancel(pair.now);
    assert_eq!(
        up.state(),
        State::Uploading,
        "the PUT in flight is answered first"
    );
    assert_eq!(up.in_flight(), Some(&put));
    delivery.feed(&mut up, pair.now, &put).unwrap();
    assert_eq!(up.state(), State::Cancelling);
    assert_eq!(up.progress().confirmed, MIB2);
    let run = drive(&mut pair, &mut up);
    assert_eq!(run.end, End::Cancelled);
    assert_eq!(run.lines(), ["DELETE"]);
    assert_eq!(statuses(&run), [Some(204)]);
    assert_eq!(
        run.log[0].url,
        pair.log[1].url.strip_suffix("/content").unwrap()
    );
    assert_eq!(pair.model.sessions_created(), 1);
    assert_eq!(pair.model.live_sessions(pair.now.as_unix_millis()), 0);
    assert!(pair.attachments().is_empty());
    assert_eq!(pair.poll(&mut up), Action::Cancelled, "it stays cancelled");
    assert_eq!(up.state(), State::Cancelled);
    pair.assert_sound(&run.end);
}

/// Before any session exists there is nothing to delete: cancel ends at once.
#[test]
fn cancel_before_any_session_ends_at_once() {
    let mut pair = pair("", 3 * MIB2);
    let mut up = pair.upload(mib2());
    up.cancel(pair.now);
    assert_eq!(up.state(), State::Cancelled);
    assert_eq!(pair.poll(&mut up), Action::Cancelled);
    assert!(pair.log.is_empty());
    assert_eq!(up.requests(), 0);
}

/// Cancel while the create is in flight: the session its answer names is deleted, not left
/// open to expire.
#[test]
fn cancel_during_the_create_deletes_the_session_it_made() {
    let mut pair = pair("", 3 * MIB2);
    let mut up = pair.upload(mib2());
    let Action::Send(create) = pair.poll(&mut up) else {
        panic!()
    };
    let delivery = pair.send(&up, &create);
    up.cancel(pair.now);
    assert_eq!(up.state(), State::Creating);
    delivery.feed(&mut up, pair.now, &create).unwrap();
    assert_eq!(up.state(), State::Cancelling);
    let run = drive(&mut pair, &mut up);
    assert_eq!(run.end, End::Cancelled);
    assert_eq!(
        pair.log.iter().map(|e| e.line()).collect::<Vec<_>>(),
        ["POST", "DELETE"]
    );
    assert_eq!(pair.model.live_sessions(pair.now.as_unix_millis()), 0);
    pair.assert_sound(&run.end);
}

/// A `Retry-After` the session answered still holds for the DELETE (docs/protocol.md §9); the
/// model writes down any request before it.
#[test]
fn a_cancel_waits_out_the_retry_after() {
    let mut pair = pair("unavailable=5@1/put", 3 * MIB2);
    let mut up = pair.upload(mib2());
    until_log(&mut pair, &mut up, 2);
    assert_eq!(pair.log[1].status, Some(503));
    up.cancel(pair.now);
    let run = drive(&mut pair, &mut up);
    assert_eq!(run.end, End::Cancelled);
    assert_eq!(run.lines(), ["DELETE"]);
    assert!(run.log[0].at >= pair.log[1].at + 5000, "{:?}", run.log);
    assert_eq!(pair.model.live_sessions(pair.now.as_unix_millis()), 0);
    pair.assert_sound(&run.end);
}

/// A DELETE that failed (500) or went unanswered is sent again; a 404 means the session is
/// gone already, which is what a cancel wants (docs/protocol.md §6).
#[test]
fn a_failed_or_lost_delete_is_sent_again_and_a_404_is_enough() {
    let cases: [(&str, &[Option<u16>]); 3] = [
        ("error500@1/delete", &[Some(500), Some(204)]),
        ("lost@1/delete", &[None, Some(404)]),
        ("gone@1/delete", &[Some(404)]),
    ];
    for (plan, want) in cases {
        let mut pair = pair(plan, 3 * MIB2);
        let mut up = pair.upload(mib2());
        until_log(&mut pair, &mut up, 2);
        up.cancel(pair.now);
        let run = drive(&mut pair, &mut up);
        assert_eq!(run.end, End::Cancelled, "{plan}");
        assert_eq!(run.lines(), vec!["DELETE"; want.len()], "{plan}");
        assert_eq!(statuses(&run), want, "{plan}");
        assert_eq!(pair.model.live_sessions(pair.now.as_unix_millis()), 0);
        pair.assert_sound(&run.end);
    }
}

/// A DELETE that keeps failing is retried within the retry policy, then reported; the
/// session is left to expire (docs/protocol.md §6: deleting is optional).
#[test]
fn a_delete_that_keeps_failing_is_bounded() {
    let mut pair = pair("error500@always/delete", 3 * MIB2);
    let mut up = pair.upload(mib2());
    until_log(&mut pair, &mut up, 2);
    up.cancel(pair.now);
    let run = drive(&mut pair, &mut up);
    assert_eq!(
        failed(&run),
        &Error::RetriesExhausted {
            purpose: Purpose::Cancel,
            attempts: 10,
            last: Failure::Status(500)
        }
    );
    assert_eq!(run.lines(), ["DELETE"; 10]);
    assert!(run.log[9].at - START < 1800 * 1000, "within max_total");
    assert_eq!(pair.model.live_sessions(pair.now.as_unix_millis()), 1);
    pair.assert_sound(&run.end);
}
