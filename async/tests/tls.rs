//! https:// through a TLS front (a rustls server with a generated certificate, relaying to
//! the emulator): trusted through the extra-roots option, the single POST goes through
//! byte-exact; an untrusted certificate fails the handshake, a known outcome with nothing
//! sent.

mod common;

use std::time::Duration;

use common::*;
use upload_session::{Action, RetryPolicy, Timestamp};
use upload_session_async::{Client, Error, ProxyConfig, RequestBody, SendError, Stage, Uploader};

#[test]
fn a_front_trusted_through_an_extra_root_carries_the_upload() {
    let dir = temp_dir("tls-ok");
    let file = make_file(&dir, "t.bin", 200_000, 31);
    let emu = emulator(&[]);
    let upstream = emu.graph_addr();
    let (cert, pem, key) = certificate();
    let done = block_on(async {
        let (front, log) = tls_front(upstream, cert, key).await;
        let base = format!("https://localhost:{}/v1.0", front.port());
        let mut upload = new_upload_at(&base, &emu, 200_000, "t.bin", post_options());
        let client = Client::builder()
            .native_roots(false)
            .add_root_pem(pem.as_bytes())
            .unwrap()
            .proxy(ProxyConfig::none())
            .build()
            .unwrap();
        let done = Uploader::new(client, TOKEN)
            .run(&mut upload, &file)
            .await
            .unwrap();
        assert_eq!(log.lock().unwrap().handshakes_failed, 0);
        assert!(log.lock().unwrap().accepted >= 1);
        done
    });
    assert_eq!(done.size, 200_000);
    assert_stored(&emu, &file);
    let requests = emu.requests();
    assert_eq!(requests.len(), 1, "one single POST: {requests:?}");
    assert!(requests[0].bearer_valid);
    assert_eq!(emu.violations(), Vec::<String>::new());
}

#[test]
fn an_untrusted_certificate_fails_the_handshake_as_a_known_outcome() {
    let dir = temp_dir("tls-bad");
    let file = make_file(&dir, "u.bin", 50_000, 32);
    let emu = emulator(&[]);
    let upstream = emu.graph_addr();
    let (cert, _, key) = certificate();
    // Another certificate is trusted, not the front's.
    let (_, other_pem, _) = certificate();
    block_on(async {
        let (front, log) = tls_front(upstream, cert, key).await;
        let base = format!("https://localhost:{}/v1.0", front.port());
        let client = Client::builder()
            .native_roots(false)
            .add_root_pem(other_pem.as_bytes())
            .unwrap()
            .proxy(ProxyConfig::none())
            .build()
            .unwrap();

        // One request by hand: the failure is the TLS handshake's, and nothing was sent.
        let mut upload = new_upload_at(&base, &emu, 50_000, "u.bin", options(3_932_160));
        let now = Timestamp::from_system_time(std::time::SystemTime::now());
        let Action::Send(req) = upload.poll(now) else {
            panic!("no request")
        };
        let body = RequestBody::for_request(&req, &file).await.unwrap();
        let err = client.send(&req, body, Some(TOKEN)).await.unwrap_err();
        let SendError::Transport(failure) = &err else {
            panic!("{err:?}")
        };
        assert_eq!(failure.stage(), Stage::Tls, "{failure}");
        assert!(
            !failure.kind().outcome_unknown(),
            "a known outcome: {failure}"
        );
        let text = failure.to_string();
        assert!(
            text.contains("certificate") && text.contains("nothing was sent"),
            "{text}"
        );
        assert!(!text.contains(TOKEN));

        // Driven to the end: the core retries connecting, then gives up; never a look-up.
        let mut upload = new_upload_at(
            &base,
            &emu,
            50_000,
            "u.bin",
            options(3_932_160).with_retry(RetryPolicy {
                initial: Duration::from_millis(10),
                max_attempts: 3,
                ..RetryPolicy::default()
            }),
        );
        let mut uploader = Uploader::new(client, TOKEN);
        let err = uploader.run(&mut upload, &file).await.unwrap_err();
        assert!(matches!(err, Error::Upload(_)), "{err:?}");
        assert!(!upload.result_may_exist());
        assert_eq!(
            uploader.last_transport_failure().unwrap().stage(),
            Stage::Tls
        );
        // The first request by hand, then the core's three tries: four connections.
        assert_eq!(log.lock().unwrap().accepted, 4);
    });
    assert!(emu.requests().is_empty(), "nothing reached the server");
}

#[test]
fn a_broken_root_is_a_config_error() {
    let err = Client::builder()
        .add_root_pem(b"not a certificate")
        .unwrap_err();
    assert!(matches!(err, Error::Config(_)), "{err:?}");
}
