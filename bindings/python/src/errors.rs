//! The core's errors as the exceptions of `upload_session.errors`, a pure-Python module, so
//! that they carry typed attributes and one hierarchy serves the machine and the drivers.
//! Messages are the core's own: they never hold a token, and URLs in them are redacted.

use pyo3::prelude::*;
use pyo3::types::PyDict;
use upload_session as core;

use crate::values::{purpose_name, transport_name};

const MODULE: &str = "upload_session.errors";

/// An instance of `upload_session.errors.{class}(message, **kwargs)`.
fn build<'py>(
    py: Python<'py>,
    class: &str,
    message: &str,
    kwargs: Option<&Bound<'py, PyDict>>,
) -> PyResult<Bound<'py, PyAny>> {
    py.import(MODULE)?.getattr(class)?.call((message,), kwargs)
}

fn raise(py: Python<'_>, class: &str, message: &str, kwargs: Option<&Bound<'_, PyDict>>) -> PyErr {
    match build(py, class, message, kwargs) {
        Ok(exc) => PyErr::from_value(exc),
        Err(e) => e,
    }
}

/// A misuse of the machine by its caller; the machine's state is unchanged.
pub(crate) fn caller_error(py: Python<'_>, message: &str) -> PyErr {
    raise(py, "CallerError", message, None)
}

/// A target, file or options that cannot work; nothing was sent.
pub(crate) fn config_error(py: Python<'_>, message: &str) -> PyErr {
    raise(py, "ConfigError", message, None)
}

/// Saved state that cannot be restored.
pub(crate) fn restore_error(py: Python<'_>, e: &core::RestoreError) -> PyErr {
    let kind = match e {
        core::RestoreError::Malformed(_) => "malformed",
        core::RestoreError::Version { .. } => "version",
        core::RestoreError::DifferentFile { .. } => "different-file",
        core::RestoreError::DifferentTarget { .. } => "different-target",
        core::RestoreError::Invalid(_) => "invalid",
        _ => "invalid",
    };
    let kwargs = PyDict::new(py);
    if let Err(err) = kwargs.set_item("kind", kind) {
        return err;
    }
    raise(py, "RestoreError", &e.to_string(), Some(&kwargs))
}

/// The exception that an `Action::Failed` carries, by whose fault the upload ended.
pub(crate) fn failure_exception(py: Python<'_>, e: &core::Error) -> PyResult<Py<PyAny>> {
    let kwargs = PyDict::new(py);
    let status_error = |s: &core::StatusError| -> PyResult<()> {
        kwargs.set_item("purpose", purpose_name(s.purpose))?;
        kwargs.set_item("status", s.status)?;
        kwargs.set_item("code", s.graph.code.as_deref())?;
        kwargs.set_item("inner_code", s.graph.inner_code.as_deref())?;
        kwargs.set_item("graph_message", s.graph.message.as_deref())?;
        kwargs.set_item("request_id", s.graph.request_id.as_deref())?;
        Ok(())
    };
    let class = match e {
        core::Error::Protocol { purpose, .. } => {
            kwargs.set_item("purpose", purpose_name(*purpose))?;
            "ProtocolError"
        }
        core::Error::Status(s) => {
            status_error(s)?;
            "StatusError"
        }
        core::Error::NameConflict(s) => {
            status_error(s)?;
            "NameConflictError"
        }
        core::Error::RetriesExhausted {
            purpose,
            attempts,
            last,
        } => {
            kwargs.set_item("purpose", purpose_name(*purpose))?;
            kwargs.set_item("attempts", *attempts)?;
            match last {
                core::Failure::Status(s) => kwargs.set_item("last_status", *s)?,
                core::Failure::Transport(t) => {
                    kwargs.set_item("last_transport", transport_name(*t))?
                }
            }
            "RetriesExhaustedError"
        }
        core::Error::RetryAfterTooLong {
            purpose,
            asked,
            left,
            max_total,
        } => {
            kwargs.set_item("purpose", purpose_name(*purpose))?;
            kwargs.set_item("asked_ms", crate::ms(*asked))?;
            kwargs.set_item("left_ms", crate::ms(*left))?;
            kwargs.set_item("max_total_ms", crate::ms(*max_total))?;
            "RetryAfterTooLongError"
        }
        core::Error::SessionExpired { sessions } => {
            kwargs.set_item("sessions", *sessions)?;
            "SessionExpiredError"
        }
        core::Error::Unauthorized => "UnauthorizedError",
        _ => "UploadFailed",
    };
    Ok(build(py, class, &e.to_string(), Some(&kwargs))?.unbind())
}
