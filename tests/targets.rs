//! Every shipped target against the Graph model (docs/protocol.md §8): OneDrive drive
//! items, Outlook message and event attachments, and Universal Print documents. Each runs
//! the seed-style happy path and the faults its own rules make interesting; the token never
//! reaches an upload host (the model records any that does as a violation).

use std::time::Duration;

use graph_model::Parent;
use upload_session::{
    Action, Conflict, Drive, DrivePlace, Error, Options, OutlookItem, Owner, ProtocolError, State,
    Target,
};
use upload_session_testkit::{End, Pair};

const GRID: u64 = 327_680;

fn pair(plan: &str, size: u64, parent: Parent) -> Pair {
    let mut pair = Pair::with_plan(plan, size).unwrap_or_else(|e| panic!("{e}"));
    pair.parent = parent;
    pair
}

fn folder() -> Parent {
    Parent::DriveFolder {
        folder: "F1".into(),
    }
}

fn drive(pair: &Pair, conflict: Conflict) -> Target {
    let place = DrivePlace::Parent {
        item: "F1".into(),
        name: pair.file.name().into(),
    };
    Target::drive_item(&pair.model.base_url(), Drive::Me, place, conflict).unwrap()
}

/// Sessions on the grid: files this small would otherwise go by the single PUT.
fn grid() -> Options {
    Options::default()
        .with_chunk_size(GRID)
        .with_force_session(true)
}

fn drive_run(plan: &str, size: u64, conflict: Conflict) -> (Pair, upload_session_testkit::Run) {
    let mut pair = pair(plan, size, folder());
    let target = drive(&pair, conflict);
    let mut up = pair.upload_to(target, grid()).unwrap();
    let run = pair.drive_bounded(&mut up, 200).unwrap();
    (pair, run)
}

const DRIVE_SIZE: u64 = 3 * GRID + 17;

#[test]
fn drive_item_on_the_grid_without_the_token() {
    let (pair, run) = drive_run("", DRIVE_SIZE, Conflict::Fail);
    assert_eq!(
        run.lines(),
        [
            "POST",
            "PUT 0-327679",
            "PUT 327680-655359",
            "PUT 655360-983039",
            "PUT 983040-983056"
        ]
    );
    assert_eq!(
        run.statuses(),
        [Some(200), Some(202), Some(202), Some(202), Some(201)]
    );
    // The PUTs went to the other origin, as given, and the model saw no token there.
    assert!(run.log[1..]
        .iter()
        .all(|e| e.url.starts_with(pair.model.foreign_origin())));
    assert_eq!(run.done().size, DRIVE_SIZE);
    pair.assert_sound(&run.end);
}

#[test]
fn drive_item_a_partly_kept_fragment_puts_the_next_start_off_the_grid() {
    // The second fragment is kept, and bytes 81920-163839 of the first are forgotten: the
    // gap is filled to its end, off the grid, and the upload goes on on the grid.
    let (pair, run) = drive_run("lose-range@2/put", DRIVE_SIZE, Conflict::Fail);
    assert_eq!(
        run.lines(),
        [
            "POST",
            "PUT 0-327679",
            "PUT 327680-655359",
            "PUT 81920-163839",
            "PUT 655360-983039",
            "PUT 983040-983056"
        ]
    );
    pair.assert_sound(&run.end);
}

#[test]
fn drive_item_a_dropped_fragment_is_asked_about_then_sent_again() {
    let (pair, run) = drive_run("drop@2/put", DRIVE_SIZE, Conflict::Fail);
    assert_eq!(
        run.lines(),
        [
            "POST",
            "PUT 0-327679",
            "PUT 327680-655359",
            "GET",
            "PUT 327680-655359",
            "PUT 655360-983039",
            "PUT 983040-983056"
        ]
    );
    pair.assert_sound(&run.end);
}

#[test]
fn drive_item_416_asks_where_the_session_stands() {
    let (pair, run) = drive_run("range416@2/put", DRIVE_SIZE, Conflict::Fail);
    assert_eq!(
        run.lines()[2..5],
        ["PUT 327680-655359", "GET", "PUT 327680-655359"]
    );
    pair.assert_sound(&run.end);
}

