//! Which proxy a request goes through: `HTTPS_PROXY` for `https://` URLs (a `CONNECT` tunnel),
//! `HTTP_PROXY` for `http://` URLs (the request in absolute form), none for a host that
//! `NO_PROXY` names. The environment is read once, into a [`ProxyConfig`] that a caller may as
//! well build by hand.

use std::fmt;
use std::str::FromStr;

use upload_session::Base64Encoder;

use crate::Error;

/// The proxies to use, and the hosts to reach directly.
#[derive(Clone, Default)]
pub struct ProxyConfig {
    http: Option<Proxy>,
    https: Option<Proxy>,
    no_proxy: NoProxy,
}

impl ProxyConfig {
    /// No proxy at all: every connection goes straight to its host.
    pub fn none() -> ProxyConfig {
        ProxyConfig::default()
    }

    /// Reads `https_proxy`/`HTTPS_PROXY`, `http_proxy`/`HTTP_PROXY` and `no_proxy`/`NO_PROXY`
    /// from the process environment (the lowercase name first; an empty value counts as
    /// unset). Fails on a proxy URL this driver cannot use, rather than silently going direct.
    pub fn from_env() -> Result<ProxyConfig, Error> {
        ProxyConfig::from_lookup(|name| std::env::var(name).ok())
    }

    /// As [`ProxyConfig::from_env`], with the variables looked up by `lookup` instead of in
    /// the process environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<ProxyConfig, Error> {
        let var = |lower: &str, upper: &str| {
            lookup(lower)
                .filter(|v| !v.trim().is_empty())
                .or_else(|| lookup(upper).filter(|v| !v.trim().is_empty()))
        };
        let parse = |name: &str, value: Option<String>| {
            value
                .map(|v| Proxy::parse(&v).map_err(|e| Error::Config(format!("{name}: {e}"))))
                .transpose()
        };
        Ok(ProxyConfig {
            https: parse("HTTPS_PROXY", var("https_proxy", "HTTPS_PROXY"))?,
            http: parse("HTTP_PROXY", var("http_proxy", "HTTP_PROXY"))?,
            no_proxy: var("no_proxy", "NO_PROXY")
                .map(|v| NoProxy::parse(&v))
                .unwrap_or_default(),
        })
    }

    /// Uses `proxy` for `http://` URLs.
    pub fn with_http(mut self, proxy: Proxy) -> ProxyConfig {
        self.http = Some(proxy);
        self
    }

    /// Uses `proxy` for `https://` URLs, through a `CONNECT` tunnel.
    pub fn with_https(mut self, proxy: Proxy) -> ProxyConfig {
        self.https = Some(proxy);
        self
    }

    /// Reaches the hosts `no_proxy` names directly.
    pub fn with_no_proxy(mut self, no_proxy: NoProxy) -> ProxyConfig {
        self.no_proxy = no_proxy;
        self
    }

    /// The proxy for `http://` URLs.
    pub fn http(&self) -> Option<&Proxy> {
        self.http.as_ref()
    }

    /// The proxy for `https://` URLs.
    pub fn https(&self) -> Option<&Proxy> {
        self.https.as_ref()
    }

    /// The hosts reached directly.
    pub fn no_proxy(&self) -> &NoProxy {
        &self.no_proxy
    }

    /// The proxy for a URL of this scheme (`http` or `https`) and host, if any.
    pub fn proxy_for(&self, https: bool, host: &str) -> Option<&Proxy> {
        let proxy = if https { self.https() } else { self.http() }?;
        (!self.no_proxy.matches(host)).then_some(proxy)
    }
}

impl fmt::Debug for ProxyConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProxyConfig")
            .field("http", &self.http)
            .field("https", &self.https)
            .field("no_proxy", &self.no_proxy)
            .finish()
    }
}

/// One HTTP proxy: `http://[user:password@]host[:port]` (port 80 when none is given; a URL
/// without a scheme is taken as `http://`). Credentials, percent-decoded, go in
/// `Proxy-Authorization: Basic`; they never appear in `Debug` output.
#[derive(Clone, PartialEq, Eq)]
pub struct Proxy {
    host: String,
    port: u16,
    authorization: Option<String>,
}

