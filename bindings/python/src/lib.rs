//! `upload_session._native`: the upload-session core as a Python extension module.
//!
//! The module is thin on purpose: it converts Python values to the core's types and back,
//! and raises the exceptions defined in `upload_session.errors` (pure Python) for the
//! core's errors. Times are integer milliseconds since the Unix epoch, as in the core.

#![forbid(unsafe_code)]

mod errors;
mod values;

use std::borrow::Cow;

use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyString, PyTuple};
use upload_session as core;

use errors::{caller_error, config_error, failure_exception, restore_error};
use values::{purpose_name, state_name, wait_reason_name};

/// A validated upload destination.
#[pyclass(frozen, module = "upload_session._native", name = "Target")]
struct Target {
    inner: core::Target,
}

fn owner(user: Option<String>) -> core::Owner {
    match user {
        Some(id) => core::Owner::User(id),
        None => core::Owner::Me,
    }
}

#[pymethods]
impl Target {
    /// A To Do task's attachments.
    #[staticmethod]
    #[pyo3(signature = (base_url, list_id, task_id, *, user=None))]
    fn todo_task(
        py: Python<'_>,
        base_url: &str,
        list_id: &str,
        task_id: &str,
        user: Option<String>,
    ) -> PyResult<Target> {
        core::Target::todo_task(base_url, owner(user), list_id, task_id)
            .map(|inner| Target { inner })
            .map_err(|e| config_error(py, &e.to_string()))
    }

    /// A OneDrive or SharePoint drive item, by `path` or by `parent` folder id and `name`.
    #[staticmethod]
    #[pyo3(signature = (base_url, *, path=None, parent=None, name=None, drive="me", drive_id=None, conflict="fail", defer_commit=false))]
    #[allow(clippy::too_many_arguments)]
    fn drive_item(
        py: Python<'_>,
        base_url: &str,
        path: Option<String>,
        parent: Option<String>,
        name: Option<String>,
        drive: &str,
        drive_id: Option<String>,
        conflict: &str,
        defer_commit: bool,
    ) -> PyResult<Target> {
        let bad = |msg: String| config_error(py, &msg);
        let id = |what: &str| {
            drive_id
                .clone()
                .ok_or_else(|| bad(format!("drive={what:?} needs drive_id")))
        };
        let drive = match drive {
            "me" if drive_id.is_none() => core::Drive::Me,
            "me" => return Err(bad("drive=\"me\" takes no drive_id".into())),
            "id" => core::Drive::Id(id("id")?),
            "user" => core::Drive::User(id("user")?),
            "group" => core::Drive::Group(id("group")?),
            "site" => core::Drive::Site(id("site")?),
            other => {
                return Err(bad(format!(
                    "drive must be \"me\", \"id\", \"user\", \"group\" or \"site\", not {other:?}"
                )))
            }
        };
        let place = match (path, parent, name) {
            (Some(path), None, None) => core::DrivePlace::Path(path),
            (None, Some(item), Some(name)) => core::DrivePlace::Parent { item, name },
            _ => return Err(bad("give either path, or both parent and name".to_owned())),
        };
        let conflict = match conflict {
            "fail" => core::Conflict::Fail,
            "replace" => core::Conflict::Replace,
            "rename" => core::Conflict::Rename,
            other => {
                return Err(bad(format!(
                    "conflict must be \"fail\", \"replace\" or \"rename\", not {other:?}"
                )))
            }
        };
        core::Target::drive_item(base_url, drive, place, conflict)
            .and_then(|t| {
                if defer_commit {
                    t.with_defer_commit()
                } else {
                    Ok(t)
                }
            })
            .map(|inner| Target { inner })
            .map_err(|e| config_error(py, &e.to_string()))
    }

    /// An Outlook message's or event's attachments.
    #[staticmethod]
    #[pyo3(signature = (base_url, item, item_id, *, user=None, inline_content_id=None))]
    fn outlook_attachment(
        py: Python<'_>,
        base_url: &str,
        item: &str,
        item_id: &str,
        user: Option<String>,
        inline_content_id: Option<&str>,
    ) -> PyResult<Target> {
        let item = match item {
            "message" => core::OutlookItem::Message,
            "event" => core::OutlookItem::Event,
            other => {
                return Err(config_error(
                    py,
                    &format!("item must be \"message\" or \"event\", not {other:?}"),
                ))
            }
        };
        core::Target::outlook_attachment(base_url, owner(user), item, item_id)
            .and_then(|t| match inline_content_id {
                Some(id) => t.with_inline(id),
                None => Ok(t),
            })
            .map(|inner| Target { inner })
            .map_err(|e| config_error(py, &e.to_string()))
    }

