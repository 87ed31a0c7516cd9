//! Sending one core [`Request`]: connect (directly, through an HTTP proxy, or through a
//! `CONNECT` tunnel), TLS with rustls on the ring provider, one HTTP/1.1 exchange on a
//! connection of its own, and the answer read whole up to a bound.
//!
//! The rules the core sets for a driver (docs/protocol.md §9) are kept here: the URL verbatim,
//! the core's headers exactly (one exact `Content-Length`, never chunked encoding or
//! compression), no redirects followed, every status returned as an answer, and
//! `Authorization: Bearer` if and only if [`Request::needs_token`] (the core's own `http`
//! conversion adds it, marked sensitive).
//!
//! Failures are sorted by whether any byte of the request may have left: connecting,
//! resolving, the proxy's tunnel and the TLS handshake come before the request is written, so
//! their failures are [`TransportError::Connect`] (a known outcome); anything after that is
//! [`TransportError::Interrupted`] or [`TransportError::Timeout`] (the outcome is unknown).

use std::fmt;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use http_body_util::{BodyExt, Limited};
use hyper::body::Bytes;
use hyper::header::{HeaderValue, HOST, PROXY_AUTHORIZATION, USER_AGENT};
use hyper_util::rt::TokioIo;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;
use upload_session::{Request, TransportError};

use crate::body::RequestBody;
use crate::proxy::{Proxy, ProxyConfig};
use crate::Error;

/// An HTTP answer, its body read whole.
pub type Answer = hyper::Response<Bytes>;

/// The largest answer body read by default: Graph's answers are a few kilobytes, a listing of
/// attachments without their contents some more.
pub const DEFAULT_MAX_ANSWER: usize = 4 * 1024 * 1024;

/// hyper's limit on a connection's buffers: the bytes queued for writing before the body is
/// polled for more, and the largest answer head read.
const CONNECTION_BUFFER: usize = 16 * 1024;

/// The largest proxy reply head to a `CONNECT` read.
const MAX_PROXY_HEAD: usize = 16 * 1024;

/// Settings for a [`Client`]; [`ClientBuilder::build`] makes it.
#[derive(Clone)]
pub struct ClientBuilder {
    native_roots: bool,
    extra_roots: Vec<CertificateDer<'static>>,
    proxy: Option<ProxyConfig>,
    timeout: Duration,
    connect_timeout: Duration,
    max_answer: usize,
}

impl Default for ClientBuilder {
    fn default() -> Self {
        ClientBuilder {
            native_roots: true,
            extra_roots: Vec::new(),
            proxy: None,
            timeout: Duration::from_secs(300),
            connect_timeout: Duration::from_secs(30),
            max_answer: DEFAULT_MAX_ANSWER,
        }
    }
}

impl ClientBuilder {
    /// Whether to trust the system's root certificates (`rustls-native-certs`, which honours
    /// `SSL_CERT_FILE` and `SSL_CERT_DIR`). On by default.
    pub fn native_roots(mut self, yes: bool) -> ClientBuilder {
        self.native_roots = yes;
        self
    }

    /// Also trusts every certificate in `pem` (one or more `BEGIN CERTIFICATE` blocks), for
    /// a private CA or a test server. Fails when `pem` holds no certificate or a broken one.
    pub fn add_root_pem(mut self, pem: &[u8]) -> Result<ClientBuilder, Error> {
        let mut found = 0;
        for cert in CertificateDer::pem_slice_iter(pem) {
            let cert = cert.map_err(|e| Error::Config(format!("a root certificate: {e}")))?;
            self.extra_roots.push(cert);
            found += 1;
        }
        if found == 0 {
            return Err(Error::Config(
                "no certificate in the PEM text given as a root".to_owned(),
            ));
        }
        Ok(self)
    }

    /// Also trusts this DER-encoded certificate.
    pub fn add_root_der(mut self, der: impl Into<Vec<u8>>) -> ClientBuilder {
        self.extra_roots.push(CertificateDer::from(der.into()));
        self
    }

