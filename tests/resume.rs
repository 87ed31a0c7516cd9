//! Saved state (docs/protocol.md §11): a restored machine asks where the session stands, looks
//! for a result a request in flight may have made, skips what the server kept, returns the
//! outcome of an upload that already ended, and refuses a state that is not its own.

mod kit;

use kit::*;
use upload_session::{
    Action, FileInfo, Options, Owner, Purpose, RestoreError, State, Target, Upload, STATE_VERSION,
};
use upload_session_testkit::HELD_BYTES;

const MIB: u64 = 1_048_576;

/// Saved after each answer, restored after the process died with a PUT in flight that the
/// server kept: the machine asks the session and goes on from where the server stands
/// (docs/protocol.md §6), in the same session. The token is never saved (§9).
#[test]
fn save_and_restore_mid_upload_continues_where_the_server_stands() {
    let size = 5 * MIB;
    assert!(size <= HELD_BYTES, "the model checks the bytes");
    let mut pair = pair("", size);
    let options = Options::default().with_chunk_size(MIB);
    let mut up = pair.upload(options.clone());
    let mut saved = String::new();
    for _ in 0..3 {
        assert_eq!(pair.step(&mut up), None);
        saved = up.save();
    }
    assert_eq!(up.progress().confirmed, 2 * MIB);
    assert!(!saved.contains("Bearer"));
    assert!(!saved.contains(pair.model.token()));
    // The third PUT leaves; the server keeps it; the process dies before the answer.
    let Action::Send(lost) = pair.poll(&mut up) else {
        panic!()
    };
    assert_eq!(lost.file_range().unwrap().to_string(), "2097152-3145727");
    assert_eq!(pair.send(&up, &lost).status(), Some(200));
    drop(up);
    let mut up = restore(&mut pair, &saved, options);
    assert_eq!(up.state(), State::Querying);
    assert_eq!(up.progress().confirmed, 2 * MIB);
    assert_eq!(up.sessions(), 1);
    let run = drive(&mut pair, &mut up);
    done(&run);
    assert_eq!(
        run.lines(),
        ["GET", "PUT 3145728-4194303", "PUT 4194304-5242879"]
    );
    assert_eq!(pair.model.sessions_created(), 1);
    pair.assert_sound(&run.end);
}

/// A session created for a small file (with `force_session`) is resumed after a restore, even
/// with options that would have chosen the single POST, rather than left open.
#[test]
fn a_saved_session_for_a_small_file_is_resumed() {
    let mut pair = pair("", 1000);
    let mut up = pair.upload(Options::default().with_force_session(true));
    assert_eq!(pair.step(&mut up), None, "the create");
    assert_eq!(up.state(), State::Uploading);
    let saved = up.save();
    let mut up = restore(&mut pair, &saved, Options::default());
    assert_eq!(up.state(), State::Querying);
    let run = drive(&mut pair, &mut up);
    done(&run);
    assert_eq!(run.lines(), ["GET", "PUT 0-999"]);
    assert_eq!(pair.model.sessions_created(), 1);
    pair.assert_sound(&run.end);
}

/// The single POST asks to be saved before it leaves (write-ahead): a machine restored from
/// that state looks for the attachment before posting again, so a crash mid-POST leaves no
/// duplicate whether or not the POST landed (docs/protocol.md §11).
#[test]
fn a_crash_during_the_single_post_is_resumed_by_a_lookup() {
    for landed in [true, false] {
        let mut pair = pair("", 1000);
        let mut up = pair.upload(Options::default());
        let Action::Send(post) = pair.poll(&mut up) else {
            panic!()
        };
        assert_eq!(post.purpose(), Purpose::SinglePost);
        assert!(post.save_before_sending());
        let saved = up.save();
        if landed {
            assert_eq!(pair.send(&up, &post).status(), Some(201));
        }
        drop(up);
        let mut up = restore(&mut pair, &saved, Options::default());
        assert_eq!(up.state(), State::FindingResult);
        assert!(up.result_may_exist());
        let run = drive(&mut pair, &mut up);
        let c = done(&run);
        assert_eq!(c.found_by_lookup, landed);
        let want: &[&str] = if landed { &["GET"] } else { &["GET", "POST"] };
        assert_eq!(run.lines(), want, "landed: {landed}");
        assert_eq!(run.log[0].url, pair.target().collection_url().unwrap());
        assert_eq!(c.id, pair.created()[0].id);
        pair.assert_sound(&run.end);
    }
}

/// Without a status query, a restored upload whose first chunk the server already kept is
/// refused (416) once and then skipped: no new session, no byte sent twice more than once
/// (docs/protocol.md §9).
#[test]
fn a_restore_without_status_query_skips_a_chunk_the_server_kept() {
    let mut pair = pair("status-refused", 3 * MIB2);
    let options = Options::default().with_chunk_size(MIB2);
    let mut up = pair.upload(options.clone());
    assert_eq!(pair.step(&mut up), None, "the create");
    // The first PUT is saved in flight, lands, and the process dies.
    let Action::Send(put) = pair.poll(&mut up) else {
        panic!()
    };
    let saved = up.save();
    assert_eq!(pair.send(&up, &put).status(), Some(200));
    let mut up = restore(&mut pair, &saved, options);
    assert_eq!(up.state(), State::Querying);
    assert_eq!(up.progress().confirmed, 0);
    let run = drive(&mut pair, &mut up);
    done(&run);
    assert_eq!(
        run.lines(),
        [
            "GET",
            "PUT 0-2097151",
            "PUT 2097152-4194303",
            "PUT 4194304-6291455"
        ]
    );
    assert_eq!(statuses(&run), [Some(405), Some(416), Some(200), Some(201)]);
    assert_eq!(up.sessions(), 1);
    assert_eq!(pair.model.sessions_created(), 1);
    pair.assert_sound(&run.end);
}