    /// A Universal Print document.
    #[staticmethod]
    fn print_document(
        py: Python<'_>,
        base_url: &str,
        printer_id: &str,
        job_id: &str,
        document_id: &str,
    ) -> PyResult<Target> {
        core::Target::print_document(base_url, printer_id, job_id, document_id)
            .map(|inner| Target { inner })
            .map_err(|e| config_error(py, &e.to_string()))
    }

    #[getter]
    fn profile(&self) -> Profile {
        Profile {
            inner: self.inner.profile().clone(),
        }
    }

    #[getter]
    fn base_url(&self) -> &str {
        self.inner.base_url()
    }

    #[getter]
    fn create_url(&self) -> &str {
        self.inner.create_url()
    }

    #[getter]
    fn collection_url(&self) -> Option<&str> {
        self.inner.collection_url()
    }

    #[getter]
    fn lookup_url(&self) -> Option<&str> {
        self.inner.lookup_url()
    }

    #[getter]
    fn defers_commit(&self) -> bool {
        self.inner.defers_commit()
    }

    #[getter]
    fn inline_content_id(&self) -> Option<&str> {
        self.inner.inline_content_id()
    }

    /// Whether a request to `url` may carry the bearer token (the base URL's origin only).
    fn is_graph_origin(&self, url: &str) -> bool {
        self.inner.is_graph_origin(url)
    }

    fn __repr__(&self) -> String {
        format!(
            "Target(profile={:?}, create_url={:?})",
            self.inner.profile().name,
            self.inner.create_url()
        )
    }
}

/// A destination's rules, read-only.
#[pyclass(frozen, module = "upload_session._native", name = "Profile")]
struct Profile {
    inner: core::Profile,
}

#[pymethods]
impl Profile {
    #[getter]
    fn name(&self) -> &'static str {
        self.inner.name
    }
    #[getter]
    fn max_chunk(&self) -> u64 {
        self.inner.max_chunk
    }
    #[getter]
    fn chunk_align(&self) -> u64 {
        self.inner.chunk_align
    }
    #[getter]
    fn default_chunk(&self) -> u64 {
        self.inner.default_chunk
    }
    #[getter]
    fn max_size(&self) -> u64 {
        self.inner.max_size
    }
    #[getter]
    fn single_post_below(&self) -> Option<u64> {
        self.inner.single_post_below
    }
    #[getter]
    fn session_needs_token(&self) -> bool {
        self.inner.session_auth == core::SessionAuth::Bearer
    }
    fn __repr__(&self) -> String {
        format!(
            "Profile(name={:?}, max_chunk={}, chunk_align={}, default_chunk={}, max_size={})",
            self.inner.name,
            self.inner.max_chunk,
            self.inner.chunk_align,
            self.inner.default_chunk,
            self.inner.max_size
        )
    }
}

/// The file, as the machine knows it: name, size, content type, fingerprint.
#[pyclass(frozen, module = "upload_session._native", name = "FileInfo")]
struct FileInfo {
    inner: core::FileInfo,
}

#[pymethods]
impl FileInfo {
    #[new]
    #[pyo3(signature = (name, size, *, content_type="application/octet-stream", fingerprint="", quick_xor_hash=None))]
    fn new(
        name: String,
        size: u64,
        content_type: &str,
        fingerprint: &str,
        quick_xor_hash: Option<&str>,
    ) -> FileInfo {
        let mut inner = core::FileInfo::new(name, size)
            .with_content_type(content_type)
            .with_fingerprint(fingerprint);
        if let Some(hash) = quick_xor_hash {
            inner = inner.with_quick_xor_hash(hash);
        }
        FileInfo { inner }
    }
    #[getter]
    fn quick_xor_hash(&self) -> Option<&str> {
        self.inner.quick_xor_hash()
    }
    #[getter]
    fn name(&self) -> &str {
        self.inner.name()
    }
    #[getter]
    fn size(&self) -> u64 {
        self.inner.size()
    }
    #[getter]
    fn content_type(&self) -> &str {
        self.inner.content_type()
    }
    #[getter]
    fn fingerprint(&self) -> &str {
        self.inner.fingerprint()
    }
    fn __repr__(&self) -> String {
        format!(
            "FileInfo(name={:?}, size={}, content_type={:?}, fingerprint={:?})",
            self.inner.name(),
            self.inner.size(),
            self.inner.content_type(),
            self.inner.fingerprint()
        )
    }
}