    /// The proxies to use. Without this, [`ClientBuilder::build`] reads them from the
    /// environment once ([`ProxyConfig::from_env`]); [`ProxyConfig::none`] goes direct.
    pub fn proxy(mut self, proxy: ProxyConfig) -> ClientBuilder {
        self.proxy = Some(proxy);
        self
    }

    /// How long one exchange may take once connected: writing the request and its body and
    /// reading the whole answer (5 minutes by default). Past it the request failed with
    /// [`TransportError::Timeout`].
    pub fn timeout(mut self, timeout: Duration) -> ClientBuilder {
        self.timeout = timeout;
        self
    }

    /// How long connecting may take: resolving, TCP, a proxy's tunnel and the TLS handshake
    /// (30 seconds by default, and never more than [`ClientBuilder::timeout`]). Past it the
    /// request failed with [`TransportError::Connect`]: nothing was sent.
    pub fn connect_timeout(mut self, timeout: Duration) -> ClientBuilder {
        self.connect_timeout = timeout;
        self
    }

    /// The largest answer body accepted (4 MiB by default); a longer one counts as a broken
    /// connection.
    pub fn max_answer_bytes(mut self, max: usize) -> ClientBuilder {
        self.max_answer = max;
        self
    }

    /// The client. Reads the system's roots if asked, and the proxy environment if no
    /// [`ProxyConfig`] was given.
    pub fn build(self) -> Result<Client, Error> {
        let mut roots = rustls::RootCertStore::empty();
        if self.native_roots {
            // Unreadable entries are skipped: one bad file must not take every root away.
            let found = rustls_native_certs::load_native_certs();
            roots.add_parsable_certificates(found.certs);
        }
        for cert in self.extra_roots {
            roots
                .add(cert)
                .map_err(|e| Error::Config(format!("a root certificate: {e}")))?;
        }
        let root_count = roots.len();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::Config(format!("TLS: {e}")))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        tls.alpn_protocols = vec![b"http/1.1".to_vec()];
        let proxy = match self.proxy {
            Some(p) => p,
            None => ProxyConfig::from_env()?,
        };
        Ok(Client {
            inner: Arc::new(Inner {
                tls: TlsConnector::from(Arc::new(tls)),
                proxy,
                timeout: self.timeout,
                connect_timeout: self.connect_timeout.min(self.timeout),
                max_answer: self.max_answer,
                root_count,
            }),
        })
    }
}

impl fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("native_roots", &self.native_roots)
            .field("extra_roots", &self.extra_roots.len())
            .field("proxy", &self.proxy)
            .field("timeout", &self.timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("max_answer", &self.max_answer)
            .finish()
    }
}

/// Sends core [`Request`]s over HTTP/1.1, with TLS for `https://` URLs and through the
/// configured proxies. Cheap to clone: clones share the TLS settings. Each request gets a
/// connection of its own, closed when its answer has been read, so a connection that broke
/// can never take the next request down with it.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    tls: TlsConnector,
    proxy: ProxyConfig,
    timeout: Duration,
    connect_timeout: Duration,
    max_answer: usize,
    root_count: usize,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("roots", &self.inner.root_count)
            .field("proxy", &self.inner.proxy)
            .field("timeout", &self.inner.timeout)
            .field("connect_timeout", &self.inner.connect_timeout)
            .field("max_answer", &self.inner.max_answer)
            .finish()
    }
}

/// Why [`Client::send`] brought back no answer.
#[derive(Debug)]
#[non_exhaustive]
pub enum SendError {
    /// The network failed; feed [`TransportFailure::kind`] to
    /// [`Upload::handle_transport_error`](upload_session::Upload::handle_transport_error).
    Transport(TransportFailure),
    /// The file could not be read, or ended before the range did: the body was abandoned, not
    /// sent short. The upload cannot go on with this file.
    File(io::Error),
    /// The request cannot be sent by this client (a URL that is not `http://` or
    /// `https://`, or that the HTTP library refuses).
    Request(String),
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendError::Transport(t) => t.fmt(f),
            SendError::File(e) => write!(f, "cannot read the file: {e}"),
            SendError::Request(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for SendError {}

/// Where on the way a request failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Stage {
    /// Resolving the host or opening the TCP connection (to the host or to the proxy).
    Connect,
    /// The proxy's `CONNECT` tunnel.
    Proxy,
    /// The TLS handshake, certificate checks included.
    Tls,
    /// Writing the request or reading its answer.
    Exchange,
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Stage::Connect => "connect",
            Stage::Proxy => "proxy tunnel",
            Stage::Tls => "TLS handshake",
            Stage::Exchange => "exchange",
        })
    }
}

