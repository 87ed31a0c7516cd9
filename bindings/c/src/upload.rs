//! The upload handle: the core's machine, the action it last returned, and the ids of the
//! requests it emitted, so that an answer for any of them reaches the core, which decides
//! whether it is the one in flight.

use std::collections::HashMap;
use std::ffi::c_char;
use std::panic::{catch_unwind, AssertUnwindSafe};

use upload_session::{CallerError, RequestId, Response, Timestamp, TransportError, Upload};

use crate::action::us_action;
use crate::config::{free, inputs, us_file, us_options, us_target};
use crate::ffi::{
    borrow, borrow_mut, bytes, guard, pointers, text, us_result, Buffer, Fail, Out, Outcome,
};

/// Why a request got no answer (a `uint32_t` argument).
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum us_transport_error {
    /// Nothing was sent: DNS failure, connection refused, TLS handshake failure.
    Connect = 0,
    /// The request was sent, in whole or in part, and no answer came in time.
    Timeout = 1,
    /// The connection broke while sending or receiving: the outcome is unknown.
    Interrupted = 2,
}

/// One upload: the core's state machine. Made by `us_upload_new` or `us_upload_restore`,
/// freed by `us_upload_free`. Functions that take `const us_upload *` only read it.
pub struct us_upload {
    upload: Upload,
    action: Option<Box<us_action>>,
    emitted: HashMap<u64, RequestId>,
    poisoned: bool,
}

impl us_upload {
    fn new(upload: Upload) -> us_upload {
        let mut emitted = HashMap::new();
        if let Some(req) = upload.in_flight() {
            emitted.insert(req.id().get(), req.id());
        }
        us_upload {
            upload,
            action: None,
            emitted,
            poisoned: false,
        }
    }

    fn check(&self) -> Outcome {
        if self.poisoned {
            return Err(Fail::new(
                us_result::Panic,
                "an earlier call on this upload panicked; free it",
            ));
        }
        Ok(())
    }

    /// Runs `f` on the upload; a panic leaves it poisoned.
    pub(crate) fn mutate<R>(&mut self, f: impl FnOnce(&mut us_upload) -> Outcome<R>) -> Outcome<R> {
        self.check()?;
        match catch_unwind(AssertUnwindSafe(|| f(self))) {
            Ok(r) => r,
            Err(payload) => {
                self.poisoned = true;
                Err(Fail::panic(payload.as_ref()))
            }
        }
    }

    /// The id the core gave request number `id`, if this upload emitted it.
    fn request_id(&self, id: u64) -> Outcome<RequestId> {
        self.emitted.get(&id).copied().ok_or_else(|| {
            let in_flight = match self.upload.in_flight() {
                Some(r) => format!("the request in flight is {}", r.id()),
                None => "no request is in flight".to_owned(),
            };
            Fail::new(
                us_result::WrongRequestId,
                format!("an answer for request #{id} was fed, but this upload never emitted it; {in_flight}"),
            )
        })
    }
}

fn caller_error(e: CallerError) -> Fail {
    let code = if matches!(e, CallerError::NotInFlight { .. }) {
        us_result::WrongRequestId
    } else if matches!(e, CallerError::NoRefreshAsked) {
        us_result::NoRefreshAsked
    } else {
        us_result::CallerMisuse
    };
    Fail::new(code, e.to_string())
}

/// Runs a mutating call on an upload.
///
/// # Safety
/// As the crate's pointer contract.
unsafe fn with_upload_mut(
    upload: *mut us_upload,
    f: impl FnOnce(&mut us_upload) -> Outcome,
) -> us_result {
    guard(|| {
        // SAFETY: the caller's contract.
        let up = unsafe { borrow_mut(upload, "upload") }?;
        up.mutate(f)
    })
}

/// Runs a reading call on an upload.
///
/// # Safety
/// As the crate's pointer contract.
unsafe fn with_upload(
    upload: *const us_upload,
    f: impl FnOnce(&us_upload) -> Outcome,
) -> us_result {
    guard(|| {
        // SAFETY: the caller's contract.
        let up = unsafe { borrow(upload, "upload") }?;
        up.check()?;
        f(up)
    })
}