/// How transient failures are retried; durations in milliseconds.
#[pyclass(frozen, module = "upload_session._native", name = "RetryPolicy")]
struct RetryPolicy {
    inner: core::RetryPolicy,
}

fn py_bool(b: bool) -> &'static str {
    if b {
        "True"
    } else {
        "False"
    }
}

fn py_opt(v: Option<u64>) -> String {
    v.map_or_else(|| "None".to_owned(), |n| n.to_string())
}

fn ms(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[pymethods]
impl RetryPolicy {
    #[new]
    #[pyo3(signature = (*, initial_ms=None, max_wait_ms=None, max_total_ms=None, max_attempts=None, seed=None))]
    fn new(
        initial_ms: Option<u64>,
        max_wait_ms: Option<u64>,
        max_total_ms: Option<u64>,
        max_attempts: Option<u32>,
        seed: Option<u64>,
    ) -> RetryPolicy {
        use std::time::Duration;
        let mut p = core::RetryPolicy::default();
        if let Some(v) = initial_ms {
            p.initial = Duration::from_millis(v);
        }
        if let Some(v) = max_wait_ms {
            p.max_wait = Duration::from_millis(v);
        }
        if let Some(v) = max_total_ms {
            p.max_total = Duration::from_millis(v);
        }
        if let Some(v) = max_attempts {
            p.max_attempts = v;
        }
        if let Some(v) = seed {
            p.seed = v;
        }
        RetryPolicy { inner: p }
    }
    #[getter]
    fn initial_ms(&self) -> u64 {
        ms(self.inner.initial)
    }
    #[getter]
    fn max_wait_ms(&self) -> u64 {
        ms(self.inner.max_wait)
    }
    #[getter]
    fn max_total_ms(&self) -> u64 {
        ms(self.inner.max_total)
    }
    #[getter]
    fn max_attempts(&self) -> u32 {
        self.inner.max_attempts
    }
    #[getter]
    fn seed(&self) -> u64 {
        self.inner.seed
    }
    fn __repr__(&self) -> String {
        format!(
            "RetryPolicy(initial_ms={}, max_wait_ms={}, max_total_ms={}, max_attempts={}, seed={})",
            self.initial_ms(),
            self.max_wait_ms(),
            self.max_total_ms(),
            self.inner.max_attempts,
            self.inner.seed
        )
    }
}

/// How an upload behaves.
#[pyclass(frozen, module = "upload_session._native", name = "Options")]
struct Options {
    inner: core::Options,
}

#[pymethods]
impl Options {
    #[new]
    #[pyo3(signature = (*, chunk_size=None, force_session=false, max_restarts=None, size_limit=None, retry=None))]
    fn new(
        chunk_size: Option<u64>,
        force_session: bool,
        max_restarts: Option<u32>,
        size_limit: Option<u64>,
        retry: Option<PyRef<'_, RetryPolicy>>,
    ) -> Options {
        let mut o = core::Options::default()
            .with_force_session(force_session)
            .with_size_limit(size_limit);
        o.chunk_size = chunk_size;
        if let Some(r) = max_restarts {
            o = o.with_max_restarts(r);
        }
        if let Some(r) = retry {
            o = o.with_retry(r.inner.clone());
        }
        Options { inner: o }
    }
    #[getter]
    fn chunk_size(&self) -> Option<u64> {
        self.inner.chunk_size
    }
    #[getter]
    fn force_session(&self) -> bool {
        self.inner.force_session
    }
    #[getter]
    fn max_restarts(&self) -> u32 {
        self.inner.max_restarts
    }
    #[getter]
    fn size_limit(&self) -> Option<u64> {
        self.inner.size_limit
    }
    #[getter]
    fn retry(&self) -> RetryPolicy {
        RetryPolicy {
            inner: self.inner.retry.clone(),
        }
    }
    fn __repr__(&self) -> String {
        format!(
            "Options(chunk_size={}, force_session={}, max_restarts={}, size_limit={})",
            py_opt(self.inner.chunk_size),
            py_bool(self.inner.force_session),
            self.inner.max_restarts,
            py_opt(self.inner.size_limit)
        )
    }
}

/// No body.
#[pyclass(frozen, module = "upload_session._native", name = "EmptyBody")]
struct EmptyBody;

#[pymethods]
impl EmptyBody {
    #[classattr]
    fn __match_args__(py: Python<'_>) -> Py<PyTuple> {
        PyTuple::empty(py).unbind()
    }
    fn __repr__(&self) -> &'static str {
        "EmptyBody()"
    }
}