/// A request that got no HTTP answer: the [`TransportError`] for the core, and what happened
/// where, for people. Never holds the token or a URL's query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransportFailure {
    kind: TransportError,
    stage: Stage,
    message: String,
}

impl TransportFailure {
    fn new(kind: TransportError, stage: Stage, message: String) -> TransportFailure {
        TransportFailure {
            kind,
            stage,
            message,
        }
    }

    /// What to tell the core: [`TransportError::Connect`] when nothing was sent.
    pub fn kind(&self) -> TransportError {
        self.kind
    }

    /// Where it failed.
    pub fn stage(&self) -> Stage {
        self.stage
    }
}

impl fmt::Display for TransportFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let outcome = if self.kind.outcome_unknown() {
            "the request may have reached the server"
        } else {
            "nothing was sent"
        };
        write!(f, "{} ({}; {outcome})", self.message, self.kind)
    }
}

impl std::error::Error for TransportFailure {}

impl Client {
    /// Settings, starting from the defaults.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// A client with the default settings: the system's roots, the proxy environment.
    pub fn new() -> Result<Client, Error> {
        ClientBuilder::default().build()
    }

    /// The proxies this client uses.
    pub fn proxy(&self) -> &ProxyConfig {
        &self.inner.proxy
    }

    /// Sends `req` with `body` (made for it by [`RequestBody::for_request`]) on a connection
    /// of its own, adding `Authorization: Bearer {token}` only if [`Request::needs_token`],
    /// and brings back the answer, whatever its status.
    pub async fn send(
        &self,
        req: &Request,
        body: RequestBody,
        token: Option<&str>,
    ) -> Result<Answer, SendError> {
        let file_error = body.file_error();
        let dest = Destination::parse(req.url()).map_err(|m| {
            SendError::Request(format!("cannot send to {}: {m}", req.redacted_url()))
        })?;
        let proxy = self.inner.proxy.proxy_for(dest.https, &dest.host);
        let refused = |e: &dyn fmt::Display| {
            SendError::Request(format!("cannot send to {}: {e}", req.redacted_url()))
        };
        let mut request = req.to_http(body, token).map_err(|e| refused(&e))?;
        // Through an HTTP proxy an http:// URL goes whole (absolute form); otherwise the
        // path and query, verbatim (docs/protocol.md §2: the uploadUrl is opaque).
        let absolute = proxy.filter(|_| !dest.https);
        if absolute.is_none() {
            *request.uri_mut() = dest.path_and_query.parse().map_err(|e| refused(&e))?;
        }
        let headers = request.headers_mut();
        headers.insert(
            HOST,
            HeaderValue::from_str(&dest.authority).map_err(|e| refused(&e))?,
        );
        headers.insert(
            USER_AGENT,
            HeaderValue::from_static(concat!("upload-session-async/", env!("CARGO_PKG_VERSION"))),
        );
        if let Some(auth) = absolute.and_then(Proxy::authorization) {
            let mut v = HeaderValue::from_str(auth).map_err(|e| refused(&e))?;
            v.set_sensitive(true);
            headers.insert(PROXY_AUTHORIZATION, v);
        }

        let connect = tokio::time::timeout(self.inner.connect_timeout, self.connect(&dest, proxy));
        let stream = match connect.await {
            Ok(Ok(stream)) => stream,
            Ok(Err(failure)) => return Err(SendError::Transport(failure)),
            Err(_elapsed) => {
                return Err(SendError::Transport(TransportFailure::new(
                    TransportError::Connect,
                    Stage::Connect,
                    format!(
                        "could not connect to {} within {:.1} s",
                        dest.name(proxy),
                        self.inner.connect_timeout.as_secs_f64()
                    ),
                )))
            }
        };
        let result =
            match tokio::time::timeout(self.inner.timeout, self.exchange(stream, request)).await {
                Ok(result) => result,
                Err(_elapsed) => Err(TransportFailure::new(
                    TransportError::Timeout,
                    Stage::Exchange,
                    format!(
                        "no complete answer from {} within {:.1} s",
                        dest.name(None),
                        self.inner.timeout.as_secs_f64()
                    ),
                )),
            };
        // A body that failed on the file takes the connection down with it: the file, not
        // the network, is what went wrong.
        result.map_err(|failure| match file_error.take() {
            Some(e) => SendError::File(e),
            None => SendError::Transport(failure),
        })
    }

