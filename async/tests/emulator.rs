//! The async driver against the in-process emulator over plain http: faults (a connection
//! dropped mid-body, 503 with Retry-After, a kept 503, a lost final answer, a stall), a token
//! refused and refreshed, the state saved before the final PUT and after every answer, a file
//! that shrank (before and while sending), and cancellation.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use http_body_util::BodyExt;
use upload_session::{Action, Body, FileInfo, Owner, Response, Target, Timestamp, Upload};
use upload_session_async::{Error, RequestBody, SendError, SyncTokenSource, TokenError, Uploader};

#[test]
fn survives_drop_503_kept_503_and_lost_final_byte_exact() {
    let dir = temp_dir("faults");
    let file = make_file(&dir, "a.bin", 5_000_000, 21);
    let emu = emulator(&[
        "drop@2/put",
        "unavailable=0.05@3/put",
        "kept503@5/put",
        "lost-final",
    ]);
    let mut upload = new_upload(&emu, 5_000_000, "a.bin", 1_000_000);
    let done = block_on(async {
        let mut uploader = Uploader::new(plain_client(), TOKEN);
        let done = uploader.run(&mut upload, &file).await.unwrap();
        // The last transport failure was the lost final answer: an unknown outcome.
        let last = uploader.last_transport_failure().unwrap();
        assert!(last.kind().outcome_unknown(), "{last}");
        assert!(!format!("{uploader:?}").contains(TOKEN));
        done
    });
    assert!(done.found_by_lookup, "the final answer was lost");
    assert_stored(&emu, &file);
    for name in ["drop", "unavailable", "kept503", "lost-final"] {
        assert_eq!(faulted(&emu, name), 1, "{name}");
    }
    assert_eq!(emu.sessions_created(), 1);
    assert_eq!(emu.violations(), Vec::<String>::new());
    // The token went with every request to the Graph origin, and it was the right one.
    assert!(emu.requests().iter().all(|r| r.bearer_valid));
}

#[test]
fn no_token_goes_to_a_foreign_upload_url() {
    let dir = temp_dir("foreign");
    let file = make_file(&dir, "o.bin", 3_000_000, 20);
    let emu = emulator(&["foreign"]);
    let mut upload = new_upload(&emu, 3_000_000, "o.bin", 1_000_000);
    block_on(async {
        Uploader::new(plain_client(), TOKEN)
            .run(&mut upload, &file)
            .await
            .unwrap()
    });
    assert_stored(&emu, &file);
    assert_eq!(emu.tokens_sent_to_foreign_origin(), 0);
    let with_token = emu.requests().iter().filter(|r| r.authorization).count();
    assert_eq!(with_token, 1, "only the create carried the token");
    assert_eq!(emu.violations(), Vec::<String>::new());
}

#[test]
fn single_post_streams_base64_and_a_stalled_post_is_found_not_repeated() {
    let dir = temp_dir("post");
    let file = make_file(&dir, "p.bin", 100_000, 22);
    let emu = emulator(&["stall=800@1/post"]);
    let mut upload = new_upload_at(&emu.base_url(), &emu, 100_000, "p.bin", post_options());
    let client = upload_session_async::Client::builder()
        .native_roots(false)
        .proxy(upload_session_async::ProxyConfig::none())
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let done = block_on(async {
        let mut uploader = Uploader::new(client, TOKEN);
        uploader.run(&mut upload, &file).await.unwrap()
    });
    // The stalled POST landed; the look-up found it rather than posting twice.
    assert!(done.found_by_lookup);
    assert_stored(&emu, &file);
    let posts = emu.requests().iter().filter(|r| r.method == "POST").count();
    assert_eq!(posts, 1, "one single POST");
    assert_eq!(emu.violations(), Vec::<String>::new());
}

#[test]
fn an_expired_token_is_refreshed_through_the_source_in_the_same_session() {
    let dir = temp_dir("token");
    let file = make_file(&dir, "t.bin", 3_000_000, 23);
    let emu = emulator(&["expired-token@2/put"]);
    let mut upload = new_upload(&emu, 3_000_000, "t.bin", 1_000_000);
    let calls = Arc::new(Mutex::new(0));
    let counted = calls.clone();
    let done = block_on(async {
        let mut uploader = Uploader::new(plain_client(), "an-old-token-the-server-took")
            .with_token_source(move || {
                *counted.lock().unwrap() += 1;
                async { Ok::<_, TokenError>(TOKEN.to_owned()) }
            });
        uploader.run(&mut upload, &file).await
    });
    // The first token was refused at once (the create): refreshed, then the fault's 401.
    let done = done.unwrap();
    assert_eq!(done.size, 3_000_000);
    assert_stored(&emu, &file);
    assert_eq!(*calls.lock().unwrap(), 2, "asked once per refusal");
    assert_eq!(emu.sessions_created(), 1, "the same session went on");
    assert_eq!(faulted(&emu, "expired-token"), 1);
}