/// A JSON document, sent as `application/json`.
#[pyclass(frozen, module = "upload_session._native", name = "JsonBody")]
struct JsonBody {
    #[pyo3(get)]
    data: Py<PyBytes>,
}

#[pymethods]
impl JsonBody {
    #[classattr]
    fn __match_args__() -> (&'static str,) {
        ("data",)
    }
    fn __repr__(&self, py: Python<'_>) -> String {
        format!("JsonBody({} bytes)", self.data.bind(py).as_bytes().len())
    }
}

/// Bytes `start` to `end` (exclusive) of the file, sent as `application/octet-stream`.
#[pyclass(frozen, module = "upload_session._native", name = "FileRangeBody")]
struct FileRangeBody {
    #[pyo3(get)]
    start: u64,
    #[pyo3(get)]
    end: u64,
}

#[pymethods]
impl FileRangeBody {
    #[classattr]
    fn __match_args__() -> (&'static str, &'static str) {
        ("start", "end")
    }
    fn __len__(&self) -> usize {
        usize::try_from(self.end - self.start).unwrap_or(usize::MAX)
    }
    fn __repr__(&self) -> String {
        format!("FileRangeBody(start={}, end={})", self.start, self.end)
    }
}

/// JSON that embeds the file base64-encoded: `prefix`, the base64 of the file's bytes
/// `start` to `end` (none for an empty file), then `suffix`.
#[pyclass(
    frozen,
    module = "upload_session._native",
    name = "JsonWithBase64FileBody"
)]
struct JsonWithBase64FileBody {
    #[pyo3(get)]
    prefix: Py<PyBytes>,
    #[pyo3(get)]
    range: Option<(u64, u64)>,
    #[pyo3(get)]
    suffix: Py<PyBytes>,
}

#[pymethods]
impl JsonWithBase64FileBody {
    #[classattr]
    fn __match_args__() -> (&'static str, &'static str, &'static str) {
        ("prefix", "range", "suffix")
    }
    fn __repr__(&self) -> String {
        format!("JsonWithBase64FileBody(range={:?})", self.range)
    }
}

/// One HTTP request to send, with a byte range of the file instead of bytes.
#[pyclass(frozen, module = "upload_session._native", name = "Request")]
struct Request {
    inner: core::Request,
}

#[pymethods]
impl Request {
    /// The id to answer with.
    #[getter]
    fn id(&self) -> u64 {
        self.inner.id().get()
    }
    #[getter]
    fn purpose(&self) -> &'static str {
        purpose_name(self.inner.purpose())
    }
    #[getter]
    fn method(&self) -> &'static str {
        self.inner.method().as_str()
    }
    /// The URL, verbatim: it may carry a credential in its query.
    #[getter]
    fn url(&self) -> &str {
        self.inner.url()
    }
    /// The URL with its query hidden, for logs.
    #[getter]
    fn redacted_url(&self) -> String {
        self.inner.redacted_url().as_str().to_owned()
    }
    #[getter]
    fn needs_token(&self) -> bool {
        self.inner.needs_token()
    }
    #[getter]
    fn save_before_sending(&self) -> bool {
        self.inner.save_before_sending()
    }
    #[getter]
    fn content_length(&self) -> Option<u64> {
        self.inner.content_length()
    }
    #[getter]
    fn content_type(&self) -> Option<&'static str> {
        self.inner.content_type()
    }
    #[getter]
    fn content_range(&self) -> Option<String> {
        self.inner.content_range().map(|r| r.to_string())
    }
    #[getter]
    fn file_range(&self) -> Option<(u64, u64)> {
        self.inner.file_range().map(|r| (r.start(), r.end()))
    }
    /// The headers to send, `Authorization` aside.
    #[getter]
    fn headers<'py>(&self, py: Python<'py>) -> PyResult<Vec<Bound<'py, PyTuple>>> {
        self.inner
            .headers()
            .map(|(n, v)| PyTuple::new(py, [n, v.as_str()]))
            .collect()
    }
    #[getter]
    fn body(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        Ok(match self.inner.body() {
            core::Body::Empty => Py::new(py, EmptyBody)?.into_any(),
            core::Body::Json(s) => Py::new(
                py,
                JsonBody {
                    data: PyBytes::new(py, s.as_bytes()).unbind(),
                },
            )?
            .into_any(),
            core::Body::FileRange(r) => Py::new(
                py,
                FileRangeBody {
                    start: r.start(),
                    end: r.end(),
                },
            )?
            .into_any(),
            core::Body::JsonWithBase64File {
                prefix,
                range,
                suffix,
            } => Py::new(
                py,
                JsonWithBase64FileBody {
                    prefix: PyBytes::new(py, prefix.as_bytes()).unbind(),
                    range: range.map(|r| (r.start(), r.end())),
                    suffix: PyBytes::new(py, suffix.as_bytes()).unbind(),
                },
            )?
            .into_any(),
        })
    }
    fn __repr__(&self) -> String {
        format!(
            "Request(id={}, purpose={:?}, method={:?}, url={:?}, needs_token={}, content_range={})",
            self.id(),
            self.purpose(),
            self.method(),
            self.redacted_url(),
            py_bool(self.inner.needs_token()),
            self.content_range()
                .map_or_else(|| "None".to_owned(), |r| format!("{r:?}"))
        )
    }
}

