//! Chunks and `nextExpectedRanges`: the machine follows what the server says it lacks, fills
//! several gaps in order, keeps to a profile's grid, and gives up on a server that never
//! advances.

mod kit;

use kit::*;
use upload_session::{
    Action, ByteRange, CompletionRule, CreateBody, Error, FileInfo, Options, Profile,
    ProtocolError, PutUrl, Response, SessionAuth, State, Target, Timestamp, Upload,
};
use upload_session_testkit::START;

fn ranges(up: &Upload) -> Vec<String> {
    up.expected_ranges()
        .map(|e| e.as_slice().iter().map(ByteRange::to_string).collect())
        .unwrap_or_default()
}

/// Each answer's `nextExpectedRanges` moves the machine on (docs/protocol.md §3, §4): progress
/// is what the server confirmed, and the next PUT starts where the server's first gap starts.
#[test]
fn progress_follows_each_answer() {
    let mut pair = pair("", 3 * MIB2 + 5);
    let mut up = pair.upload(Options::default().with_chunk_size(MIB2));
    assert_eq!(
        (up.progress().confirmed, up.progress().total),
        (0, 3 * MIB2 + 5)
    );
    assert_eq!(up.expected_ranges(), None);
    let mut seen = Vec::new();
    let end = loop {
        if let Some(end) = pair.step(&mut up) {
            break end;
        }
        seen.push((
            pair.log.len(),
            up.state(),
            up.progress().confirmed,
            ranges(&up),
        ));
    };
    assert_eq!(
        seen,
        [
            (1, State::Uploading, 0, vec!["0-6291460".to_string()]),
            (2, State::Uploading, MIB2, vec!["2097152-6291460".into()]),
            (
                3,
                State::Uploading,
                2 * MIB2,
                vec!["4194304-6291460".into()]
            ),
            (
                4,
                State::Uploading,
                3 * MIB2,
                vec!["6291456-6291460".into()]
            ),
            (5, State::Done, 3 * MIB2 + 5, vec![]),
        ]
    );
    assert_eq!(
        pair.log.iter().map(|e| e.line()).collect::<Vec<_>>(),
        [
            "POST",
            "PUT 0-2097151",
            "PUT 2097152-4194303",
            "PUT 4194304-6291455",
            "PUT 6291456-6291460"
        ]
    );
    pair.assert_sound(&end);
}

/// A server that lost part of what it held lists several ranges; the machine fills them in
/// ascending order, each PUT inside its gap (docs/protocol.md §4).
#[test]
fn several_missing_ranges_are_filled_in_order() {
    // The 4th PUT is kept, and the server forgets bytes [held/4, held/2) of the 6 MiB it held.
    let mut pair = pair("lose-range@4/put", 10 * MIB2);
    let mut up = pair.upload(Options::default().with_chunk_size(MIB2));
    while pair.log.len() < 5 {
        assert_eq!(pair.step(&mut up), None);
    }
    assert_eq!(ranges(&up), ["1572864-3145727", "8388608-20971519"]);
    assert_eq!(up.progress().confirmed, 4 * MIB2 - (3_145_728 - 1_572_864));
    let run = drive(&mut pair, &mut up);
    done(&run);
    let mut want = vec![
        "POST".to_string(),
        "PUT 0-2097151".into(),
        "PUT 2097152-4194303".into(),
        "PUT 4194304-6291455".into(),
        "PUT 6291456-8388607".into(),
        // The gap first, cut at its end rather than running over bytes the server holds.
        "PUT 1572864-3145727".into(),
    ];
    for i in 4..10 {
        want.push(format!("PUT {}-{}", i * MIB2, (i + 1) * MIB2 - 1));
    }
    assert_eq!(pair.log.iter().map(|e| e.line()).collect::<Vec<_>>(), want);
    assert_eq!(up.sessions(), 1);
    pair.assert_sound(&run.end);
}