    /// A connection to the destination, or to the proxy for it, TLS set up for https.
    async fn connect(
        &self,
        dest: &Destination,
        proxy: Option<&Proxy>,
    ) -> Result<Stream, TransportFailure> {
        let (host, port) = match proxy {
            Some(p) => (p.host(), p.port()),
            None => (dest.host.as_str(), dest.port),
        };
        let tcp = TcpStream::connect((host, port)).await.map_err(|e| {
            TransportFailure::new(
                TransportError::Connect,
                Stage::Connect,
                format!("cannot connect to {}: {e}", dest.name(proxy)),
            )
        })?;
        let _ = tcp.set_nodelay(true);
        if !dest.https {
            return Ok(Stream::Plain(tcp));
        }
        let mut tcp = tcp;
        if let Some(proxy) = proxy {
            tunnel(&mut tcp, dest, proxy).await?;
        }
        let tls_failure =
            |message: String| TransportFailure::new(TransportError::Connect, Stage::Tls, message);
        let name = ServerName::try_from(dest.host.clone())
            .map_err(|e| tls_failure(format!("{:?} is not a TLS server name: {e}", dest.host)))?;
        let tls = self.inner.tls.connect(name, tcp).await.map_err(|e| {
            tls_failure(format!(
                "TLS handshake with {} failed: {e}",
                dest.name(None)
            ))
        })?;
        Ok(Stream::Tls(Box::new(tls)))
    }

    /// One HTTP/1.1 exchange on a fresh connection, closed when it ends.
    async fn exchange(
        &self,
        stream: Stream,
        request: hyper::Request<RequestBody>,
    ) -> Result<Answer, TransportFailure> {
        let broken = |what: &str, e: &dyn fmt::Display| {
            TransportFailure::new(
                TransportError::Interrupted,
                Stage::Exchange,
                format!("{what}: {e}"),
            )
        };
        // A small write queue: the body is polled for its next frame only once little of
        // the last is left unsent, so a connection holds about one frame of the file.
        let (mut sender, conn) = hyper::client::conn::http1::Builder::new()
            .max_buf_size(CONNECTION_BUFFER)
            .handshake(TokioIo::new(stream))
            .await
            .map_err(|e| {
                TransportFailure::new(
                    TransportError::Connect,
                    Stage::Exchange,
                    format!("cannot set up HTTP/1.1: {e}"),
                )
            })?;
        let _conn = AbortOnDrop(tokio::spawn(async move {
            let _ = conn.await;
        }));
        let answer = sender
            .send_request(request)
            .await
            .map_err(|e| broken("the connection broke before the answer", &e))?;
        let (parts, body) = answer.into_parts();
        let body = Limited::new(body, self.inner.max_answer)
            .collect()
            .await
            .map_err(|e| broken("the answer's body could not be read", &e))?
            .to_bytes();
        Ok(hyper::Response::from_parts(parts, body))
    }
}

