//! The core's small enums as the strings Python sees, and the headers Python passes in.

use std::borrow::Cow;

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyString, PyTuple};
use upload_session as core;

use crate::errors::caller_error;

pub(crate) fn purpose_name(p: core::Purpose) -> &'static str {
    match p {
        core::Purpose::CreateSession => "create-session",
        core::Purpose::UploadChunk => "upload-chunk",
        core::Purpose::QueryStatus => "query-status",
        core::Purpose::FindResult => "find-result",
        core::Purpose::SinglePost => "single-post",
        core::Purpose::SinglePut => "single-put",
        core::Purpose::Commit => "commit",
        core::Purpose::Cancel => "cancel",
        _ => "other",
    }
}

pub(crate) fn state_name(s: core::State) -> &'static str {
    match s {
        core::State::Creating => "creating",
        core::State::Posting => "posting",
        core::State::Uploading => "uploading",
        core::State::Querying => "querying",
        core::State::FindingResult => "finding-result",
        core::State::Cancelling => "cancelling",
        core::State::Committing => "committing",
        core::State::Done => "done",
        core::State::Failed => "failed",
        core::State::Cancelled => "cancelled",
        _ => "other",
    }
}

pub(crate) fn wait_reason_name(r: core::WaitReason) -> &'static str {
    match r {
        core::WaitReason::RetryAfter => "retry-after",
        core::WaitReason::Backoff => "backoff",
        _ => "other",
    }
}

pub(crate) fn transport_name(t: core::TransportError) -> &'static str {
    match t {
        core::TransportError::Connect => "connect",
        core::TransportError::Timeout => "timeout",
        core::TransportError::Interrupted => "interrupted",
        _ => "other",
    }
}

/// The headers the core reads, with their names as it matches them.
const READ: [&str; 3] = ["location", "retry-after", "date"];

/// Why a header name or value could not be read.
enum Unreadable {
    NotUtf8(std::str::Utf8Error),
    Type(String),
}

/// A header name or value: `str`, or `bytes` holding UTF-8.
fn text<'a>(v: &'a Bound<'_, PyAny>) -> Result<Cow<'a, str>, Unreadable> {
    if let Ok(s) = v.cast::<PyString>() {
        return s.to_str().map(Cow::Borrowed).map_err(|_| {
            Unreadable::Type("str that cannot be encoded (a lone surrogate)".to_owned())
        });
    }
    if let Ok(b) = v.cast::<PyBytes>() {
        return std::str::from_utf8(b.as_bytes())
            .map(Cow::Borrowed)
            .map_err(Unreadable::NotUtf8);
    }
    let type_name = v
        .get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "another type".to_owned());
    Err(Unreadable::Type(type_name))
}

fn unreadable(py: Python<'_>, e: Unreadable, what: &str) -> PyErr {
    match e {
        Unreadable::NotUtf8(e) => caller_error(py, &format!("{what} is not UTF-8 ({e})")),
        Unreadable::Type(t) => {
            pyo3::exceptions::PyTypeError::new_err(format!("{what} must be str or bytes, not {t}"))
        }
    }
}

/// Walks `(name, value)` pairs (or a mapping's items) and keeps the headers the core reads,
/// in order. Every name and value is checked, so a bad one is reported whichever it is.
pub(crate) fn read_headers(
    py: Python<'_>,
    headers: &Bound<'_, PyAny>,
) -> PyResult<Vec<(&'static str, String)>> {
    let mut kept = Vec::new();
    let mut one = |pair: &Bound<'_, PyAny>| -> PyResult<()> {
        let (name, value) = if let Ok(t) = pair.cast::<PyTuple>() {
            if t.len() != 2 {
                return Err(pyo3::exceptions::PyTypeError::new_err(format!(
                    "a header must be a (name, value) pair, not a tuple of {}",
                    t.len()
                )));
            }
            (t.get_item(0)?, t.get_item(1)?)
        } else {
            pair.extract::<(Bound<'_, PyAny>, Bound<'_, PyAny>)>()
                .map_err(|_| {
                    pyo3::exceptions::PyTypeError::new_err("a header must be a (name, value) pair")
                })?
        };
        let name = text(&name).map_err(|e| unreadable(py, e, "a header name"))?;
        let value = text(&value)
            .map_err(|e| unreadable(py, e, &format!("the value of header {:?}", name.as_ref())))?;
        if let Some(known) = READ.iter().find(|k| name.eq_ignore_ascii_case(k)) {
            kept.push((*known, value.into_owned()));
        }
        Ok(())
    };
    if let Ok(d) = headers.cast::<PyDict>() {
        for (n, v) in d.iter() {
            one(PyTuple::new(py, [n, v])?.as_any())?;
        }
    } else if headers.hasattr("items")? && !headers.is_instance_of::<PyString>() {
        for pair in headers.call_method0("items")?.try_iter()? {
            one(&pair?)?;
        }
    } else if headers.is_instance_of::<PyString>() || headers.is_instance_of::<PyBytes>() {
        return Err(pyo3::exceptions::PyTypeError::new_err(
            "headers must be (name, value) pairs or a mapping, not a string",
        ));
    } else {
        for pair in headers.try_iter()? {
            one(&pair?)?;
        }
    }
    Ok(kept)
}
