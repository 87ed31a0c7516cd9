//! Looking for a result whose answer was lost (docs/protocol.md §8, §11): a final PUT or a
//! single POST that may have created the attachment is looked for in the task's attachment
//! list before anything is sent again; what was there before the request is never taken
//! for it.

mod kit;

use std::time::Duration;

use kit::*;
use upload_session::{Options, Purpose, State};

/// The final PUT lands and its answer is lost; the status query answers 404 as it would for
/// an expired session. The task's attachments are listed, the result found, and no second
/// attachment made (docs/protocol.md §8, §11).
#[test]
fn the_lost_answer_to_the_final_put_is_found_not_duplicated() {
    let mut pair = pair("lost-final", SEED_SIZE);
    let mut up = pair.upload(mib2());
    let run = drive(&mut pair, &mut up);
    let c = done(&run).clone();
    assert_eq!(
        run.lines(),
        ["POST", "PUT 0-2097151", "PUT 2097152-3483321", "GET", "GET"]
    );
    assert_eq!(
        statuses(&run),
        [Some(200), Some(200), None, Some(404), Some(200)]
    );
    assert_eq!(run.log[4].url, pair.target().collection_url().unwrap());
    assert!(c.found_by_lookup);
    assert_eq!(c.id, pair.created()[0].id);
    assert_eq!(up.sessions(), 1);
    pair.assert_sound(&run.end);
}

/// The state while looking: the final PUT's fate unknown, the machine asks the session, then
/// lists; a saved state would look again (docs/protocol.md §11).
#[test]
fn while_looking_the_result_may_exist() {
    let mut pair = pair("lost-final", SEED_SIZE);
    let mut up = pair.upload(mib2());
    while pair.log.len() < 3 {
        assert_eq!(pair.step(&mut up), None);
    }
    assert_eq!(pair.log[2].status, None);
    assert!(up.result_may_exist());
    assert_eq!(up.state(), State::Querying);
    assert_eq!(pair.step(&mut up), None);
    assert_eq!(pair.log[3].status, Some(404));
    assert_eq!(up.state(), State::FindingResult);
    assert_eq!(up.in_flight(), None);
    let upload_session::Action::Send(list) = pair.poll(&mut up) else {
        panic!()
    };
    assert_eq!(list.purpose(), Purpose::FindResult);
    assert!(list.needs_token());
    let run = drive(&mut pair, &mut up);
    assert!(done(&run).found_by_lookup);
    assert!(!up.result_may_exist());
    pair.assert_sound(&run.end);
}

/// A 404 *answered* to the final PUT means it did not land: one look finds nothing, and a new
/// session follows (docs/protocol.md §9, §11).
#[test]
fn a_404_answered_to_the_final_put_is_looked_up_once_then_started_over() {
    let mut pair = pair("gone@1/final", SEED_SIZE);
    let mut up = pair.upload(mib2());
    let run = drive(&mut pair, &mut up);
    let c = done(&run).clone();
    assert_eq!(
        run.lines(),
        [
            "POST",
            "PUT 0-2097151",
            "PUT 2097152-3483321",
            "GET",
            "POST",
            "PUT 0-2097151",
            "PUT 2097152-3483321"
        ]
    );
    assert_eq!(run.log[2].status, Some(404));
    assert_eq!(run.log[3].url, pair.target().collection_url().unwrap());
    assert!(!c.found_by_lookup);
    assert_eq!(up.sessions(), 2);
    pair.assert_sound(&run.end);
}