#[test]
fn drive_item_a_taken_name_fails_typed_and_overwrites_nothing() {
    let mut pair = pair("", DRIVE_SIZE, folder());
    pair.attach_earlier("EARLIER=", 5, Duration::from_secs(3600));
    let target = drive(&pair, Conflict::Fail);
    let mut up = pair.upload_to(target, grid()).unwrap();
    let run = pair.drive_bounded(&mut up, 200).unwrap();
    let e = run.failed();
    assert!(
        matches!(e, Error::NameConflict(s) if s.status == 409),
        "{e:?}"
    );
    assert!(e.to_string().contains("name is taken"), "{e}");
    assert_eq!(run.lines().last().unwrap(), "PUT 983040-983056");
    assert_eq!(pair.attachments().len(), 1, "the earlier item stays alone");
    assert_eq!(pair.attachments()[0].size, 5);
}

#[test]
fn drive_item_a_taken_name_is_renamed_or_replaced_as_asked() {
    for (conflict, status, items) in [(Conflict::Rename, 201, 2), (Conflict::Replace, 200, 1)] {
        let mut pair = pair("", DRIVE_SIZE, folder());
        pair.attach_earlier("EARLIER=", 5, Duration::from_secs(3600));
        let target = drive(&pair, conflict);
        let mut up = pair.upload_to(target, grid()).unwrap();
        let run = pair.drive_bounded(&mut up, 200).unwrap();
        assert_eq!(run.statuses().last(), Some(&Some(status)), "{conflict:?}");
        assert_eq!(pair.attachments().len(), items, "{conflict:?}");
        let made = pair
            .attachments()
            .iter()
            .find(|a| a.id == run.done().id)
            .unwrap();
        assert_eq!(made.size, DRIVE_SIZE);
        if conflict == Conflict::Rename {
            assert_eq!(made.name, "flower 1.jpg");
        }
    }
}

#[test]
fn drive_item_a_lost_final_answer_is_settled_by_reading_the_item() {
    // Renaming on conflict would turn a blind second upload into a second item: the item is
    // read instead, found, and taken for the result (docs/protocol.md §8).
    let (pair, run) = drive_run("lost-final", DRIVE_SIZE, Conflict::Rename);
    assert_eq!(
        run.lines()[4..],
        ["PUT 983040-983056", "GET", "GET"],
        "status 404, then the item"
    );
    assert_eq!(run.statuses()[5..], [Some(404), Some(200)]);
    assert!(run.log[6].url.ends_with("/me/drive/items/F1:/flower.jpg:"));
    assert_eq!(pair.attachments().len(), 1);
    assert_eq!(run.done().id, pair.attachments()[0].id);
    pair.assert_sound(&run.end);
}

#[test]
fn drive_item_an_expired_session_reads_the_item_then_starts_over() {
    let (pair, run) = drive_run("gone@2/put", DRIVE_SIZE, Conflict::Fail);
    assert_eq!(
        run.lines()[..5],
        ["POST", "PUT 0-327679", "PUT 327680-655359", "GET", "POST"]
    );
    assert_eq!(
        run.statuses()[2..4],
        [Some(404), Some(404)],
        "gone; no item yet"
    );
    pair.assert_sound(&run.end);
}

#[test]
fn drive_item_cancel_deletes_the_session_without_the_token() {
    let mut pair = pair("", DRIVE_SIZE, folder());
    let target = drive(&pair, Conflict::Fail);
    let mut up = pair.upload_to(target, grid()).unwrap();
    for _ in 0..2 {
        assert!(pair.step(&mut up).is_none());
    }
    assert_eq!(up.state(), State::Uploading);
    up.cancel(pair.now);
    let run = pair.drive_bounded(&mut up, 20).unwrap();
    assert_eq!(run.lines(), ["DELETE"]);
    assert_eq!(run.end, End::Cancelled);
    assert!(run.log[0].url.starts_with(pair.model.foreign_origin()));
    assert_eq!(pair.model.live_sessions(pair.now.as_unix_millis()), 0);
    assert!(pair.model.violations().is_empty());
}