#[test]
fn a_sync_token_source_is_called_and_its_failure_ends_the_upload_without_the_token() {
    let dir = temp_dir("token-fail");
    let file = make_file(&dir, "f.bin", 1_000_000, 24);
    let emu = emulator(&["expired-token@1/create"]);
    let mut upload = new_upload(&emu, 1_000_000, "f.bin", 1_000_000);
    let err = block_on(async {
        let mut uploader = Uploader::new(plain_client(), TOKEN).with_token_source(SyncTokenSource(
            || -> Result<String, TokenError> { Err("the sign-in expired".into()) },
        ));
        uploader.run(&mut upload, &file).await.unwrap_err()
    });
    assert!(matches!(err, Error::Token(_)), "{err:?}");
    assert!(err.to_string().contains("the sign-in expired"), "{err}");
    assert!(!err.to_string().contains(TOKEN) && !format!("{err:?}").contains(TOKEN));
    assert!(emu.task_attachments().is_empty());
}

#[test]
fn the_state_is_saved_before_the_final_put_and_after_every_answer() {
    let dir = temp_dir("state");
    let file = make_file(&dir, "s.bin", 2_500_000, 25);
    let emu = Arc::new(emulator(&[]));
    let options = options(1_000_000);
    let target =
        Target::todo_task(&emu.base_url(), Owner::Me, emu.list_id(), emu.task_id()).unwrap();
    let info = FileInfo::new("s.bin", 2_500_000);
    let mut upload = Upload::new(target.clone(), info.clone(), options.clone()).unwrap();
    // Each save: how many requests the server had seen then, and the state.
    let saves: Arc<Mutex<Vec<(usize, String)>>> = Arc::default();
    let (seen, sink_emu) = (saves.clone(), emu.clone());
    let done = block_on(async {
        let mut uploader = Uploader::new(plain_client(), TOKEN).with_state_sink(
            move |state: &str| -> std::io::Result<()> {
                seen.lock()
                    .unwrap()
                    .push((sink_emu.requests().len(), state.to_owned()));
                Ok(())
            },
        );
        let done = uploader.run(&mut upload, &file).await.unwrap();
        // A restored finished upload ends at once, sending nothing.
        let mut again = Upload::restore(
            upload.save().as_bytes(),
            target.clone(),
            info.clone(),
            options.clone(),
        )
        .unwrap();
        let same = Uploader::new(plain_client(), TOKEN)
            .run(&mut again, &file)
            .await
            .unwrap();
        assert_eq!(same.id, done.id, "a finished state restores as finished");
        done
    });
    assert_stored(&emu, &file);
    let saves = saves.lock().unwrap().clone();
    let requests = emu.requests();
    assert_eq!(requests.len(), 4, "create + 3 PUTs");
    let final_put = requests.iter().position(|r| r.status == Some(201)).unwrap();
    // Saved while the server had seen every request but the final PUT, and that state knows
    // the result may exist.
    let (_, before_final) = saves
        .iter()
        .rfind(|(n, _)| *n == final_put)
        .expect("a save before the final PUT");
    let restored = Upload::restore(
        before_final.as_bytes(),
        target.clone(),
        info.clone(),
        options.clone(),
    )
    .unwrap();
    assert!(restored.result_may_exist());
    // After every answer: the last save is the finished upload.
    let mut last =
        Upload::restore(saves.last().unwrap().1.as_bytes(), target, info, options).unwrap();
    match last.poll(Timestamp::from_unix_millis(1)) {
        Action::Done(c) => assert_eq!(c.id, done.id),
        other => panic!("the last save is not finished: {other:?}"),
    }
    assert!(saves.len() >= requests.len(), "{} saves", saves.len());
    assert!(saves.iter().all(|(_, s)| !s.contains(TOKEN)));
    assert_eq!(
        emu.requests().len(),
        4,
        "nothing sent for the restored upload"
    );
    drop(emu);
}