/// A single POST whose answer was lost is looked for before posting again: found when it
/// landed (`lost`), posted again when it did not (`drop`) (docs/protocol.md §11).
#[test]
fn a_lost_single_post_is_looked_for_before_posting_again() {
    let mut pair = pair("lost@1/post", 1000);
    let mut up = pair.upload(Options::default());
    let run = drive(&mut pair, &mut up);
    assert!(done(&run).found_by_lookup);
    assert_eq!(run.lines(), ["POST", "GET"]);
    assert_eq!(statuses(&run), [None, Some(200)]);
    pair.assert_sound(&run.end);

    let mut pair = kit::pair("drop@1/post", 1000);
    let mut up = pair.upload(Options::default());
    let run = drive(&mut pair, &mut up);
    assert!(!done(&run).found_by_lookup);
    assert_eq!(run.lines(), ["POST", "GET", "POST"]);
    assert_eq!(statuses(&run), [None, Some(200), Some(201)]);
    pair.assert_sound(&run.end);
}

/// An attachment of the same name and size made before the request (an earlier upload of the
/// same file) is not taken for this one's result: the look-up keeps only what is no older
/// than the request, less a second's tolerance (docs/protocol.md §11).
#[test]
fn an_earlier_attachment_of_the_same_file_is_not_taken() {
    // The POST did not land: the earlier attachment must not end the upload.
    let mut pair = pair("drop@1/post", 1000);
    pair.attach_earlier("EARLIER=", 1000, Duration::from_millis(60_000));
    let mut up = pair.upload(Options::default());
    let run = drive(&mut pair, &mut up);
    let c = done(&run).clone();
    assert_eq!(run.lines(), ["POST", "GET", "POST"]);
    assert!(!c.found_by_lookup);
    assert_ne!(c.id, "EARLIER=");
    assert_eq!(pair.attachments().len(), 2);
    assert_eq!(c.id, pair.created()[0].id);
    pair.assert_sound(&run.end);

    // The POST landed: of the two, the new one is the result.
    let mut pair = kit::pair("lost@1/post", 1000);
    pair.attach_earlier("EARLIER=", 1000, Duration::from_millis(60_000));
    let mut up = pair.upload(Options::default());
    let run = drive(&mut pair, &mut up);
    let c = done(&run).clone();
    assert_eq!(run.lines(), ["POST", "GET"]);
    assert!(c.found_by_lookup);
    assert_eq!(c.id, pair.created()[0].id);
    assert_ne!(c.id, "EARLIER=");
    pair.assert_sound(&run.end);
}

/// In a session too: after a lost final answer, an earlier attachment of the same name and
/// size, or a recent one of another size, is passed over for the one this upload made.
#[test]
fn a_lost_final_answer_is_told_from_other_attachments() {
    let mut pair = pair("lost-final", SEED_SIZE);
    pair.attach_earlier("EARLIER=", SEED_SIZE, Duration::from_millis(3_600_000));
    pair.attach_earlier("OTHER+SIZE=", SEED_SIZE - 1, Duration::from_millis(0));
    let mut up = pair.upload(mib2());
    let run = drive(&mut pair, &mut up);
    let c = done(&run).clone();
    assert_eq!(
        run.lines(),
        ["POST", "PUT 0-2097151", "PUT 2097152-3483321", "GET", "GET"]
    );
    assert!(c.found_by_lookup);
    assert_eq!(pair.attachments().len(), 3);
    assert_eq!(c.id, pair.created()[0].id);
    pair.assert_sound(&run.end);
}

/// The listing itself may fail transiently; it is asked again, and nothing is sent that
/// could repeat the result meanwhile (docs/protocol.md §9, §11).
#[test]
fn a_failed_listing_is_asked_again() {
    let mut pair = pair("lost-final error500@1/read", SEED_SIZE);
    let mut up = pair.upload(mib2());
    let run = drive(&mut pair, &mut up);
    assert!(done(&run).found_by_lookup);
    assert_eq!(
        run.lines(),
        [
            "POST",
            "PUT 0-2097151",
            "PUT 2097152-3483321",
            "GET",
            "GET",
            "GET"
        ]
    );
    assert_eq!(
        statuses(&run),
        [Some(200), Some(200), None, Some(404), Some(500), Some(200)]
    );
    pair.assert_sound(&run.end);
}