#[test]
fn drive_item_save_and_restore_mid_upload() {
    let mut pair = pair("", DRIVE_SIZE, folder());
    let target = drive(&pair, Conflict::Fail);
    let mut up = pair.upload_to(target.clone(), grid()).unwrap();
    for _ in 0..3 {
        assert!(pair.step(&mut up).is_none());
    }
    let saved = up.save();
    let mut again =
        upload_session::Upload::restore(saved.as_bytes(), target, pair.file.info(), grid())
            .unwrap();
    pair.watch(&again, &grid());
    let run = pair.drive_bounded(&mut again, 50).unwrap();
    assert_eq!(
        run.lines(),
        ["GET", "PUT 655360-983039", "PUT 983040-983056"]
    );
    pair.assert_sound(&run.end);
}

fn outlook(pair: &Pair, item: OutlookItem) -> Target {
    Target::outlook_attachment(&pair.model.base_url(), Owner::Me, item, "AAMkMSG+1=").unwrap()
}

fn message() -> Parent {
    Parent::Outlook {
        collection: "messages".into(),
        id: "AAMkMSG+1=".into(),
    }
}

#[test]
fn outlook_attachment_by_session_on_the_other_host() {
    for (item, parent) in [
        (OutlookItem::Message, message()),
        (
            OutlookItem::Event,
            Parent::Outlook {
                collection: "events".into(),
                id: "AAMkMSG+1=".into(),
            },
        ),
    ] {
        let size = 3_500_000;
        let mut pair = pair("", size, parent);
        let target = outlook(&pair, item);
        let mut up = pair
            .upload_to(target, Options::default().with_chunk_size(2_000_000))
            .unwrap();
        let run = pair.drive_bounded(&mut up, 50).unwrap();
        assert_eq!(
            run.lines(),
            ["POST", "PUT 0-1999999", "PUT 2000000-3499999"]
        );
        assert_eq!(run.statuses(), [Some(201), Some(200), Some(201)]);
        assert!(run.log[1].url.contains("authtoken="));
        // The id comes out of `Attachments('{id}')`.
        assert_eq!(run.done().id, pair.attachments()[0].id);
        pair.assert_sound(&run.end);
    }
}

#[test]
fn outlook_attachment_below_3_mb_goes_whole_as_a_file_attachment() {
    let mut pair = pair("", 1_000_000, message());
    let target = outlook(&pair, OutlookItem::Message);
    let mut up = pair.upload_to(target, Options::default()).unwrap();
    let run = pair.drive_bounded(&mut up, 20).unwrap();
    assert_eq!(run.lines(), ["POST"]);
    assert!(run.log[0]
        .url
        .ends_with("/messages/AAMkMSG%2B1=/attachments"));
    pair.assert_sound(&run.end);
}

#[test]
fn outlook_attachment_a_lost_final_answer_is_found_in_the_listing() {
    let mut pair = pair("lost-final", 3_500_000, message());
    let target = outlook(&pair, OutlookItem::Message);
    let mut up = pair
        .upload_to(target, Options::default().with_chunk_size(2_000_000))
        .unwrap();
    let run = pair.drive_bounded(&mut up, 50).unwrap();
    assert_eq!(
        run.lines(),
        ["POST", "PUT 0-1999999", "PUT 2000000-3499999", "GET", "GET"]
    );
    // The listing asks for what it reads: Outlook lists file attachments with their bytes.
    assert!(
        run.log[4]
            .url
            .ends_with("/attachments?$select=id,name,size,lastModifiedDateTime"),
        "{}",
        run.log[4].url
    );
    assert_eq!(pair.attachments().len(), 1);
    pair.assert_sound(&run.end);
}

fn print_doc() -> Parent {
    Parent::PrintDocument {
        printer: "P1".into(),
        job: "J1".into(),
        document: "D1".into(),
    }
}