#[test]
fn a_state_file_is_written_atomically_and_restores_the_upload() {
    let dir = temp_dir("state-file");
    let file = make_file(&dir, "f.bin", 2_000_000, 30);
    let emu = emulator(&["lost-final"]);
    let options = options(1_000_000);
    let target =
        Target::todo_task(&emu.base_url(), Owner::Me, emu.list_id(), emu.task_id()).unwrap();
    let info = FileInfo::new("f.bin", 2_000_000);
    let mut upload = Upload::new(target.clone(), info.clone(), options.clone()).unwrap();
    let state = upload_session_async::StateFile::new(dir.join("f.state"));
    let done = block_on(async {
        assert_eq!(state.load().await.unwrap(), None);
        let done = Uploader::new(plain_client(), TOKEN)
            .with_state_sink(state.clone())
            .run(&mut upload, &file)
            .await
            .unwrap();
        let saved = state.load().await.unwrap().expect("a state file");
        assert_eq!(saved, upload.save());
        state.remove().await.unwrap();
        state.remove().await.unwrap();
        done
    });
    assert!(done.found_by_lookup);
    assert!(!dir.join("f.state").exists());
    let leftovers: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(leftovers.len(), 1, "no temporary file left: {leftovers:?}");
    assert_stored(&emu, &file);
}

#[test]
fn a_file_that_shrank_fails_with_a_file_error_before_sending_its_range() {
    let dir = temp_dir("shrunk");
    let file = make_file(&dir, "k.bin", 3_000_000, 26);
    let emu = emulator(&[]);
    let mut upload = new_upload(&emu, 3_000_000, "k.bin", 1_000_000);
    let shrink = file.clone();
    let err = block_on(async {
        // The first save after the session's creation cuts the file short.
        let mut saves = 0;
        let mut uploader = Uploader::new(plain_client(), TOKEN).with_state_sink(
            move |_: &str| -> std::io::Result<()> {
                saves += 1;
                if saves == 1 {
                    std::fs::OpenOptions::new()
                        .write(true)
                        .open(&shrink)?
                        .set_len(500_000)?;
                }
                Ok(())
            },
        );
        uploader.run(&mut upload, &file).await.unwrap_err()
    });
    let Error::File { path, source } = &err else {
        panic!("not a file error: {err:?}");
    };
    assert_eq!(path, &file);
    assert_eq!(source.kind(), std::io::ErrorKind::UnexpectedEof);
    assert!(
        err.to_string().contains("changed during the upload"),
        "{err}"
    );
    assert!(
        upload.in_flight().is_none(),
        "the core was told nothing was sent"
    );
    let requests = emu.requests();
    assert_eq!(requests.len(), 1, "only the create: {requests:?}");
    assert!(requests.iter().all(|r| r.method != "PUT"));
    assert_eq!(emu.violations(), Vec::<String>::new());
}

#[test]
fn a_file_modified_in_place_is_not_sent_from() {
    let dir = temp_dir("modified");
    let file = make_file(&dir, "m.bin", 2_000_000, 31);
    let emu = emulator(&[]);
    let mut upload = new_upload(&emu, 2_000_000, "m.bin", 1_000_000);
    let rewrite = file.clone();
    let err = block_on(async {
        let mut saves = 0;
        let mut uploader = Uploader::new(plain_client(), TOKEN).with_state_sink(
            move |_: &str| -> std::io::Result<()> {
                saves += 1;
                if saves == 1 {
                    // Same size, other bytes.
                    std::fs::write(&rewrite, vec![1u8; 2_000_000])?;
                }
                Ok(())
            },
        );
        uploader.run(&mut upload, &file).await.unwrap_err()
    });
    let Error::File { source, .. } = &err else {
        panic!("not a file error: {err:?}");
    };
    assert_eq!(source.kind(), std::io::ErrorKind::InvalidData, "{err}");
    assert!(emu.requests().iter().all(|r| r.method != "PUT"));
}