/// A new upload of `file` to `target` with `options` (all three copied: free them when you
/// like). Nothing is sent before the first `us_upload_poll`. On success `*upload_out` is a new
/// handle for `us_upload_free`; `US_RESULT_CONFIG_ERROR` when the options cannot work for the
/// target and file (chunk size, file size, empty name).
#[no_mangle]
pub unsafe extern "C" fn us_upload_new(
    target: *const us_target,
    file: *const us_file,
    options: *const us_options,
    upload_out: *mut *mut us_upload,
) -> us_result {
    guard(|| {
        // SAFETY: the crate's pointer contract, for every pointer.
        let ((t, f, o), out) = unsafe {
            (
                inputs(target, file, options)?,
                Out::new(upload_out, "upload_out")?,
            )
        };
        let upload = Upload::new(t.inner.clone(), f.inner.clone(), o.inner.clone())
            .map_err(|e| Fail::new(us_result::ConfigError, e.to_string()))?;
        out.set(Box::into_raw(Box::new(us_upload::new(upload))));
        Ok(())
    })
}

/// Restores an upload from `state_len` bytes of a state written by `us_upload_save`, for the
/// same target and file (name, size and fingerprint); `options` are the current ones. The
/// state is checked, not trusted: `US_RESULT_RESTORE_ERROR` for another format, destination or
/// file, or for anything inconsistent. An open session is asked where it stands before
/// anything is sent; a finished or cancelled upload restores as such and sends nothing.
#[no_mangle]
pub unsafe extern "C" fn us_upload_restore(
    state: *const u8,
    state_len: usize,
    target: *const us_target,
    file: *const us_file,
    options: *const us_options,
    upload_out: *mut *mut us_upload,
) -> us_result {
    guard(|| {
        // SAFETY: the crate's pointer contract, for every pointer.
        let (saved, (t, f, o), out) = unsafe {
            (
                bytes(state, state_len, "state")?,
                inputs(target, file, options)?,
                Out::new(upload_out, "upload_out")?,
            )
        };
        let upload = Upload::restore(saved, t.inner.clone(), f.inner.clone(), o.inner.clone())
            .map_err(|e| Fail::new(us_result::RestoreError, e.to_string()))?;
        out.set(Box::into_raw(Box::new(us_upload::new(upload))));
        Ok(())
    })
}

/// Frees an upload and its current action. NULL is accepted and ignored; freeing twice is
/// undefined. Every pointer borrowed from the upload dies with it.
#[no_mangle]
pub unsafe extern "C" fn us_upload_free(upload: *mut us_upload) {
    let _ = guard(|| {
        // SAFETY: NULL or a handle from `us_upload_new` or `us_upload_restore`, freed once, by
        // the caller's contract.
        unsafe { free(upload) };
        Ok(())
    });
}

/// The next thing to do, seen at `now_ms` (milliseconds since the Unix epoch, wall clock).
/// Call it after every input; polling again without input returns the same action.
///
/// `*action_out` is owned by the upload: it, and every pointer read from it or from its
/// request, stays valid until the next `us_upload_poll` or `us_upload_free` on this upload
/// (answering, cancelling and saving do not invalidate it).
#[no_mangle]
pub unsafe extern "C" fn us_upload_poll(
    upload: *mut us_upload,
    now_ms: u64,
    action_out: *mut *const us_action,
) -> us_result {
    // SAFETY: the crate's pointer contract, for both pointers.
    unsafe {
        with_upload_mut(upload, |up| {
            let out = Out::new(action_out, "action_out")?;
            up.action = None;
            let action = us_action::new(up.upload.poll(Timestamp::from_unix_millis(now_ms)))?;
            if let Some(r) = action.request() {
                let id = r.request().id();
                up.emitted.insert(id.get(), id);
            }
            let action = up.action.insert(Box::new(action));
            out.set(&**action);
            Ok(())
        })
    }
}