impl Proxy {
    /// Parses a proxy URL. Only `http://` proxies are supported (the usual kind: a TLS
    /// connection to the proxy itself is not).
    pub fn parse(url: &str) -> Result<Proxy, String> {
        let url = url.trim();
        let rest = match url.split_once("://") {
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("http") => rest,
            Some((scheme, _)) => {
                return Err(format!(
                    "a {scheme}:// proxy is not supported (only http:// proxies)"
                ))
            }
            None => url,
        };
        let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
        let (userinfo, hostport) = match authority.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, authority),
        };
        let (host, port) = split_host_port(hostport)?;
        if host.is_empty() {
            return Err("the proxy URL names no host".to_owned());
        }
        let authorization = userinfo.map(|u| {
            let (user, password) = u.split_once(':').unwrap_or((u, ""));
            let plain = format!("{}:{}", percent_decode(user), percent_decode(password));
            let mut encoded = b"Basic ".to_vec();
            let mut enc = Base64Encoder::new();
            enc.push(plain.as_bytes(), &mut encoded);
            enc.finish(&mut encoded);
            String::from_utf8_lossy(&encoded).into_owned()
        });
        Ok(Proxy {
            host: host.to_owned(),
            port: port.unwrap_or(80),
            authorization,
        })
    }

    /// The proxy's host (an IPv6 address without brackets).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The proxy's port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Whether the URL carried credentials.
    pub fn has_credentials(&self) -> bool {
        self.authorization.is_some()
    }

    /// The `Proxy-Authorization` value, if the URL carried credentials.
    pub(crate) fn authorization(&self) -> Option<&str> {
        self.authorization.as_deref()
    }
}

impl FromStr for Proxy {
    type Err = String;

    fn from_str(s: &str) -> Result<Proxy, String> {
        Proxy::parse(s)
    }
}

