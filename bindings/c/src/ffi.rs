//! What every entry point shares: result codes, the thread's last error message, the panic
//! guard, and the checked conversions of C pointers. All of the crate's raw pointer reads and
//! writes go through the helpers here.

use std::any::Any;
use std::cell::RefCell;
use std::ffi::{c_char, CStr};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr::NonNull;

/// What a call did. `US_RESULT_OK` is 0; every other code is a failure that changed nothing
/// and wrote no out-parameter. `us_last_error` gives the message of the thread's last failure.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum us_result {
    /// Success.
    Ok = 0,
    /// A required pointer argument was NULL.
    NullPointer = 1,
    /// An argument is out of range: an unknown enum value, an index past the end.
    InvalidArgument = 2,
    /// A string argument is not valid UTF-8.
    InvalidUtf8 = 3,
    /// The caller's buffer is too small; nothing was written.
    BufferTooSmall = 4,
    /// The target, file or options cannot work (the core's `ConfigError`); nothing was sent.
    ConfigError = 5,
    /// The saved state cannot be restored (the core's `RestoreError`).
    RestoreError = 6,
    /// An answer was fed for a request that is not the one in flight (the core's
    /// `CallerError::NotInFlight`): answered twice, never emitted, or from another upload.
    WrongRequestId = 7,
    /// `us_upload_token_refreshed` was called but no refresh was asked for.
    NoRefreshAsked = 8,
    /// The action (or request body) is not of the kind this accessor reads.
    WrongKind = 9,
    /// The value does not exist here (a completion without `Location`, a request without a
    /// body length); not a misuse.
    Absent = 10,
    /// The core produced something this build of the binding cannot describe.
    Unsupported = 11,
    /// A panic was caught inside the library. An upload handle that panicked answers this
    /// code to every later call but `us_upload_free`.
    Panic = 12,
    /// Another misuse the core refused.
    CallerMisuse = 13,
}

impl us_result {
    fn text(self) -> &'static CStr {
        match self {
            us_result::Ok => c"success",
            us_result::NullPointer => c"a required pointer argument was NULL",
            us_result::InvalidArgument => c"an argument is out of range",
            us_result::InvalidUtf8 => c"a string argument is not valid UTF-8",
            us_result::BufferTooSmall => c"the buffer is too small",
            us_result::ConfigError => c"the target, file or options cannot work",
            us_result::RestoreError => c"the saved state cannot be restored",
            us_result::WrongRequestId => c"the request id is not the one in flight",
            us_result::NoRefreshAsked => c"no token refresh was asked for",
            us_result::WrongKind => c"the action or body is not of the kind this accessor reads",
            us_result::Absent => c"the value is absent",
            us_result::Unsupported => c"the core produced something this binding cannot describe",
            us_result::Panic => c"a panic was caught inside the library",
            us_result::CallerMisuse => c"the core refused the call as a misuse",
        }
    }
}

/// Every code, in order.
fn all_results() -> [us_result; 14] {
    [
        us_result::Ok,
        us_result::NullPointer,
        us_result::InvalidArgument,
        us_result::InvalidUtf8,
        us_result::BufferTooSmall,
        us_result::ConfigError,
        us_result::RestoreError,
        us_result::WrongRequestId,
        us_result::NoRefreshAsked,
        us_result::WrongKind,
        us_result::Absent,
        us_result::Unsupported,
        us_result::Panic,
        us_result::CallerMisuse,
    ]
}

/// A failed call: its code and the message `us_last_error` will give.
#[derive(Debug)]
pub(crate) struct Fail {
    pub(crate) code: us_result,
    pub(crate) message: String,
}

impl Fail {
    pub(crate) fn new(code: us_result, message: impl Into<String>) -> Fail {
        Fail {
            code,
            message: message.into(),
        }
    }

    pub(crate) fn null(what: &str) -> Fail {
        Fail::new(us_result::NullPointer, format!("{what} is NULL"))
    }

