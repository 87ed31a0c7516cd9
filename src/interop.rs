//! Conversions to and from the `http` crate (feature `http`), so that drivers on hyper,
//! reqwest or ureq need no glue.

use crate::request::Request;
use crate::response::Response;

impl Request {
    /// This request as an `http::Request` carrying `body` (the driver's bytes for this
    /// request's [`Body`](crate::Body)), with every header of [`Request::headers`] and, when
    /// [`Request::needs_token`] is true and `token` is given, `Authorization: Bearer {token}`.
    /// A token is never added to a request that must not carry one.
    pub fn to_http<B>(
        &self,
        body: B,
        token: Option<&str>,
    ) -> Result<http::Request<B>, http::Error> {
        let mut b = http::Request::builder()
            .method(self.method().as_str())
            .uri(self.url());
        for (name, value) in self.headers() {
            b = b.header(name, value.as_str());
        }
        if let (true, Some(t)) = (self.needs_token(), token) {
            let mut v = http::HeaderValue::try_from(format!("Bearer {t}"))?;
            v.set_sensitive(true);
            b = b.header(http::header::AUTHORIZATION, v);
        }
        b.body(body)
    }
}

impl<'a, B: AsRef<[u8]>> From<&'a http::Response<B>> for Response<'a> {
    /// Borrows the status, the headers the machine reads, and the body. Header values that are
    /// not visible ASCII are skipped.
    fn from(r: &'a http::Response<B>) -> Self {
        let headers = r
            .headers()
            .iter()
            .filter_map(|(n, v)| v.to_str().ok().map(|v| (n.as_str(), v)));
        Response::new(r.status().as_u16())
            .headers(headers)
            .body(r.body().as_ref())
    }
}

#[cfg(test)]
mod tests {
    use crate::{Action, FileInfo, Options, Owner, Target, Timestamp, Upload};

    #[test]
    fn round_trip_through_http_types() {
        let target =
            Target::todo_task("https://graph.microsoft.com/v1.0", Owner::Me, "L", "T").unwrap();
        let mut up =
            Upload::new(target, FileInfo::new("a", 5_000_000), Options::default()).unwrap();
        let now = Timestamp::from_unix_millis(1);
        let Action::Send(req) = up.poll(now) else {
            panic!()
        };
        let h = req.to_http(Vec::<u8>::new(), Some("tok")).unwrap();
        assert_eq!(h.method(), http::Method::POST);
        assert_eq!(h.headers()["authorization"], "Bearer tok");
        assert!(h.headers()["authorization"].is_sensitive());
        assert_eq!(h.headers()["content-type"], "application/json");
        let resp = http::Response::builder()
            .status(200)
            .header("x-other", "1")
            .body(br#"{"uploadUrl": "https://elsewhere.example/u?tempauth=x"}"#.to_vec())
            .unwrap();
        up.handle_response(now, req.id(), (&resp).into()).unwrap();
        let Action::Send(put) = up.poll(now) else {
            panic!()
        };
        let h = put.to_http((), Some("tok")).unwrap();
        assert!(
            h.headers().get("authorization").is_none(),
            "no token to a foreign origin"
        );
        assert_eq!(h.headers()["content-range"], "bytes 0-3932159/5000000");
        assert_eq!(h.uri(), "https://elsewhere.example/u/content?tempauth=x");
    }
}