/// Ends the connection's task when the exchange is over or abandoned.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Asks `proxy` for a tunnel to the destination and reads its answer.
async fn tunnel(
    tcp: &mut TcpStream,
    dest: &Destination,
    proxy: &Proxy,
) -> Result<(), TransportFailure> {
    let failure =
        |message: String| TransportFailure::new(TransportError::Connect, Stage::Proxy, message);
    let target = dest.host_port();
    let mut head = format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n");
    if let Some(auth) = proxy.authorization() {
        head.push_str("Proxy-Authorization: ");
        head.push_str(auth);
        head.push_str("\r\n");
    }
    head.push_str("\r\n");
    let name = dest.name(Some(proxy));
    tcp.write_all(head.as_bytes())
        .await
        .map_err(|e| failure(format!("cannot ask {name} for a tunnel: {e}")))?;
    let mut reply = Vec::with_capacity(512);
    let mut piece = [0u8; 512];
    while !reply.windows(4).any(|w| w == b"\r\n\r\n") {
        if reply.len() > MAX_PROXY_HEAD {
            return Err(failure(format!(
                "{name} answered CONNECT with an endless head"
            )));
        }
        let n = tcp
            .read(&mut piece)
            .await
            .map_err(|e| failure(format!("no answer to CONNECT from {name}: {e}")))?;
        if n == 0 {
            return Err(failure(format!("{name} closed the connection on CONNECT")));
        }
        reply.extend_from_slice(&piece[..n]);
    }
    let status_line = reply
        .split(|&b| b == b'\r')
        .next()
        .map(String::from_utf8_lossy)
        .unwrap_or_default();
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok());
    match status {
        Some(200..=299) => Ok(()),
        _ => Err(failure(format!(
            "{name} refused the tunnel: {:?}",
            status_line.chars().take(200).collect::<String>()
        ))),
    }
}

/// Where a URL points.
struct Destination {
    https: bool,
    /// The host, an IPv6 address without brackets.
    host: String,
    port: u16,
    /// `Host` header: the host (bracketed if IPv6) and the port if the URL gave one.
    authority: String,
    path_and_query: String,
}

impl Destination {
    fn parse(url: &str) -> Result<Destination, String> {
        let uri: hyper::Uri = url
            .parse()
            .map_err(|e| format!("the URL cannot be parsed: {e}"))?;
        let https = match uri.scheme_str() {
            Some(s) if s.eq_ignore_ascii_case("https") => true,
            Some(s) if s.eq_ignore_ascii_case("http") => false,
            Some(s) => return Err(format!("a {s}:// URL (only http:// and https://)")),
            None => return Err("a URL without a scheme".to_owned()),
        };
        let bracketed = uri.host().ok_or("a URL without a host")?;
        let host = bracketed
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(bracketed);
        let authority = match uri.port_u16() {
            Some(p) => format!("{bracketed}:{p}"),
            None => bracketed.to_owned(),
        };
        Ok(Destination {
            https,
            host: host.to_owned(),
            port: uri.port_u16().unwrap_or(if https { 443 } else { 80 }),
            authority,
            path_and_query: uri
                .path_and_query()
                .map_or_else(|| "/".to_owned(), |pq| pq.as_str().to_owned()),
        })
    }

    /// `host:port`, the host bracketed if IPv6: the target of a `CONNECT`.
    fn host_port(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// For messages: the destination, and the proxy when there is one.
    fn name(&self, proxy: Option<&Proxy>) -> String {
        match proxy {
            Some(p) => format!(
                "{} through the proxy {}:{}",
                self.host_port(),
                p.host(),
                p.port()
            ),
            None => self.host_port(),
        }
    }
}

/// A connection, with or without TLS.
enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Stream::Plain(s) => s.is_write_vectored(),
            Stream::Tls(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destinations() {
        let d = Destination::parse("https://graph.microsoft.com/v1.0/me?x=1").unwrap();
        assert!(d.https);
        assert_eq!((d.host.as_str(), d.port), ("graph.microsoft.com", 443));
        assert_eq!(d.authority, "graph.microsoft.com");
        assert_eq!(d.path_and_query, "/v1.0/me?x=1");
        let d = Destination::parse("http://[::1]:8080").unwrap();
        assert_eq!((d.host.as_str(), d.port), ("::1", 8080));
        assert_eq!(d.authority, "[::1]:8080");
        assert_eq!(d.host_port(), "[::1]:8080");
        assert_eq!(d.path_and_query, "/");
        assert!(Destination::parse("ftp://h/x").is_err());
        assert!(Destination::parse("/relative").is_err());
    }
}