    /// The panic's own text is left out: it may quote data (a URL and its query).
    pub(crate) fn panic(_payload: &(dyn Any + Send)) -> Fail {
        Fail::new(
            us_result::Panic,
            "a bug in the library stopped this call; the upload refuses further calls".to_owned(),
        )
    }
}

pub(crate) type Outcome<T = ()> = Result<T, Fail>;

thread_local! {
    static LAST_ERROR: RefCell<String> = const { RefCell::new(String::new()) };
}

fn set_last_error(message: String) {
    LAST_ERROR.with(|m| *m.borrow_mut() = message);
}

/// Runs one entry point: a failure's message becomes the thread's last error, and a panic
/// becomes `US_RESULT_PANIC` instead of unwinding into C.
pub(crate) fn guard(f: impl FnOnce() -> Outcome) -> us_result {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(())) => us_result::Ok,
        Ok(Err(fail)) => {
            set_last_error(fail.message);
            fail.code
        }
        Err(payload) => {
            let fail = Fail::panic(payload.as_ref());
            set_last_error(fail.message);
            fail.code
        }
    }
}

/// A shared reference from a C pointer; NULL is refused.
///
/// # Safety
/// A non-NULL `p` points to a live `T` not written during `'a`.
pub(crate) unsafe fn borrow<'a, T>(p: *const T, what: &str) -> Outcome<&'a T> {
    // SAFETY: the caller's contract; `as_ref` handles NULL.
    unsafe { p.as_ref() }.ok_or_else(|| Fail::null(what))
}

/// An exclusive reference from a C pointer; NULL is refused.
///
/// # Safety
/// A non-NULL `p` points to a live `T` that nothing else reads or writes during `'a`.
pub(crate) unsafe fn borrow_mut<'a, T>(p: *mut T, what: &str) -> Outcome<&'a mut T> {
    // SAFETY: the caller's contract; `as_mut` handles NULL.
    unsafe { p.as_mut() }.ok_or_else(|| Fail::null(what))
}

/// An out-parameter, checked non-NULL when made and written once, on success.
pub(crate) struct Out<T>(NonNull<T>);

impl<T> Out<T> {
    /// # Safety
    /// A non-NULL `p` is valid for writing a `T` until [`Out::set`] is called.
    pub(crate) unsafe fn new(p: *mut T, what: &str) -> Outcome<Out<T>> {
        NonNull::new(p).map(Out).ok_or_else(|| Fail::null(what))
    }

    /// An out-parameter the caller may leave NULL.
    ///
    /// # Safety
    /// As [`Out::new`].
    pub(crate) unsafe fn optional(p: *mut T) -> Option<Out<T>> {
        NonNull::new(p).map(Out)
    }

    pub(crate) fn set(self, value: T) {
        // SAFETY: `new` or `optional` was given a pointer valid for writing a `T`. `write`
        // drops nothing: the old value is the caller's uninitialised or plain data.
        unsafe { self.0.as_ptr().write(value) }
    }
}

/// A NUL-terminated C string argument, as UTF-8.
///
/// # Safety
/// A non-NULL `p` points to a NUL-terminated string that lives and stays unchanged during `'a`.
pub(crate) unsafe fn text<'a>(p: *const c_char, what: &str) -> Outcome<&'a str> {
    if p.is_null() {
        return Err(Fail::null(what));
    }
    // SAFETY: non-NULL and NUL-terminated by the caller's contract.
    let bytes = unsafe { CStr::from_ptr(p) }.to_bytes();
    std::str::from_utf8(bytes)
        .map_err(|_| Fail::new(us_result::InvalidUtf8, format!("{what} is not valid UTF-8")))
}

/// A C string argument that may be NULL.
///
/// # Safety
/// As [`text`].
pub(crate) unsafe fn optional_text<'a>(p: *const c_char, what: &str) -> Outcome<Option<&'a str>> {
    if p.is_null() {
        Ok(None)
    } else {
        // SAFETY: as this function's contract.
        unsafe { text(p, what) }.map(Some)
    }
}