impl fmt::Debug for Proxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Proxy")
            .field("host", &self.host)
            .field("port", &self.port)
            .field(
                "credentials",
                &self.authorization.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

/// `host[:port]`, the host of an IPv6 address in brackets; the host comes back unbracketed.
fn split_host_port(s: &str) -> Result<(&str, Option<u16>), String> {
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let (host, after) = rest
            .split_once(']')
            .ok_or_else(|| format!("{s:?}: an unclosed '['"))?;
        (host, after.strip_prefix(':'))
    } else {
        match s.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (s, None),
        }
    };
    let port = port
        .map(|p| {
            p.parse::<u16>()
                .map_err(|_| format!("{p:?} is not a port number"))
        })
        .transpose()?;
    Ok((host, port))
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| char::from(b).to_digit(16);
        match (bytes[i], bytes.get(i + 1), bytes.get(i + 2)) {
            (b'%', Some(&h), Some(&l)) if hex(h).is_some() && hex(l).is_some() => {
                let v = hex(h).unwrap_or(0) * 16 + hex(l).unwrap_or(0);
                out.push(v as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The hosts to reach without a proxy: `NO_PROXY`'s comma-separated list. `*` names every
/// host; any other entry names that host and every host under it (`example.com` and
/// `.example.com` both match `example.com` and `api.example.com`). A port after an entry is
/// ignored; address ranges (CIDR) are not supported, an IP address matches only itself.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct NoProxy {
    all: bool,
    suffixes: Vec<String>,
}

impl NoProxy {
    /// Parses a `NO_PROXY` value.
    pub fn parse(list: &str) -> NoProxy {
        let mut no = NoProxy::default();
        for entry in list
            .split([',', ' '])
            .map(str::trim)
            .filter(|e| !e.is_empty())
        {
            if entry == "*" {
                no.all = true;
                continue;
            }
            let entry = entry.trim_start_matches("*.").trim_start_matches('.');
            // An IPv6 address without brackets: its colons are not a port.
            let bare_ipv6 = !entry.starts_with('[') && entry.matches(':').count() > 1;
            let host = match split_host_port(entry) {
                Ok((host, _)) if !bare_ipv6 => host,
                _ => entry,
            };
            let host = host.trim_end_matches('.').to_ascii_lowercase();
            if !host.is_empty() {
                no.suffixes.push(host);
            }
        }
        no
    }

    /// Whether `host` (an IPv6 address with or without brackets) is reached directly.
    pub fn matches(&self, host: &str) -> bool {
        if self.all {
            return true;
        }
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host)
            .trim_end_matches('.')
            .to_ascii_lowercase();
        self.suffixes.iter().any(|s| {
            host == *s
                || (host.len() > s.len()
                    && host.ends_with(s.as_str())
                    && host.as_bytes()[host.len() - s.len() - 1] == b'.')
        })
    }
}

impl fmt::Debug for NoProxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.all {
            f.write_str("NoProxy(*)")
        } else {
            f.debug_tuple("NoProxy").field(&self.suffixes).finish()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxy_urls() {
        let p = Proxy::parse("http://proxy.corp:3128/").unwrap();
        assert_eq!(
            (p.host(), p.port(), p.has_credentials()),
            ("proxy.corp", 3128, false)
        );
        let p = Proxy::parse("proxy.corp").unwrap();
        assert_eq!((p.host(), p.port()), ("proxy.corp", 80));
        let p = Proxy::parse("HTTP://[::1]:8080").unwrap();
        assert_eq!((p.host(), p.port()), ("::1", 8080));
        let p = Proxy::parse("http://al%40ice:s3cr%3At@10.0.0.1:8080").unwrap();
        // "al@ice:s3cr:t" in base64.
        assert_eq!(p.authorization(), Some("Basic YWxAaWNlOnMzY3I6dA=="));
        assert!(!format!("{p:?}").contains("s3cr"), "{p:?}");
        assert!(Proxy::parse("https://proxy:443").is_err());
        assert!(Proxy::parse("socks5://proxy:1080").is_err());
        assert!(Proxy::parse("http://proxy:port").is_err());
        assert!(Proxy::parse("http://:8080").is_err());
    }

    #[test]
    fn no_proxy_rules() {
        let no = NoProxy::parse("localhost, .corp.example,example.org:8443 ,10.1.2.3,::1");
        assert!(no.matches("localhost"));
        assert!(no.matches("LOCALHOST."));
        assert!(no.matches("a.corp.example"));
        assert!(no.matches("corp.example"));
        assert!(no.matches("example.org"));
        assert!(no.matches("api.example.org"));
        assert!(!no.matches("badexample.org"));
        assert!(!no.matches("graph.microsoft.com"));
        assert!(no.matches("10.1.2.3"));
        assert!(!no.matches("10.1.2.30"));
        assert!(no.matches("[::1]"));
        assert!(NoProxy::parse("*").matches("anything.example"));
        assert!(!NoProxy::parse("").matches("localhost"));
    }

    #[test]
    fn environment_lookup_prefers_lowercase_and_skips_empty_values() {
        let vars = [
            ("https_proxy", "http://lower:1"),
            ("HTTPS_PROXY", "http://upper:2"),
            ("http_proxy", ""),
            ("HTTP_PROXY", "http://plain:3"),
            ("NO_PROXY", "internal.example"),
        ];
        let config = ProxyConfig::from_lookup(|name| {
            vars.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| (*v).to_owned())
        })
        .unwrap();
        assert_eq!(config.https().map(Proxy::host), Some("lower"));
        assert_eq!(config.http().map(Proxy::host), Some("plain"));
        assert_eq!(
            config
                .proxy_for(true, "graph.microsoft.com")
                .map(Proxy::port),
            Some(1)
        );
        assert_eq!(
            config.proxy_for(false, "x.example").map(Proxy::port),
            Some(3)
        );
        assert!(config.proxy_for(true, "a.internal.example").is_none());
        assert!(ProxyConfig::from_lookup(|_| None)
            .unwrap()
            .proxy_for(true, "h")
            .is_none());
        let bad = ProxyConfig::from_lookup(|n| (n == "HTTPS_PROXY").then(|| "socks5://x".into()));
        assert!(matches!(bad, Err(Error::Config(_))));
    }
}
