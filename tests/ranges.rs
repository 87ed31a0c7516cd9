//! Chunks and `nextExpectedRanges`: the machine follows what the server says it lacks, fills
//! several gaps in order, keeps to a profile's grid, and gives up on a server that never
//! advances.

mod kit;

use kit::*;
use upload_session::{Action, ByteRange, Error, Options, ProtocolError, Response, State, Upload};

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