/// What a completed upload produced.
#[pyclass(frozen, module = "upload_session._native", name = "Completion")]
struct Completion {
    #[pyo3(get)]
    id: String,
    #[pyo3(get)]
    location: Option<String>,
    #[pyo3(get)]
    size: u64,
    #[pyo3(get)]
    found_by_lookup: bool,
    #[pyo3(get)]
    web_url: Option<String>,
    #[pyo3(get)]
    quick_xor_hash: Option<String>,
}

impl Completion {
    fn from_core(c: &core::Completion) -> Completion {
        Completion {
            id: c.id.clone(),
            location: c.location.clone(),
            size: c.size,
            found_by_lookup: c.found_by_lookup,
            web_url: c.web_url.clone(),
            quick_xor_hash: c.quick_xor_hash.clone(),
        }
    }
}

#[pymethods]
impl Completion {
    fn __repr__(&self) -> String {
        format!(
            "Completion(id={:?}, size={}, found_by_lookup={})",
            self.id,
            self.size,
            py_bool(self.found_by_lookup)
        )
    }
    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        other.cast::<Completion>().is_ok_and(|o| {
            let o = o.get();
            o.id == self.id
                && o.location == self.location
                && o.size == self.size
                && o.found_by_lookup == self.found_by_lookup
                && o.web_url == self.web_url
                && o.quick_xor_hash == self.quick_xor_hash
        })
    }
}

/// Bytes the server confirmed holding, of the total.
#[pyclass(frozen, module = "upload_session._native", name = "Progress")]
struct Progress {
    #[pyo3(get)]
    confirmed: u64,
    #[pyo3(get)]
    total: u64,
}

#[pymethods]
impl Progress {
    #[classattr]
    fn __match_args__() -> (&'static str, &'static str) {
        ("confirmed", "total")
    }
    /// `confirmed / total`, 1.0 for an empty file.
    #[getter]
    fn fraction(&self) -> f64 {
        if self.total == 0 {
            1.0
        } else {
            self.confirmed as f64 / self.total as f64
        }
    }
    fn __repr__(&self) -> String {
        format!(
            "Progress(confirmed={}, total={})",
            self.confirmed, self.total
        )
    }
}

/// Action: send this request, then answer it with its id.
#[pyclass(frozen, module = "upload_session._native", name = "Send")]
struct Send {
    #[pyo3(get)]
    request: Py<Request>,
}

#[pymethods]
impl Send {
    #[classattr]
    fn __match_args__() -> (&'static str,) {
        ("request",)
    }
    fn __repr__(&self) -> String {
        format!("Send({})", self.request.get().__repr__())
    }
}

/// Action: send nothing before `until` (Unix milliseconds), then poll again.
#[pyclass(frozen, module = "upload_session._native", name = "Wait")]
struct Wait {
    #[pyo3(get)]
    until: u64,
    #[pyo3(get)]
    reason: &'static str,
}