#[test]
fn a_file_that_shrinks_while_its_body_streams_fails_without_a_short_body() {
    let dir = temp_dir("shrinking");
    let file = make_file(&dir, "w.bin", 2_000_000, 27);
    let emu = emulator(&[]);
    let mut upload = new_upload(&emu, 2_000_000, "w.bin", 2_000_000);
    let client = plain_client();
    block_on(async {
        let now = Timestamp::from_system_time(std::time::SystemTime::now());
        let Action::Send(create) = upload.poll(now) else {
            panic!("no create")
        };
        let body = RequestBody::for_request(&create, &file).await.unwrap();
        let answer = client.send(&create, body, Some(TOKEN)).await.unwrap();
        upload
            .handle_response(now, create.id(), Response::from(&answer))
            .unwrap();
        let Action::Send(put) = upload.poll(now) else {
            panic!("no PUT")
        };
        assert!(matches!(put.body(), Body::FileRange(_)));

        // The body opened the file and checked its length; then the file is cut short.
        let body = RequestBody::for_request(&put, &file).await.unwrap();
        std::fs::OpenOptions::new()
            .write(true)
            .open(&file)
            .unwrap()
            .set_len(300_000)
            .unwrap();
        let err = client.send(&put, body, None).await.unwrap_err();
        let SendError::File(e) = &err else {
            panic!("not a file error: {err:?}")
        };
        assert_eq!(e.kind(), std::io::ErrorKind::UnexpectedEof, "{e}");

        // The same, read straight from the body: frames of 64 KiB, then an error instead of
        // an end once the file (300,000 of the 2,000,000 bytes) runs out.
        let mut body = RequestBody::for_request(&put, &file).await;
        assert!(body.is_err(), "the length is checked up front");
        std::fs::write(&file, vec![7u8; 2_000_000]).unwrap();
        body = RequestBody::for_request(&put, &file).await;
        let mut body = body.unwrap().with_frame_size(64 * 1024);
        let slot = body.file_error();
        std::fs::OpenOptions::new()
            .write(true)
            .open(&file)
            .unwrap()
            .set_len(300_000)
            .unwrap();
        let mut got = 0usize;
        let end = loop {
            match body.frame().await {
                Some(Ok(frame)) => {
                    let data = frame.into_data().unwrap();
                    assert!(data.len() <= 64 * 1024);
                    got += data.len();
                }
                Some(Err(e)) => break Err(e),
                None => break Ok(()),
            }
        };
        assert!(
            end.is_err(),
            "the body ended after {got} bytes instead of failing"
        );
        // Whole frames only: the frame the file could not fill was never yielded.
        assert_eq!(got, 300_000 / (64 * 1024) * (64 * 1024));
        assert!(slot.take().is_some());
    });
    // The server saw a PUT whose body broke off: not answered, nothing stored, no violation.
    let puts: Vec<_> = emu
        .requests()
        .into_iter()
        .filter(|r| r.method == "PUT")
        .collect();
    assert!(puts.iter().all(|r| r.status.is_none()), "{puts:?}");
    assert!(emu.task_attachments().is_empty());
    assert_eq!(emu.violations(), Vec::<String>::new());
}

#[test]
fn a_cancel_during_a_request_deletes_the_session_once_it_is_answered() {
    let dir = temp_dir("cancel");
    let file = make_file(&dir, "c.bin", 5_000_000, 28);
    let emu = emulator(&["stall=1000@2/put"]);
    let mut upload = new_upload(&emu, 5_000_000, "c.bin", 1_000_000);
    let err = block_on(async {
        let mut uploader = Uploader::new(plain_client(), TOKEN);
        let cancel = uploader.cancel_handle();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(500)).await;
            cancel.cancel();
        });
        uploader.run(&mut upload, &file).await.unwrap_err()
    });
    assert!(matches!(err, Error::Cancelled), "{err:?}");
    assert_eq!(emu.live_sessions(), 0, "the session was deleted");
    let requests = emu.requests();
    let methods: Vec<&str> = requests.iter().map(|r| r.method.as_str()).collect();
    // The stalled PUT was answered, then the DELETE; no further chunk.
    assert_eq!(methods, ["POST", "PUT", "PUT", "DELETE"]);
    assert!(emu.task_attachments().is_empty());
}

#[test]
fn a_refused_connection_is_a_known_outcome() {
    // A port that was just free: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let base = format!("http://127.0.0.1:{port}/v1.0");
    let target = Target::todo_task(&base, Owner::Me, "L", "T").unwrap();
    let mut upload = Upload::new(target, FileInfo::new("x", 10), options(1_000_000)).unwrap();
    let dir = temp_dir("refused");
    let file = make_file(&dir, "x", 10, 29);
    block_on(async {
        let now = Timestamp::from_system_time(std::time::SystemTime::now());
        let Action::Send(req) = upload.poll(now) else {
            panic!()
        };
        let body = RequestBody::for_request(&req, &file).await.unwrap();
        let err = plain_client()
            .send(&req, body, Some(TOKEN))
            .await
            .unwrap_err();
        let SendError::Transport(f) = &err else {
            panic!("{err:?}")
        };
        assert!(!f.kind().outcome_unknown(), "{f}");
        assert_eq!(f.stage(), upload_session_async::Stage::Connect);
        assert!(!err.to_string().contains(TOKEN));
    });
}