/// `len` bytes at `p`; `p` may be NULL when `len` is 0.
///
/// # Safety
/// A non-NULL `p` points to `len` readable bytes that stay unchanged during `'a`.
pub(crate) unsafe fn bytes<'a>(p: *const u8, len: usize, what: &str) -> Outcome<&'a [u8]> {
    if len == 0 {
        return Ok(&[]);
    }
    if p.is_null() {
        return Err(Fail::null(what));
    }
    if len > isize::MAX as usize {
        return Err(Fail::new(
            us_result::InvalidArgument,
            format!("{what}: length {len} is too large"),
        ));
    }
    // SAFETY: non-NULL, `len` readable bytes by the caller's contract, `len` within isize.
    Ok(unsafe { std::slice::from_raw_parts(p, len) })
}

/// `count` pointers at `p`; `p` may be NULL when `count` is 0.
///
/// # Safety
/// As [`bytes`], for `count` pointers.
pub(crate) unsafe fn pointers<'a>(
    p: *const *const c_char,
    count: usize,
    what: &str,
) -> Outcome<&'a [*const c_char]> {
    if count == 0 {
        return Ok(&[]);
    }
    if p.is_null() {
        return Err(Fail::null(what));
    }
    if count > isize::MAX as usize / std::mem::size_of::<*const c_char>() {
        return Err(Fail::new(
            us_result::InvalidArgument,
            format!("{what}: count {count} is too large"),
        ));
    }
    // SAFETY: non-NULL, `count` readable pointers by the caller's contract.
    Ok(unsafe { std::slice::from_raw_parts(p, count) })
}

/// A caller's buffer of `cap` bytes, checked non-NULL.
pub(crate) struct Buffer(NonNull<u8>, usize);

impl Buffer {
    /// # Safety
    /// A non-NULL `p` is valid for writing `cap` bytes until [`Buffer::fill`] is called.
    pub(crate) unsafe fn new(p: *mut c_char, cap: usize, what: &str) -> Outcome<Buffer> {
        let p = NonNull::new(p.cast::<u8>()).ok_or_else(|| Fail::null(what))?;
        Ok(Buffer(p, cap))
    }

    pub(crate) fn capacity(&self) -> usize {
        self.1
    }

    /// Copies `data` in; the caller checked that it fits.
    pub(crate) fn fill(self, data: &[u8]) {
        assert!(data.len() <= self.1, "the caller checks the length");
        // SAFETY: `new` was given `cap` writable bytes, `data` fits in them, and `data`
        // (the library's own memory) cannot overlap the caller's buffer.
        unsafe { std::ptr::copy_nonoverlapping(data.as_ptr(), self.0.as_ptr(), data.len()) }
    }
}

/// Text the library hands out by pointer: its bytes and a NUL after them.
#[derive(Clone, Debug)]
pub(crate) struct CText(Box<[u8]>);

impl CText {
    /// A NUL inside `s` (a server may send `\u0000` in JSON) becomes U+FFFD, so that C's
    /// `strlen` and the length handed out agree.
    pub(crate) fn new(s: &str) -> CText {
        let cleaned;
        let s = if s.contains('\0') {
            cleaned = s.replace('\0', "\u{FFFD}");
            cleaned.as_str()
        } else {
            s
        };
        let mut v = Vec::with_capacity(s.len() + 1);
        v.extend_from_slice(s.as_bytes());
        v.push(0);
        CText(v.into_boxed_slice())
    }

    pub(crate) fn ptr(&self) -> *const c_char {
        self.0.as_ptr().cast()
    }

    /// Its length without the NUL.
    pub(crate) fn len(&self) -> usize {
        self.0.len() - 1
    }

    /// Writes the pointer, and the length when asked.
    ///
    /// # Safety
    /// `len_out`, when not NULL, is valid for writing a `usize`.
    pub(crate) unsafe fn hand_out(&self, out: Out<*const c_char>, len_out: *mut usize) {
        // SAFETY: as this function's contract.
        let len_out = unsafe { Out::optional(len_out) };
        out.set(self.ptr());
        if let Some(l) = len_out {
            l.set(self.len());
        }
    }
}