#[pymethods]
impl Wait {
    #[classattr]
    fn __match_args__() -> (&'static str, &'static str) {
        ("until", "reason")
    }
    /// Milliseconds from `now` to `until`, 0 if already due.
    fn millis_from(&self, now: u64) -> u64 {
        self.until.saturating_sub(now)
    }
    fn __repr__(&self) -> String {
        format!("Wait(until={}, reason={:?})", self.until, self.reason)
    }
}

/// Action: the server refused the token; get a fresh one, then call `token_refreshed`.
#[pyclass(frozen, module = "upload_session._native", name = "RefreshToken")]
struct RefreshToken;

#[pymethods]
impl RefreshToken {
    fn __repr__(&self) -> &'static str {
        "RefreshToken()"
    }
}

/// Action: the upload is complete. Terminal.
#[pyclass(frozen, module = "upload_session._native", name = "Done")]
struct Done {
    #[pyo3(get)]
    completion: Py<Completion>,
}

#[pymethods]
impl Done {
    #[classattr]
    fn __match_args__() -> (&'static str,) {
        ("completion",)
    }
    fn __repr__(&self) -> String {
        format!("Done({})", self.completion.get().__repr__())
    }
}

/// Action: the upload failed; `error` is the exception to raise. Terminal.
#[pyclass(frozen, module = "upload_session._native", name = "Failed")]
struct Failed {
    #[pyo3(get)]
    error: Py<PyAny>,
}

#[pymethods]
impl Failed {
    #[classattr]
    fn __match_args__() -> (&'static str,) {
        ("error",)
    }
    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(format!("Failed({})", self.error.bind(py).repr()?))
    }
}

/// Action: the upload was cancelled. Terminal.
#[pyclass(frozen, module = "upload_session._native", name = "Cancelled")]
struct Cancelled;

#[pymethods]
impl Cancelled {
    fn __repr__(&self) -> &'static str {
        "Cancelled()"
    }
}

/// One upload, as a sans-IO state machine.
#[pyclass(module = "upload_session._native", name = "Upload")]
struct Upload {
    inner: core::Upload,
}

#[pymethods]
impl Upload {
    #[new]
    #[pyo3(signature = (target, file, options=None))]
    fn new(
        py: Python<'_>,
        target: &Target,
        file: &FileInfo,
        options: Option<&Options>,
    ) -> PyResult<Upload> {
        let options = options.map(|o| o.inner.clone()).unwrap_or_default();
        core::Upload::new(target.inner.clone(), file.inner.clone(), options)
            .map(|inner| Upload { inner })
            .map_err(|e| config_error(py, &e.to_string()))
    }