#[test]
fn print_document_202_then_the_document() {
    let size = 2_500_000;
    let mut pair = pair("drop@2/put", size, print_doc());
    let target = Target::print_document(&pair.model.base_url(), "P1", "J1", "D1").unwrap();
    let mut up = pair
        .upload_to(target, Options::default().with_chunk_size(1_000_000))
        .unwrap();
    assert!(
        matches!(up.poll(pair.now), Action::Send(r) if r.url().ends_with("/print/printers/P1/jobs/J1/documents/D1/createUploadSession"))
    );
    let run = pair.drive_bounded(&mut up, 50).unwrap();
    assert_eq!(
        run.lines(),
        [
            "POST",
            "PUT 0-999999",
            "PUT 1000000-1999999",
            "GET",
            "PUT 1000000-1999999",
            "PUT 2000000-2499999"
        ]
    );
    assert_eq!(run.statuses()[1], Some(202));
    assert!(run.log[1].url.contains("tempauthtoken="));
    pair.assert_sound(&run.end);
}

#[test]
fn drive_item_renamed_on_conflict_and_lost_is_never_sent_twice() {
    // The name is taken; the upload is renamed, and its final answer lost. Reading the path
    // finds the older item, which cannot tell whether a renamed result exists: the upload
    // stops rather than make a second copy (docs/protocol.md §8, §11).
    let mut pair = pair("lost-final", DRIVE_SIZE, folder());
    pair.attach_earlier("EARLIER=", DRIVE_SIZE, Duration::from_secs(3600));
    let target = drive(&pair, Conflict::Rename);
    let mut up = pair.upload_to(target, grid()).unwrap();
    let run = pair.drive_bounded(&mut up, 200).unwrap();
    assert_eq!(run.lines()[4..], ["PUT 983040-983056", "GET", "GET"]);
    let e = run.failed();
    assert!(e.to_string().contains("renamed on conflict"), "{e}");
    assert_eq!(
        pair.attachments().len(),
        2,
        "the earlier item and one renamed copy"
    );
    assert_eq!(pair.created().len(), 1);
    assert!(pair.model.violations().is_empty());
}

/// Outlook and Print through the faults every target must survive: a 416, a session gone
/// mid-way, a cancel, and a save and restore between fragments. Each ends with exactly the
/// file, no token on the upload host, and nothing the model calls a violation.
#[test]
fn outlook_and_print_through_416_expiry_cancel_and_restore() {
    let size = 3_500_000;
    let chunk = Options::default().with_chunk_size(1_000_000);
    type MakeTarget = fn(&Pair) -> Target;
    let dests: [(&str, Parent, MakeTarget); 2] = [
        ("outlook", message(), |p| outlook(p, OutlookItem::Message)),
        ("print", print_doc(), |p| {
            Target::print_document(&p.model.base_url(), "P1", "J1", "D1").unwrap()
        }),
    ];
    for (name, parent, target) in dests {
        // 416, then the status query, then the same range again.
        let mut p = pair("range416@2/put", size, parent.clone());
        let mut up = p.upload_to(target(&p), chunk.clone()).unwrap();
        let run = p.drive_bounded(&mut up, 50).unwrap();
        assert_eq!(
            run.lines()[2..5],
            ["PUT 1000000-1999999", "GET", "PUT 1000000-1999999"],
            "{name}"
        );
        p.assert_sound(&run.end);

        // The session is gone at the second PUT: a new one, and the file lands once.
        let mut p = pair("gone@2/put", size, parent.clone());
        let mut up = p.upload_to(target(&p), chunk.clone()).unwrap();
        let run = p.drive_bounded(&mut up, 50).unwrap();
        assert_eq!(run.statuses()[2], Some(404), "{name}");
        assert_eq!(p.model.sessions_created(), 2, "{name}");
        run.done();
        p.assert_sound(&run.end);

        // A cancel after the first fragment deletes the session on the upload host.
        let mut p = pair("", size, parent.clone());
        let mut up = p.upload_to(target(&p), chunk.clone()).unwrap();
        for _ in 0..2 {
            assert!(p.step(&mut up).is_none());
        }
        up.cancel(p.now);
        let run = p.drive_bounded(&mut up, 20).unwrap();
        assert_eq!(
            (run.lines(), &run.end),
            (vec!["DELETE".to_string()], &End::Cancelled),
            "{name}"
        );
        assert!(
            run.log[0].url.starts_with(p.model.foreign_origin()),
            "{name}"
        );
        assert_eq!(p.model.live_sessions(p.now.as_unix_millis()), 0, "{name}");
        assert!(p.model.violations().is_empty(), "{name}");

        // Saved after two fragments, restored: the status, then the rest.
        let mut p = pair("", size, parent);
        let mut up = p.upload_to(target(&p), chunk.clone()).unwrap();
        for _ in 0..3 {
            assert!(p.step(&mut up).is_none());
        }
        let saved = up.save();
        let mut again = upload_session::Upload::restore(
            saved.as_bytes(),
            target(&p),
            p.file.info(),
            chunk.clone(),
        )
        .unwrap();
        p.watch(&again, &chunk);
        let run = p.drive_bounded(&mut again, 50).unwrap();
        assert_eq!(
            run.lines(),
            ["GET", "PUT 2000000-2999999", "PUT 3000000-3499999"],
            "{name}"
        );
        p.assert_sound(&run.end);
    }
}