/// Answers that add nothing back off like failures, with growing waits, and the machine gives
/// up with a typed error rather than looping (docs/protocol.md §11). The model always makes
/// progress; this server is scripted.
#[test]
fn a_server_that_never_advances_is_given_up_on() {
    let mut pair = pair("", SEED_SIZE);
    let mut up = pair.upload(Options::default().with_chunk_size(MIB2));
    let Action::Send(req) = pair.poll(&mut up) else {
        panic!()
    };
    let created = br#"{"uploadUrl": "https://graph.example.com/v1.0/u"}"#;
    up.handle_response(pair.now, req.id(), Response::new(200).body(created))
        .unwrap();
    let (mut puts, mut waits) = (Vec::new(), Vec::new());
    let error = loop {
        match pair.poll(&mut up) {
            Action::Send(req) => {
                puts.push(req.file_range().map(|r| r.to_string()));
                let same = br#"{"nextExpectedRanges": ["0-"]}"#;
                up.handle_response(pair.now, req.id(), Response::new(200).body(same))
                    .unwrap();
            }
            Action::Wait { until, .. } => {
                waits.push(until.saturating_duration_since(pair.now));
                pair.now = until;
            }
            Action::Failed(e) => break e,
            other => panic!("{other:?}"),
        }
        assert!(puts.len() < 100, "looped");
    };
    assert!(
        matches!(
            error,
            Error::Protocol {
                error: ProtocolError::NoProgress { .. },
                ..
            }
        ),
        "{error:?}"
    );
    assert_eq!(puts, vec![Some("0-2097151".to_string()); 9]);
    assert_eq!(waits.len(), 7, "{waits:?}");
    assert!(waits.windows(2).all(|w| w[0] <= w[1]), "{waits:?}");
    assert_eq!(up.progress().confirmed, 0);
}

/// Another resource is a profile, not new machine code (docs/protocol.md §8): OneDrive answers
/// 202 with `"S-E"` ranges, completes with a driveItem body, wants chunks on the 320 KiB grid
/// and must not get the token on its pre-authenticated uploadUrl. The model serves To Do only;
/// this server is scripted, and keeps 1,000 bytes of the first fragment.
#[test]
fn a_onedrive_profile_drives_the_same_machine() {
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
    let create = format!("{base}/me/drive/items/root:/big.bin:/createUploadSession");
    let target = Target::new(base, profile, create, None).unwrap();
    let size = 25 * grid + 17;
    let file = FileInfo::new("big.bin", size);
    let off_grid = Options::default().with_chunk_size(grid + 1);
    assert!(
        Upload::new(target.clone(), file.clone(), off_grid).is_err(),
        "off the grid"
    );
    let mut up = Upload::new(target, file, Options::default()).unwrap();
    let now = Timestamp::from_unix_millis(START);
    let Action::Send(create) = up.poll(now) else {
        panic!()
    };
    assert!(create.needs_token());
    let url = "https://sn3302.up.1drv.com/up/fe6987415ace7X4e1eF866337?tempauth=x";
    let created =
        format!(r#"{{"uploadUrl": "{url}", "expirationDateTime": "2030-01-01T00:00:00Z"}}"#);
    up.handle_response(
        now,
        create.id(),
        Response::new(200).body(created.as_bytes()),
    )
    .unwrap();
    let mut puts = Vec::new();
    let item = loop {
        let put = match up.poll(now) {
            Action::Send(put) => put,
            Action::Done(c) => break c,
            other => panic!("{other:?}"),
        };
        assert!(!put.needs_token(), "pre-authenticated uploadUrl");
        assert_eq!(put.url(), url, "the uploadUrl as given");
        let r = put.file_range().unwrap();
        puts.push(r.to_string());
        let kept = if puts.len() == 1 {
            r.start() + 1000
        } else {
            r.end()
        };
        let (status, body) = if kept == size {
            let item = format!(r#"{{"id": "01BYE5RZ", "name": "big.bin", "size": {size}}}"#);
            (201, item)
        } else {
            (
                202,
                format!(r#"{{"nextExpectedRanges": ["{kept}-{}"]}}"#, size - 1),
            )
        };
        let answer = Response::new(status).body(body.as_bytes());
        up.handle_response(now, put.id(), answer).unwrap();
    };
    assert_eq!(item.id, "01BYE5RZ");
    // 1,000 bytes kept of the first fragment: the next chunk realigns to the grid.
    assert_eq!(
        puts,
        [
            format!("0-{}", 10 * grid - 1),
            format!("1000-{}", 10 * grid - 1),
            format!("{}-{}", 10 * grid, 20 * grid - 1),
            format!("{}-{}", 20 * grid, size - 1),
        ]
    );
}