    /// Restores a state written by `save` for the same target and file.
    #[staticmethod]
    #[pyo3(signature = (saved, target, file, options=None))]
    fn restore(
        py: Python<'_>,
        saved: &Bound<'_, PyAny>,
        target: &Target,
        file: &FileInfo,
        options: Option<&Options>,
    ) -> PyResult<Upload> {
        let bytes: Cow<'_, [u8]> = if let Ok(s) = saved.cast::<PyString>() {
            Cow::Owned(s.to_str()?.as_bytes().to_vec())
        } else if let Ok(b) = saved.cast::<PyBytes>() {
            Cow::Borrowed(b.as_bytes())
        } else if let Ok(b) = saved.cast::<PyByteArray>() {
            Cow::Owned(b.to_vec())
        } else {
            return Err(pyo3::exceptions::PyTypeError::new_err(format!(
                "saved must be str or bytes, not {}",
                saved.get_type().name()?
            )));
        };
        let options = options.map(|o| o.inner.clone()).unwrap_or_default();
        core::Upload::restore(&bytes, target.inner.clone(), file.inner.clone(), options)
            .map(|inner| Upload { inner })
            .map_err(|e| restore_error(py, &e))
    }

    /// The next thing to do at `now` (Unix milliseconds).
    fn poll(&mut self, py: Python<'_>, now: u64) -> PyResult<Py<PyAny>> {
        let action = self.inner.poll(core::Timestamp::from_unix_millis(now));
        action_object(py, action)
    }

    /// Feeds the answer to request `id`: its status, every header (`(name, value)` pairs or
    /// a mapping; `str` or UTF-8 `bytes`) and its body.
    #[pyo3(signature = (now, id, status, headers=None, body=None))]
    fn handle_response(
        &mut self,
        py: Python<'_>,
        now: u64,
        id: u64,
        status: u16,
        headers: Option<&Bound<'_, PyAny>>,
        body: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let id = self.check_id(py, id)?;
        let kept = match headers {
            Some(h) => values::read_headers(py, h)?,
            None => Vec::new(),
        };
        let owned;
        let body: &[u8] = match body {
            None => &[],
            Some(b) => {
                if let Ok(b) = b.cast::<PyBytes>() {
                    b.as_bytes()
                } else if let Ok(b) = b.cast::<PyByteArray>() {
                    owned = b.to_vec();
                    &owned
                } else if b.is_none() {
                    &[]
                } else {
                    return Err(pyo3::exceptions::PyTypeError::new_err(format!(
                        "body must be bytes, not {}",
                        b.get_type().name()?
                    )));
                }
            }
        };
        let resp = core::Response::new(status)
            .headers(kept.iter().map(|(n, v)| (*n, v.as_str())))
            .body(body);
        self.inner
            .handle_response(core::Timestamp::from_unix_millis(now), id, resp)
            .map_err(|e| caller_error(py, &e.to_string()))
    }

    /// Reports that request `id` got no answer: `kind` is "connect" (nothing was sent),
    /// "timeout" or "interrupted" (the outcome is unknown).
    fn handle_transport_error(
        &mut self,
        py: Python<'_>,
        now: u64,
        id: u64,
        kind: &str,
    ) -> PyResult<()> {
        let kind = match kind {
            "connect" => core::TransportError::Connect,
            "timeout" => core::TransportError::Timeout,
            "interrupted" => core::TransportError::Interrupted,
            other => {
                return Err(caller_error(
                    py,
                    &format!(
                        "kind must be \"connect\", \"timeout\" or \"interrupted\", not {other:?}"
                    ),
                ))
            }
        };
        let id = self.check_id(py, id)?;
        self.inner
            .handle_transport_error(core::Timestamp::from_unix_millis(now), id, kind)
            .map_err(|e| caller_error(py, &e.to_string()))
    }

    /// Says the driver has a fresh token after `RefreshToken`.
    fn token_refreshed(&mut self, py: Python<'_>, now: u64) -> PyResult<()> {
        self.inner
            .token_refreshed(core::Timestamp::from_unix_millis(now))
            .map_err(|e| caller_error(py, &e.to_string()))
    }

    /// Asks to cancel: an open session is deleted once the request in flight is answered.
    fn cancel(&mut self, now: u64) {
        self.inner.cancel(core::Timestamp::from_unix_millis(now));
    }

    /// The state as versioned JSON text; never holds a token.
    fn save(&self) -> String {
        self.inner.save()
    }

    #[getter]
    fn state(&self) -> &'static str {
        state_name(self.inner.state())
    }

    #[getter]
    fn progress(&self) -> Progress {
        let p = self.inner.progress();
        Progress {
            confirmed: p.confirmed,
            total: p.total,
        }
    }

    #[getter]
    fn requests(&self) -> u64 {
        self.inner.requests()
    }

    #[getter]
    fn sessions(&self) -> u32 {
        self.inner.sessions()
    }

    #[getter]
    fn chunk_size(&self) -> u64 {
        self.inner.chunk_size()
    }

    #[getter]
    fn result_may_exist(&self) -> bool {
        self.inner.result_may_exist()
    }

    /// The session's uploadUrl with its query hidden, when a session is open.
    #[getter]
    fn upload_url(&self) -> Option<String> {
        self.inner.upload_url().map(|u| u.as_str().to_owned())
    }

    /// The ranges the server still expects, `(start, end)` with `end` exclusive.
    #[getter]
    fn expected_ranges(&self) -> Option<Vec<(u64, u64)>> {
        self.inner
            .expected_ranges()
            .map(|e| e.as_slice().iter().map(|r| (r.start(), r.end())).collect())
    }

    #[getter]
    fn in_flight(&self) -> Option<Request> {
        self.inner.in_flight().map(|r| Request { inner: r.clone() })
    }

    #[getter]
    fn file(&self) -> FileInfo {
        FileInfo {
            inner: self.inner.file().clone(),
        }
    }

    #[getter]
    fn target(&self) -> Target {
        Target {
            inner: self.inner.target().clone(),
        }
    }

    fn __repr__(&self) -> String {
        let p = self.inner.progress();
        format!(
            "Upload(state={:?}, confirmed={}, total={}, requests={}, sessions={})",
            self.state(),
            p.confirmed,
            p.total,
            self.inner.requests(),
            self.inner.sessions()
        )
    }
}

