//! Proxies: an http:// upload through an HTTP proxy in absolute form (with credentials from
//! the proxy URL), an https:// upload through a CONNECT tunnel, and NO_PROXY going direct.
//! The test proxy records what it was asked.

mod common;

use common::*;
use upload_session_async::{Client, NoProxy, Proxy, ProxyConfig, Uploader};

fn client_with(proxy: ProxyConfig, pem: Option<&str>) -> Client {
    let mut b = Client::builder().native_roots(false).proxy(proxy);
    if let Some(pem) = pem {
        b = b.add_root_pem(pem.as_bytes()).unwrap();
    }
    b.build().unwrap()
}

#[test]
fn http_through_a_proxy_in_absolute_form_with_credentials_and_faults() {
    let dir = temp_dir("proxy-http");
    let file = make_file(&dir, "h.bin", 3_000_000, 41);
    let emu = emulator(&["drop@2/put"]);
    let mut upload = new_upload(&emu, 3_000_000, "h.bin", 1_000_000);
    let base = emu.base_url();
    let log = block_on(async {
        let (addr, log) = proxy().await;
        // The lookup stands in for the environment: nothing here touches the process's.
        let config = ProxyConfig::from_lookup(|name| match name {
            "http_proxy" => Some(format!("http://user:p%40ss@{addr}")),
            "https_proxy" => Some("http://127.0.0.1:9".to_owned()),
            _ => None,
        })
        .unwrap();
        assert!(!format!("{config:?}").contains("p@ss"));
        let client = client_with(config, None);
        Uploader::new(client, TOKEN)
            .run(&mut upload, &file)
            .await
            .unwrap();
        let log = log.lock().unwrap().clone();
        log
    });
    assert_stored(&emu, &file);
    let origin = base.trim_end_matches("/v1.0");
    assert!(log.lines.len() >= 4, "{log:?}");
    assert!(
        log.lines.iter().all(|l| l.contains(&format!(" {origin}/"))),
        "every request in absolute form: {log:?}"
    );
    assert!(log.lines[0].starts_with("POST "), "{log:?}");
    // "user:p@ss" in base64, on every request.
    assert_eq!(log.authorizations.len(), log.lines.len());
    assert!(log.authorizations.iter().all(|a| a == "Basic dXNlcjpwQHNz"));
    assert_eq!(faulted(&emu, "drop"), 1);
    assert_eq!(emu.violations(), Vec::<String>::new());
}

#[test]
fn https_through_a_connect_tunnel() {
    let dir = temp_dir("proxy-https");
    let file = make_file(&dir, "s.bin", 120_000, 42);
    let emu = emulator(&[]);
    let upstream = emu.graph_addr();
    let (cert, pem, key) = certificate();
    let (front_port, log) = block_on(async {
        let (front, _) = tls_front(upstream, cert, key).await;
        let (addr, log) = proxy().await;
        let proxy = Proxy::parse(&format!("http://tunnel:s3cret@{addr}")).unwrap();
        let config = ProxyConfig::none().with_https(proxy);
        let base = format!("https://localhost:{}/v1.0", front.port());
        let mut upload = new_upload_at(&base, &emu, 120_000, "s.bin", post_options());
        Uploader::new(client_with(config, Some(&pem)), TOKEN)
            .run(&mut upload, &file)
            .await
            .unwrap();
        let log = log.lock().unwrap().clone();
        (front.port(), log)
    });
    assert_stored(&emu, &file);
    assert_eq!(
        log.lines,
        vec![format!("CONNECT localhost:{front_port} HTTP/1.1")],
        "the single POST went through one tunnel"
    );
    // "tunnel:s3cret" in base64, on the CONNECT only (the tunnelled request is TLS).
    assert_eq!(log.authorizations, ["Basic dHVubmVsOnMzY3JldA=="]);
}

#[test]
fn no_proxy_hosts_go_direct() {
    let dir = temp_dir("proxy-bypass");
    let file = make_file(&dir, "n.bin", 2_000_000, 43);
    let emu = emulator(&[]);
    let mut upload = new_upload(&emu, 2_000_000, "n.bin", 1_000_000);
    let log = block_on(async {
        let (addr, log) = proxy().await;
        let proxy = Proxy::parse(&format!("http://{addr}")).unwrap();
        let config = ProxyConfig::none()
            .with_http(proxy.clone())
            .with_https(proxy)
            .with_no_proxy(NoProxy::parse("example.org, 127.0.0.1"));
        Uploader::new(client_with(config, None), TOKEN)
            .run(&mut upload, &file)
            .await
            .unwrap();
        let log = log.lock().unwrap().clone();
        log
    });
    assert_stored(&emu, &file);
    assert!(log.lines.is_empty(), "the proxy was used: {log:?}");

    // And `*` bypasses every host.
    let config = ProxyConfig::from_lookup(|name| match name {
        "HTTP_PROXY" => Some("http://proxy.invalid:3128".to_owned()),
        "NO_PROXY" => Some("*".to_owned()),
        _ => None,
    })
    .unwrap();
    assert!(config.proxy_for(false, "127.0.0.1").is_none());
    assert!(config.proxy_for(false, "graph.microsoft.com").is_none());
}