/// Feeds the answer to request `request_id`, received at `now_ms`: its status, its
/// `header_count` headers (`header_names[i]` and `header_values[i]`, NUL-terminated UTF-8;
/// pass them all, `Date` included: it is how the core reads the server's clock) and its
/// `body_len` body bytes (`body` may be NULL when `body_len` is 0).
///
/// `US_RESULT_WRONG_REQUEST_ID` when `request_id` is not the request in flight (answered
/// already, never emitted); `US_RESULT_INVALID_UTF8` when a header name or value is not UTF-8
/// (leave such a header out: the core reads only `Location`, `Retry-After` and `Date`). On
/// any failure the upload is unchanged.
#[no_mangle]
pub unsafe extern "C" fn us_upload_handle_response(
    upload: *mut us_upload,
    now_ms: u64,
    request_id: u64,
    status: u16,
    header_names: *const *const c_char,
    header_values: *const *const c_char,
    header_count: usize,
    body: *const u8,
    body_len: usize,
) -> us_result {
    // SAFETY: the crate's pointer contract, for every pointer.
    unsafe {
        with_upload_mut(upload, |up| {
            let names = pointers(header_names, header_count, "header_names")?;
            let values = pointers(header_values, header_count, "header_values")?;
            let mut headers = Vec::with_capacity(header_count);
            for (i, (n, v)) in names.iter().zip(values).enumerate() {
                headers.push((
                    text(*n, &format!("header name {i}"))?,
                    text(*v, &format!("header value {i}"))?,
                ));
            }
            let body = bytes(body, body_len, "body")?;
            let id = up.request_id(request_id)?;
            let response = Response::new(status).headers(headers).body(body);
            up.upload
                .handle_response(Timestamp::from_unix_millis(now_ms), id, response)
                .map_err(caller_error)
        })
    }
}

/// Reports that request `request_id` got no answer; `kind` is a `us_transport_error` value.
/// `US_RESULT_WRONG_REQUEST_ID` when it is not the request in flight.
#[no_mangle]
pub unsafe extern "C" fn us_upload_handle_transport_error(
    upload: *mut us_upload,
    now_ms: u64,
    request_id: u64,
    kind: u32,
) -> us_result {
    // SAFETY: the crate's pointer contract.
    unsafe {
        with_upload_mut(upload, |up| {
            let error = match kind {
                k if k == us_transport_error::Connect as u32 => TransportError::Connect,
                k if k == us_transport_error::Timeout as u32 => TransportError::Timeout,
                k if k == us_transport_error::Interrupted as u32 => TransportError::Interrupted,
                other => {
                    return Err(Fail::new(
                        us_result::InvalidArgument,
                        format!("kind {other} is not a us_transport_error value"),
                    ))
                }
            };
            let id = up.request_id(request_id)?;
            up.upload
                .handle_transport_error(Timestamp::from_unix_millis(now_ms), id, error)
                .map_err(caller_error)
        })
    }
}

/// Says the caller has a fresh token after `US_ACTION_KIND_REFRESH_TOKEN`.
/// `US_RESULT_NO_REFRESH_ASKED` when no refresh was asked for.
#[no_mangle]
pub unsafe extern "C" fn us_upload_token_refreshed(
    upload: *mut us_upload,
    now_ms: u64,
) -> us_result {
    // SAFETY: the crate's pointer contract.
    unsafe {
        with_upload_mut(upload, |up| {
            up.upload
                .token_refreshed(Timestamp::from_unix_millis(now_ms))
                .map_err(caller_error)
        })
    }
}

/// Asks to cancel: a session that exists is deleted once the request in flight, if any, is
/// answered; then polling gives `US_ACTION_KIND_CANCELLED`. Does nothing once the upload ended.
#[no_mangle]
pub unsafe extern "C" fn us_upload_cancel(upload: *mut us_upload, now_ms: u64) -> us_result {
    // SAFETY: the crate's pointer contract.
    unsafe {
        with_upload_mut(upload, |up| {
            up.upload.cancel(Timestamp::from_unix_millis(now_ms));
            Ok(())
        })
    }
}

/// The length of the state `us_upload_save` writes now, without its NUL.
#[no_mangle]
pub unsafe extern "C" fn us_upload_save_len(
    upload: *const us_upload,
    len_out: *mut usize,
) -> us_result {
    // SAFETY: the crate's pointer contract, for both pointers.
    unsafe {
        with_upload(upload, |up| {
            let out = Out::new(len_out, "len_out")?;
            out.set(up.upload.save().len());
            Ok(())
        })
    }
}