#[test]
fn drive_item_completion_carries_the_web_url_and_the_hash_the_server_checked() {
    let (pair, run) = drive_run("", DRIVE_SIZE, Conflict::Fail);
    let done = run.done();
    assert_eq!(
        done.quick_xor_hash.as_deref(),
        Some(&*pair.file.quick_xor_hash())
    );
    let web = done.web_url.as_deref().unwrap();
    assert!(
        web.starts_with("https://") && web.ends_with("/flower.jpg"),
        "{web}"
    );
}

#[test]
fn drive_item_whose_server_hash_differs_fails_rather_than_passing_for_done() {
    let mut pair = pair("", DRIVE_SIZE, folder());
    let target = drive(&pair, Conflict::Fail);
    let info = pair
        .file
        .info()
        .with_quick_xor_hash("AAAAAAAAAAAAAAAAAAAAAAAAAAA=");
    let mut up = upload_session::Upload::new(target, info, grid()).unwrap();
    pair.watch(&up, &grid());
    let run = pair.drive_bounded(&mut up, 50).unwrap();
    let e = run.failed();
    assert!(
        matches!(
            e,
            Error::Protocol {
                error: ProtocolError::HashMismatch { .. },
                ..
            }
        ),
        "{e:?}"
    );
    assert!(e.to_string().contains("bytes differ"), "{e}");
}

fn deferred(pair: &Pair) -> Target {
    drive(pair, Conflict::Fail).with_defer_commit().unwrap()
}