impl Upload {
    /// The id of the request in flight if its number is `id` (ids are only made by the
    /// machine), or a `CallerError` worded as the core's.
    fn check_id(&self, py: Python<'_>, id: u64) -> PyResult<core::RequestId> {
        match self.inner.in_flight() {
            Some(r) if r.id().get() == id => Ok(r.id()),
            Some(r) => Err(caller_error(
                py,
                &format!(
                    "an answer for request #{id} was fed, but the request in flight is {}",
                    r.id()
                ),
            )),
            None => Err(caller_error(
                py,
                &format!("an answer for request #{id} was fed, but no request is in flight"),
            )),
        }
    }
}

fn action_object(py: Python<'_>, action: core::Action) -> PyResult<Py<PyAny>> {
    Ok(match action {
        core::Action::Send(req) => {
            let request = Py::new(py, Request { inner: req })?;
            Py::new(py, Send { request })?.into_any()
        }
        core::Action::Wait { until, reason } => Py::new(
            py,
            Wait {
                until: until.as_unix_millis(),
                reason: wait_reason_name(reason),
            },
        )?
        .into_any(),
        core::Action::RefreshToken => Py::new(py, RefreshToken)?.into_any(),
        core::Action::Done(c) => {
            let completion = Py::new(py, Completion::from_core(&c))?;
            Py::new(py, Done { completion })?.into_any()
        }
        core::Action::Failed(e) => {
            let error = failure_exception(py, &e)?;
            Py::new(py, Failed { error })?.into_any()
        }
        core::Action::Cancelled => Py::new(py, Cancelled)?.into_any(),
        other => {
            return Err(pyo3::exceptions::PyRuntimeError::new_err(format!(
                "the core returned an action this binding does not know: {other:?}"
            )))
        }
    })
}

/// OneDrive's content hash, fed the file in order (`update`) or by offset (`update_at`).
#[pyclass(module = "upload_session._native", name = "QuickXorHash")]
struct QuickXorHash {
    inner: core::QuickXorHash,
}

#[pymethods]
impl QuickXorHash {
    #[new]
    fn new() -> QuickXorHash {
        QuickXorHash {
            inner: core::QuickXorHash::new(),
        }
    }
    /// Feeds the next bytes of the file.
    fn update(&mut self, data: &[u8]) {
        self.inner.update(data);
    }
    /// Feeds bytes at `offset`; bytes already taken are skipped, a gap is a `ValueError`.
    fn update_at(&mut self, offset: u64, data: &[u8]) -> PyResult<()> {
        self.inner.update_at(offset, data).map_err(|g| {
            pyo3::exceptions::PyValueError::new_err(format!(
                "bytes at offset {} come after a gap: {} bytes are hashed",
                g.offset, g.hashed
            ))
        })
    }
    /// How many bytes it has taken.
    fn __len__(&self) -> usize {
        usize::try_from(self.inner.len()).unwrap_or(usize::MAX)
    }
    /// The hash, base64, as Graph reports it.
    fn to_base64(&self) -> String {
        self.inner.to_base64()
    }
    fn __repr__(&self) -> String {
        format!("QuickXorHash(len={})", self.inner.len())
    }
}

/// The state format version `save` writes.
#[pyfunction]
fn state_version() -> u32 {
    core::STATE_VERSION
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Target>()?;
    m.add_class::<Profile>()?;
    m.add_class::<FileInfo>()?;
    m.add_class::<RetryPolicy>()?;
    m.add_class::<Options>()?;
    m.add_class::<Upload>()?;
    m.add_class::<Request>()?;
    m.add_class::<EmptyBody>()?;
    m.add_class::<JsonBody>()?;
    m.add_class::<FileRangeBody>()?;
    m.add_class::<JsonWithBase64FileBody>()?;
    m.add_class::<Completion>()?;
    m.add_class::<Progress>()?;
    m.add_class::<Send>()?;
    m.add_class::<Wait>()?;
    m.add_class::<RefreshToken>()?;
    m.add_class::<Done>()?;
    m.add_class::<Failed>()?;
    m.add_class::<Cancelled>()?;
    m.add_class::<QuickXorHash>()?;
    m.add_function(wrap_pyfunction!(state_version, m)?)?;
    Ok(())
}