/// Copies the message of the last call on this thread that failed into `buf` (at most
/// `cap - 1` bytes, cut at a character boundary, then a NUL) and its length without the NUL
/// into `*written`. An empty message when no call failed yet. A message never holds a token
/// (the library never sees one) nor the query of a URL.
///
/// Returns `US_RESULT_NULL_POINTER` when `buf` or `written` is NULL, `US_RESULT_BUFFER_TOO_SMALL`
/// when `cap` is 0. This call does not change the last error.
#[no_mangle]
pub unsafe extern "C" fn us_last_error(
    buf: *mut c_char,
    cap: usize,
    written: *mut usize,
) -> us_result {
    let run = || -> Outcome {
        // SAFETY: the crate's pointer contract.
        let buf = unsafe { Buffer::new(buf, cap, "buf") }?;
        // SAFETY: as above.
        let written = unsafe { Out::new(written, "written") }?;
        if buf.capacity() == 0 {
            return Err(Fail::new(us_result::BufferTooSmall, "cap is 0"));
        }
        let message = LAST_ERROR.with(|m| m.borrow().clone());
        let mut end = message.len().min(buf.capacity() - 1);
        while !message.is_char_boundary(end) {
            end -= 1;
        }
        let mut out = message.as_bytes()[..end].to_vec();
        out.push(0);
        buf.fill(&out);
        written.set(end);
        Ok(())
    };
    // The message getter reports its own misuse by code only: the last error stays.
    match catch_unwind(AssertUnwindSafe(run)) {
        Ok(Ok(())) => us_result::Ok,
        Ok(Err(fail)) => fail.code,
        Err(_) => us_result::Panic,
    }
}

/// A static, NUL-terminated description of a result code; "unknown result code" for a value
/// that is none. Never NULL; the string lives as long as the program.
#[no_mangle]
pub extern "C" fn us_result_text(result: u32) -> *const c_char {
    all_results()
        .iter()
        .find(|r| **r as u32 == result)
        .map_or(c"unknown result code", |r| r.text())
        .as_ptr()
}

/// The library's version, e.g. "0.1.0": static and NUL-terminated.
#[no_mangle]
pub extern "C" fn us_version() -> *const c_char {
    const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), "\0");
    VERSION.as_ptr().cast()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_becomes_a_code_and_a_message() {
        let r = guard(|| panic!("boom https://up.example/x?tempauth=SECRET"));
        assert_eq!(r, us_result::Panic);
        let mut buf = [0 as c_char; 128];
        let mut n = 0usize;
        // SAFETY: a live buffer of its length and a live usize.
        let got = unsafe { us_last_error(buf.as_mut_ptr(), buf.len(), &mut n) };
        assert_eq!(got, us_result::Ok);
        // SAFETY: `us_last_error` NUL-terminated it.
        let text = unsafe { CStr::from_ptr(buf.as_ptr()) }.to_str().unwrap();
        assert!(text.starts_with("a bug in the library"), "{text}");
        assert!(
            !text.contains("SECRET"),
            "a panic's text may quote a URL: {text}"
        );
        assert_eq!(n, text.len());
    }

    #[test]
    fn a_nul_from_the_server_never_cuts_a_string_short_of_its_length() {
        let t = CText::new("id\0rest");
        // SAFETY: CText ends in its own NUL.
        let c = unsafe { CStr::from_ptr(t.ptr()) };
        assert_eq!(c.to_bytes().len(), t.len());
        assert_eq!(c.to_str().unwrap(), "id\u{FFFD}rest");
    }

    #[test]
    fn every_code_has_its_own_text() {
        let texts: std::collections::HashSet<&CStr> =
            all_results().iter().map(|r| r.text()).collect();
        assert_eq!(texts.len(), all_results().len());
        for (i, r) in all_results().iter().enumerate() {
            assert_eq!(*r as usize, i, "codes are dense from 0");
        }
    }
}