/// Writes the upload's state (versioned JSON text, never a token) to `buf` followed by a NUL,
/// and its length without the NUL to `*len_out`. `cap` must be at least
/// `us_upload_save_len() + 1`, else `US_RESULT_BUFFER_TOO_SMALL` and nothing is written. Save
/// after every answer and, when `us_request_save_before_sending` says so, before sending;
/// `us_upload_restore` goes on from there.
#[no_mangle]
pub unsafe extern "C" fn us_upload_save(
    upload: *const us_upload,
    buf: *mut c_char,
    cap: usize,
    len_out: *mut usize,
) -> us_result {
    // SAFETY: the crate's pointer contract, for every pointer.
    unsafe {
        with_upload(upload, |up| {
            let buf = Buffer::new(buf, cap, "buf")?;
            let out = Out::new(len_out, "len_out")?;
            let mut state = up.upload.save().into_bytes();
            let len = state.len();
            if len >= buf.capacity() {
                return Err(Fail::new(
                    us_result::BufferTooSmall,
                    format!(
                        "the state needs {} bytes with its NUL; cap is {}",
                        len + 1,
                        buf.capacity()
                    ),
                ));
            }
            state.push(0);
            buf.fill(&state);
            out.set(len);
            Ok(())
        })
    }
}

/// Bytes the server confirmed holding, and the file's size.
#[no_mangle]
pub unsafe extern "C" fn us_upload_progress(
    upload: *const us_upload,
    confirmed_out: *mut u64,
    total_out: *mut u64,
) -> us_result {
    // SAFETY: the crate's pointer contract, for every pointer.
    unsafe {
        with_upload(upload, |up| {
            let confirmed_out = Out::new(confirmed_out, "confirmed_out")?;
            let total_out = Out::new(total_out, "total_out")?;
            let p = up.upload.progress();
            confirmed_out.set(p.confirmed);
            total_out.set(p.total);
            Ok(())
        })
    }
}

/// Requests emitted so far (resends counted), across saves and restores.
#[no_mangle]
pub unsafe extern "C" fn us_upload_requests(
    upload: *const us_upload,
    requests_out: *mut u64,
) -> us_result {
    // SAFETY: the crate's pointer contract, for both pointers.
    unsafe {
        with_upload(upload, |up| {
            Out::new(requests_out, "requests_out")?.set(up.upload.requests());
            Ok(())
        })
    }
}

/// Upload sessions created so far, across saves and restores.
#[no_mangle]
pub unsafe extern "C" fn us_upload_sessions(
    upload: *const us_upload,
    sessions_out: *mut u32,
) -> us_result {
    // SAFETY: the crate's pointer contract, for both pointers.
    unsafe {
        with_upload(upload, |up| {
            Out::new(sessions_out, "sessions_out")?.set(up.upload.sessions());
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use upload_session::{FileInfo, Options, Owner, Target};

    #[test]
    fn a_panic_while_mutating_poisons_the_upload() {
        let target = Target::todo_task("https://graph.example/v1.0", Owner::Me, "l", "t").unwrap();
        let upload = Upload::new(target, FileInfo::new("a.bin", 10), Options::default()).unwrap();
        let raw = Box::into_raw(Box::new(us_upload::new(upload)));
        // SAFETY: `raw` is a live handle, freed once below.
        let up = unsafe { &mut *raw };
        let r: Outcome = up.mutate(|_| panic!("inside"));
        assert_eq!(r.unwrap_err().code, us_result::Panic);
        let mut action = std::ptr::null();
        // SAFETY: a live handle and a live out-parameter.
        assert_eq!(
            unsafe { us_upload_poll(raw, 0, &mut action) },
            us_result::Panic
        );
        assert!(action.is_null(), "no out-parameter written on failure");
        let mut n = 0u64;
        // SAFETY: as above.
        assert_eq!(unsafe { us_upload_requests(raw, &mut n) }, us_result::Panic);
        // SAFETY: made by Box::into_raw above, freed once.
        unsafe { us_upload_free(raw) };
    }
}