#[test]
fn drive_item_deferred_commit_posts_to_the_upload_url_once_every_byte_is_in() {
    let mut pair = pair("", DRIVE_SIZE, folder());
    let target = deferred(&pair);
    let mut up = pair.upload_to(target, grid()).unwrap();
    let run = pair.drive_bounded(&mut up, 50).unwrap();
    assert_eq!(
        run.lines(),
        [
            "POST",
            "PUT 0-327679",
            "PUT 327680-655359",
            "PUT 655360-983039",
            "PUT 983040-983056",
            "POST"
        ]
    );
    assert_eq!(run.statuses()[4..], [Some(202), Some(201)]);
    // The commit goes to the upload URL, on its host, without the token.
    assert_eq!(run.log[5].url, run.log[4].url);
    assert!(first_body(&pair, deferred(&pair), grid()).contains(r#""deferCommit":true"#));
    assert_eq!(pair.attachments().len(), 1);
    pair.assert_sound(&run.end);
}

#[test]
fn drive_item_deferred_commit_after_a_lost_answer_or_a_restore() {
    // The last PUT's answer is lost: the session is asked, holds every byte, and is committed.
    let mut pair = pair("lost-final", DRIVE_SIZE, folder());
    let target = deferred(&pair);
    let mut up = pair.upload_to(target.clone(), grid()).unwrap();
    let run = pair.drive_bounded(&mut up, 50).unwrap();
    assert_eq!(run.lines()[4..], ["PUT 983040-983056", "GET", "POST"]);
    assert_eq!(pair.attachments().len(), 1);
    pair.assert_sound(&run.end);

    // Saved while committing: restored, it asks, then commits.
    let mut pair = pair_for_restore();
    let target = deferred(&pair);
    let mut up = pair.upload_to(target.clone(), grid()).unwrap();
    while up.state() != State::Committing {
        assert!(pair.step(&mut up).is_none());
    }
    let saved = up.save();
    let mut again =
        upload_session::Upload::restore(saved.as_bytes(), target, pair.file.info(), grid())
            .unwrap();
    pair.watch(&again, &grid());
    let run = pair.drive_bounded(&mut again, 50).unwrap();
    assert_eq!(run.lines(), ["GET", "POST"]);
    assert_eq!(pair.attachments().len(), 1);
    pair.assert_sound(&run.end);
}

fn pair_for_restore() -> Pair {
    pair("", DRIVE_SIZE, folder())
}

#[test]
fn drive_item_deferred_commit_of_a_taken_name_fails_typed() {
    let mut pair = pair("", DRIVE_SIZE, folder());
    pair.attach_earlier("EARLIER=", 5, Duration::from_secs(3600));
    let target = deferred(&pair);
    let mut up = pair.upload_to(target, grid()).unwrap();
    let run = pair.drive_bounded(&mut up, 50).unwrap();
    assert!(
        matches!(run.failed(), Error::NameConflict(_)),
        "{:?}",
        run.failed()
    );
    assert_eq!(run.lines().last().unwrap(), "POST");
    assert_eq!(pair.attachments().len(), 1);
}

#[test]
fn deferred_commit_and_inline_belong_to_their_own_targets() {
    let pair = pair("", 10, message());
    let mail = outlook(&pair, OutlookItem::Message);
    assert!(mail.clone().with_defer_commit().is_err());
    assert!(mail.with_inline("").is_err());
    let drive = drive(&pair, Conflict::Fail);
    assert!(drive.with_inline("cid1").is_err());
}

#[test]
fn outlook_inline_attachment_says_so_by_session_and_by_single_post() {
    for size in [4_000_000, 1_000] {
        let mut pair = pair("", size, message());
        let target = outlook(&pair, OutlookItem::Message)
            .with_inline("logo@x")
            .unwrap();
        let first = first_body(&pair, target.clone(), Options::default());
        let mut up = pair.upload_to(target, Options::default()).unwrap();
        let run = pair.drive_bounded(&mut up, 50).unwrap();
        assert!(first.contains(r#""isInline":true"#), "{first}");
        assert!(first.contains(r#""contentId":"logo@x""#), "{first}");
        pair.assert_sound(&run.end);
    }
}

/// The JSON of the first request an upload of the pair's file to `target` sends.
fn first_body(pair: &Pair, target: Target, options: Options) -> String {
    let mut up = upload_session::Upload::new(target, pair.file.info(), options).unwrap();
    match up.poll(pair.now) {
        Action::Send(req) => match req.body() {
            upload_session::Body::Json(json) => json.to_string(),
            upload_session::Body::JsonWithBase64File { prefix, .. } => prefix.to_string(),
            other => panic!("{other:?}"),
        },
        other => panic!("{other:?}"),
    }
}

#[test]
fn drive_item_small_goes_by_one_put_to_its_content_with_the_token() {
    for size in [0, 1, 1_000_000] {
        let mut pair = pair("", size, folder());
        let target = drive(&pair, Conflict::Rename);
        let mut up = pair.upload_to(target, Options::default()).unwrap();
        let run = pair.drive_bounded(&mut up, 20).unwrap();
        assert_eq!(run.statuses(), [Some(201)], "{size}");
        let url = &run.log[0].url;
        assert!(
            url.starts_with(&pair.model.base_url())
                && url.ends_with("/me/drive/items/F1:/flower.jpg:/content?@microsoft.graph.conflictBehavior=rename"),
            "{url}"
        );
        assert_eq!(
            run.done().quick_xor_hash.as_deref(),
            Some(&*pair.file.quick_xor_hash())
        );
        assert_eq!(pair.attachments().len(), 1);
        pair.assert_sound(&run.end);
    }
}

#[test]
fn drive_item_one_put_a_taken_name_and_a_lost_answer() {
    let mut taken = pair("", 1000, folder());
    taken.attach_earlier("EARLIER=", 5, Duration::from_secs(3600));
    let target = drive(&taken, Conflict::Fail);
    let mut up = taken.upload_to(target, Options::default()).unwrap();
    let run = taken.drive_bounded(&mut up, 20).unwrap();
    assert!(
        matches!(run.failed(), Error::NameConflict(_)),
        "{:?}",
        run.failed()
    );
    assert_eq!(taken.attachments().len(), 1);

    // The answer is lost: the item is read, found, and not sent again.
    let mut pair = pair("lost@1/post", 1000, folder());
    let target = drive(&pair, Conflict::Rename);
    let mut up = pair.upload_to(target, Options::default()).unwrap();
    let run = pair.drive_bounded(&mut up, 20).unwrap();
    assert_eq!(run.lines(), ["PUT 0-999", "GET"]);
    assert!(run.done().found_by_lookup);
    assert_eq!(pair.attachments().len(), 1);
    pair.assert_sound(&run.end);
}

#[test]
fn a_completion_that_names_nothing_is_looked_for_never_sent_again() {
    // A drive item's single PUT answered 201 with no item: the file exists under some id,
    // so sending it again could make a second copy (rename); the item is read instead.
    let pair = pair("", 1000, folder());
    let target = drive(&pair, Conflict::Rename);
    let mut up = upload_session::Upload::new(target, pair.file.info(), Options::default()).unwrap();
    let now = pair.now;
    let Action::Send(put) = up.poll(now) else {
        panic!("a request first")
    };
    assert_eq!(put.purpose(), upload_session::Purpose::SinglePut);
    up.handle_response(now, put.id(), upload_session::Response::new(201))
        .unwrap();
    let Action::Send(next) = up.poll(now) else {
        panic!("a look-up")
    };
    assert_eq!(next.purpose(), upload_session::Purpose::FindResult);
    assert!(
        next.url().ends_with("/items/F1:/flower.jpg:"),
        "{}",
        next.url()
    );
}

/// A deferred drive upload of `plan` and `size`, conflict `conflict`, a name already taken
/// when `taken`, driven for at most `steps` requests.
fn deferred_run(
    plan: &str,
    size: u64,
    conflict: Conflict,
    taken: bool,
) -> (Pair, upload_session_testkit::Run) {
    let mut pair = pair(plan, size, folder());
    if taken {
        pair.attach_earlier("EARLIER=", 5, Duration::from_secs(3600));
    }
    let target = drive(&pair, conflict).with_defer_commit().unwrap();
    let mut up = pair.upload_to(target, grid()).unwrap();
    let run = pair.drive_bounded(&mut up, 300).unwrap();
    (pair, run)
}

#[test]
fn a_commit_that_keeps_failing_ends_the_upload() {
    // Every commit: a 500 (the outcome unknown: the session is asked, holds every byte, the
    // commit goes again), or no answer at all. The failure streak runs across the status
    // queries in between and ends it.
    for plan in ["error500@2+/final", "stall=70000,lose@2+/final"] {
        let (pair, run) = deferred_run(plan, DRIVE_SIZE, Conflict::Fail, false);
        // Given up by the streak, or (an hour of timeouts) by the session's expiry.
        assert!(
            matches!(
                run.failed(),
                Error::RetriesExhausted { .. } | Error::SessionExpired { .. }
            ),
            "{plan}: {:?}",
            run.failed()
        );
        assert!(
            run.lines().len() < 100,
            "{plan}: {} requests",
            run.lines().len()
        );
        assert!(pair.attachments().is_empty());
    }
}

#[test]
fn a_deferred_upload_whose_session_is_lost_before_its_commit_starts_over_without_looking() {
    // The name is taken and the conflict behaviour renames: a look-up could never tell an
    // older item from the result. No commit was sent, so there is no result to look for.
    let (pair, run) = deferred_run("gone@2/put", DRIVE_SIZE, Conflict::Rename, true);
    assert!(
        matches!(run.end, upload_session_testkit::End::Done(_)),
        "{:?}",
        run.end
    );
    assert_eq!(
        run.lines()[..3],
        ["POST", "PUT 0-327679", "PUT 327680-655359"]
    );
    assert_eq!(run.lines()[3], "POST", "a new session, no look-up");
    let names: Vec<&str> = pair.attachments().iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names, ["flower.jpg", "flower 1.jpg"]);
    pair.assert_sound(&run.end);
}

#[test]
fn an_empty_range_list_after_a_middle_fragment_is_asked_about_before_any_commit() {
    let pair = pair("", DRIVE_SIZE, folder());
    let target = drive(&pair, Conflict::Fail).with_defer_commit().unwrap();
    let mut up = upload_session::Upload::new(target, pair.file.info(), grid()).unwrap();
    let now = pair.now;
    let Action::Send(create) = up.poll(now) else {
        panic!()
    };
    let session =
        br#"{"uploadUrl": "https://upload.example.net/up/1", "nextExpectedRanges": ["0-"]}"#;
    up.handle_response(
        now,
        create.id(),
        upload_session::Response::new(200).body(session),
    )
    .unwrap();
    let Action::Send(put) = up.poll(now) else {
        panic!()
    };
    assert_eq!(put.file_range().map(|r| r.end()), Some(GRID));
    up.handle_response(
        now,
        put.id(),
        upload_session::Response::new(202).body(br#"{"nextExpectedRanges": []}"#),
    )
    .unwrap();
    let next = match up.poll(now) {
        Action::Send(next) => next,
        Action::Wait { until, .. } => match up.poll(until) {
            Action::Send(next) => next,
            other => panic!("{other:?}"),
        },
        other => panic!("{other:?}"),
    };
    assert_eq!(next.purpose(), upload_session::Purpose::QueryStatus);
}

#[test]
fn a_deferred_0_byte_file_goes_by_the_single_put() {
    let mut pair = pair("", 0, folder());
    let target = drive(&pair, Conflict::Fail).with_defer_commit().unwrap();
    let mut up = pair.upload_to(target, Options::default()).unwrap();
    let run = pair.drive_bounded(&mut up, 10).unwrap();
    assert_eq!(run.statuses(), [Some(201)]);
    assert_eq!(pair.attachments()[0].size, 0);
}

#[test]
fn a_lost_final_answer_is_found_whatever_the_local_file_is_called() {
    // The URL names the item; the file on disk may have another name.
    for (conflict, plan) in [
        (Conflict::Fail, "lost-final"),
        (Conflict::Rename, "lost-final"),
    ] {
        let mut pair = pair(plan, DRIVE_SIZE, folder());
        let target = drive(&pair, conflict);
        let info = upload_session::FileInfo::new("local-name.bin", DRIVE_SIZE)
            .with_quick_xor_hash(pair.file.quick_xor_hash());
        let mut up = upload_session::Upload::new(target, info, grid()).unwrap();
        pair.watch(&up, &grid());
        let run = pair.drive_bounded(&mut up, 50).unwrap();
        assert!(run.done().found_by_lookup, "{conflict:?}");
        assert_eq!(pair.attachments().len(), 1, "{conflict:?}");
    }
}

#[test]
fn a_hash_mismatch_is_final_even_after_a_restore_and_names_the_item() {
    let mut pair = pair("", DRIVE_SIZE, folder());
    let target = drive(&pair, Conflict::Rename);
    let info = pair
        .file
        .info()
        .with_quick_xor_hash("AAAAAAAAAAAAAAAAAAAAAAAAAAA=");
    let mut up = upload_session::Upload::new(target.clone(), info.clone(), grid()).unwrap();
    pair.watch(&up, &grid());
    let run = pair.drive_bounded(&mut up, 50).unwrap();
    let made = pair.attachments()[0].id.clone();
    assert!(run.failed().to_string().contains(&made), "{}", run.failed());
    let mut again =
        upload_session::Upload::restore(up.save().as_bytes(), target.clone(), info, grid())
            .unwrap();
    match again.poll(pair.now) {
        Action::Failed(Error::Protocol {
            error: ProtocolError::HashMismatch { id, .. },
            ..
        }) => assert_eq!(id, made),
        other => panic!("restored into {other:?}"),
    }
    // Restoring it for other bytes (another hash) is refused outright.
    let other = pair
        .file
        .info()
        .with_quick_xor_hash("BBBBBBBBBBBBBBBBBBBBBBBBBBB=");
    let saved = up.save();
    assert!(upload_session::Upload::restore(saved.as_bytes(), target, other, grid()).is_err());
    assert_eq!(pair.attachments().len(), 1, "never sent again");
}