/// An upload that ended is restored to its end: a finished one returns its completion, a
/// cancelled one stays cancelled, and neither sends anything (docs/protocol.md §11).
#[test]
fn restore_after_the_end_returns_the_saved_outcome() {
    let mut pair = pair("", SEED_SIZE);
    let options = Options::default().with_chunk_size(MIB2);
    let mut up = pair.upload(options.clone());
    let run = drive(&mut pair, &mut up);
    let c = done(&run).clone();
    // Polled directly: the kit's checker takes `Done` only right after a 2xx answer, and a
    // restored finished upload has had none.
    let mut up = Upload::restore(
        up.save().as_bytes(),
        pair.target(),
        pair.file.info(),
        options.clone(),
    )
    .unwrap();
    assert_eq!(up.state(), State::Done);
    assert_eq!(up.progress().confirmed, SEED_SIZE);
    assert_eq!(up.poll(pair.now), Action::Done(c.clone()));
    assert_eq!(up.poll(pair.now), Action::Done(c));
    assert_eq!(
        (up.requests(), up.in_flight()),
        (3, None),
        "the count is saved; none added"
    );
    assert_eq!(pair.log.len(), 3);
    pair.assert_sound(&run.end);

    let mut pair = kit::pair("", SEED_SIZE);
    let mut up = pair.upload(options.clone());
    up.cancel(pair.now);
    assert_eq!(pair.poll(&mut up), Action::Cancelled);
    let mut up = restore(&mut pair, &up.save(), options);
    assert_eq!(up.state(), State::Cancelled);
    assert_eq!(pair.poll(&mut up), Action::Cancelled);
    assert!(pair.log.is_empty());
}

/// A saved state is checked, not trusted: another file (size or fingerprint), another target,
/// garbage, another version, or ranges outside the file are refused before anything is sent.
#[test]
fn restore_refuses_another_file_target_or_garbage() {
    let size = 5 * MIB2;
    let mut pair = pair("", size);
    let options = Options::default().with_chunk_size(MIB2);
    let up = pair.upload(options.clone());
    let saved = up.save();
    let file = pair.file.info();
    let again = |bytes: &[u8], target: Target, file| {
        Upload::restore(bytes, target, file, options.clone()).map(|_| ())
    };
    let other_size = FileInfo::new("flower.jpg", size + 1).with_fingerprint(file.fingerprint());
    assert!(matches!(
        again(saved.as_bytes(), pair.target(), other_size),
        Err(RestoreError::DifferentFile { what: "size", .. })
    ));
    let other_fp = file.clone().with_fingerprint("changed");
    assert!(matches!(
        again(saved.as_bytes(), pair.target(), other_fp),
        Err(RestoreError::DifferentFile {
            what: "fingerprint",
            ..
        })
    ));
    let base = pair.model.base_url();
    let elsewhere = Target::todo_task(&base, Owner::Me, "other=", pair.model.task_id()).unwrap();
    assert!(matches!(
        again(saved.as_bytes(), elsewhere, file.clone()),
        Err(RestoreError::DifferentTarget { .. })
    ));
    for bad in [&b""[..], b"{}", b"null", b"[1,2]", &[0xff, 0xfe]] {
        assert!(matches!(
            again(bad, pair.target(), file.clone()),
            Err(RestoreError::Malformed(_))
        ));
    }
    // The file a state was saved for, as it was: enough to restore it and delete its session
    // after the file changed.
    let was = upload_session::Upload::saved_file(saved.as_bytes()).unwrap();
    assert_eq!(
        (was.name(), was.size(), was.fingerprint()),
        (file.name(), file.size(), file.fingerprint())
    );
    assert!(again(saved.as_bytes(), pair.target(), was).is_ok());
    assert!(upload_session::Upload::saved_file(b"{}").is_err());
    // A malformed state's message may quote it, never an uploadUrl's query.
    let quoted = saved.replacen(
        "\"cancel_asked\":false",
        "\"cancel_asked\":\"https://up.example/u?tempauth=SECRET\"",
        1,
    );
    assert_ne!(quoted, saved);
    match again(quoted.as_bytes(), pair.target(), file.clone()) {
        Err(e @ RestoreError::Malformed(_)) => {
            assert!(!e.to_string().contains("SECRET"), "{e}");
        }
        other => panic!("{other:?}"),
    }
    let current = format!("\"version\":{STATE_VERSION}");
    assert!(saved.contains(&current));
    let older = saved.replace(&current, "\"version\":1");
    assert!(matches!(
        again(older.as_bytes(), pair.target(), file.clone()),
        Err(RestoreError::Version { found: 1, .. })
    ));
    let hostile = saved.replace(
        "{\"kind\":\"start\"}",
        &format!(
            r#"{{"kind":"session","upload_url":"{base}/s/1","expires":null,"expected":[{{"start":0,"end":99999999999}}],"since":{{"client":1,"server":null}},"result_may_exist_since":null,"status_query_refused":false}}"#
        ),
    );
    assert_ne!(hostile, saved);
    assert!(matches!(
        again(hostile.as_bytes(), pair.target(), file.clone()),
        Err(RestoreError::Invalid(_))
    ));
    // The state itself restores.
    assert!(again(saved.as_bytes(), pair.target(), file).is_ok());
    assert!(pair.log.is_empty());
}
