//! What a C caller can get wrong, and what the library answers: NULL pointers, a wrong
//! request id, text that is not UTF-8, bad saved state, accessors of another kind, buffers
//! too small. Each failure leaves the out-parameters and the upload as they were.

use std::ffi::{c_char, CStr, CString};
use std::ptr;

use upload_session_c::*;

const BASE: &str = "https://graph.example.com/v1.0";
const NOW: u64 = 1_700_000_000_000;

fn c(s: &str) -> CString {
    CString::new(s).unwrap()
}

fn last_error() -> String {
    let mut buf = [0 as c_char; 1024];
    let mut n = 0usize;
    // SAFETY: a live buffer of its length and a live usize.
    assert_eq!(
        unsafe { us_last_error(buf.as_mut_ptr(), buf.len(), &mut n) },
        us_result::Ok
    );
    // SAFETY: NUL-terminated by us_last_error.
    unsafe { CStr::from_ptr(buf.as_ptr()) }
        .to_str()
        .unwrap()
        .to_owned()
}

#[track_caller]
fn ok(r: us_result) {
    assert_eq!(r, us_result::Ok, "{}", last_error());
}

#[track_caller]
fn fails(r: us_result, code: us_result, message_has: &str) {
    assert_eq!(r, code, "{}", last_error());
    let m = last_error();
    assert!(m.contains(message_has), "{m:?} lacks {message_has:?}");
}

/// A To Do upload of a 3.5 MB file by session, with its target, file and options.
struct Setup {
    target: *mut us_target,
    file: *mut us_file,
    options: *mut us_options,
    upload: *mut us_upload,
}

impl Setup {
    fn new(size: u64) -> Setup {
        let (base, list, task, name) = (c(BASE), c("list="), c("task+/1"), c("report.pdf"));
        let mut s = Setup {
            target: ptr::null_mut(),
            file: ptr::null_mut(),
            options: ptr::null_mut(),
            upload: ptr::null_mut(),
        };
        // SAFETY: live strings and out-parameters.
        unsafe {
            ok(us_target_todo_task(
                base.as_ptr(),
                ptr::null(),
                list.as_ptr(),
                task.as_ptr(),
                &mut s.target,
            ));
            ok(us_file_new(name.as_ptr(), size, &mut s.file));
            ok(us_options_new(&mut s.options));
            ok(us_options_set_chunk_size(s.options, 1_000_000));
            ok(us_upload_new(s.target, s.file, s.options, &mut s.upload));
        }
        s
    }

    /// Polls; the request of a send action and its id.
    fn request(&self) -> (*const us_action, *const us_request, u64) {
        let (mut action, mut req, mut id) = (ptr::null(), ptr::null(), 0u64);
        // SAFETY: a live handle and out-parameters.
        unsafe {
            ok(us_upload_poll(self.upload, NOW, &mut action));
            ok(us_action_request(action, &mut req));
            ok(us_request_id(req, &mut id));
        }
        (action, req, id)
    }

    /// Answers the session creation with a session.
    fn create_session(&self) {
        let (_, _, id) = self.request();
        let body = br#"{"uploadUrl":"https://graph.example.com/v1.0/s/1?tempauth=SECRET","expirationDateTime":"2030-01-01T00:00:00Z","nextExpectedRanges":["0-"]}"#;
        // SAFETY: a live handle and body; no headers.
        ok(unsafe {
            us_upload_handle_response(
                self.upload,
                NOW,
                id,
                200,
                ptr::null(),
                ptr::null(),
                0,
                body.as_ptr(),
                body.len(),
            )
        });
    }

    fn state(&self) -> String {
        let mut buf = vec![0 as c_char; 8192];
        let mut n = 0usize;
        // SAFETY: a live handle and a buffer of its length.
        ok(unsafe { us_upload_save(self.upload, buf.as_mut_ptr(), buf.len(), &mut n) });
        // SAFETY: NUL-terminated by us_upload_save.
        unsafe { CStr::from_ptr(buf.as_ptr()) }
            .to_str()
            .unwrap()
            .to_owned()
    }
}

impl Drop for Setup {
    fn drop(&mut self) {
        // SAFETY: each made by the library, freed once here.
        unsafe {
            us_upload_free(self.upload);
            us_options_free(self.options);
            us_file_free(self.file);
            us_target_free(self.target);
        }
    }
}

#[test]
fn null_pointers_are_refused_and_nothing_is_written() {
    let s = Setup::new(3_500_000);
    let (base, id) = (c(BASE), c("x"));
    let sentinel = 0xdead_beef_usize as *mut us_target;
    let mut target = sentinel;
    // SAFETY: every non-NULL pointer is live; the NULL ones are what is tested.
    unsafe {
        fails(
            us_target_todo_task(
                ptr::null(),
                ptr::null(),
                id.as_ptr(),
                id.as_ptr(),
                &mut target,
            ),
            us_result::NullPointer,
            "base_url",
        );
        fails(
            us_target_todo_task(
                base.as_ptr(),
                ptr::null(),
                ptr::null(),
                id.as_ptr(),
                &mut target,
            ),
            us_result::NullPointer,
            "list_id",
        );
        assert_eq!(target, sentinel, "no out-parameter written on failure");
        fails(
            us_target_todo_task(
                base.as_ptr(),
                ptr::null(),
                id.as_ptr(),
                id.as_ptr(),
                ptr::null_mut(),
            ),
            us_result::NullPointer,
            "target_out",
        );
        fails(
            us_target_print_document(
                base.as_ptr(),
                id.as_ptr(),
                ptr::null(),
                id.as_ptr(),
                &mut target,
            ),
            us_result::NullPointer,
            "job_id",
        );
        fails(
            us_target_drive_item_path(
                base.as_ptr(),
                us_drive::Id as u32,
                ptr::null(),
                id.as_ptr(),
                0,
                &mut target,
            ),
            us_result::NullPointer,
            "drive_id",
        );
        assert_eq!(target, sentinel);

        let mut upload = ptr::null_mut();
        fails(
            us_upload_new(ptr::null(), s.file, s.options, &mut upload),
            us_result::NullPointer,
            "target",
        );
        fails(
            us_upload_new(s.target, s.file, ptr::null(), &mut upload),
            us_result::NullPointer,
            "options",
        );
        assert!(upload.is_null());

        let mut action: *const us_action = ptr::null();
        fails(
            us_upload_poll(ptr::null_mut(), NOW, &mut action),
            us_result::NullPointer,
            "upload",
        );
        fails(
            us_upload_poll(s.upload, NOW, ptr::null_mut()),
            us_result::NullPointer,
            "action_out",
        );
        assert!(action.is_null());
        fails(
            us_action_get_kind(ptr::null(), ptr::null_mut()),
            us_result::NullPointer,
            "action",
        );
        fails(
            us_request_id(ptr::null(), ptr::null_mut()),
            us_result::NullPointer,
            "request",
        );

        let (_, req, id) = s.request();
        let mut url: *const c_char = ptr::null();
        fails(
            us_request_url(req, ptr::null_mut(), ptr::null_mut()),
            us_result::NullPointer,
            "url_out",
        );
        // The length is optional.
        ok(us_request_url(req, &mut url, ptr::null_mut()));
        assert!(CStr::from_ptr(url)
            .to_str()
            .unwrap()
            .ends_with("/attachments/createUploadSession"));

        // Headers: a count with NULL arrays, a NULL entry.
        let name = c("Date");
        let names = [name.as_ptr()];
        let values = [ptr::null()];
        fails(
            us_upload_handle_response(
                s.upload,
                NOW,
                id,
                200,
                ptr::null(),
                ptr::null(),
                1,
                ptr::null(),
                0,
            ),
            us_result::NullPointer,
            "header_names",
        );
        fails(
            us_upload_handle_response(
                s.upload,
                NOW,
                id,
                200,
                names.as_ptr(),
                values.as_ptr(),
                1,
                ptr::null(),
                0,
            ),
            us_result::NullPointer,
            "header value 0",
        );
        fails(
            us_upload_handle_response(
                s.upload,
                NOW,
                id,
                200,
                ptr::null(),
                ptr::null(),
                0,
                ptr::null(),
                5,
            ),
            us_result::NullPointer,
            "body",
        );
        // None of these fed anything: the same request is still in flight.
        let (_, _, again) = s.request();
        assert_eq!(again, id);

        let mut n = 7usize;
        assert_eq!(
            us_last_error(ptr::null_mut(), 10, &mut n),
            us_result::NullPointer
        );
        assert_eq!(n, 7);

        // Freeing NULL does nothing.
        us_upload_free(ptr::null_mut());
        us_target_free(ptr::null_mut());
        us_file_free(ptr::null_mut());
        us_options_free(ptr::null_mut());
    }
}

#[test]
fn a_wrong_request_id_is_refused_and_changes_nothing() {
    let s = Setup::new(3_500_000);
    let (_, _, id) = s.request();
    assert_eq!(id, 1);
    // SAFETY: a live handle; no headers, no body.
    unsafe {
        fails(
            us_upload_handle_response(
                s.upload,
                NOW,
                99,
                200,
                ptr::null(),
                ptr::null(),
                0,
                ptr::null(),
                0,
            ),
            us_result::WrongRequestId,
            "request #99 was fed, but this upload never emitted it; the request in flight is #1",
        );
        fails(
            us_upload_handle_transport_error(s.upload, NOW, 0, us_transport_error::Connect as u32),
            us_result::WrongRequestId,
            "#0",
        );
    }
    let before = s.state();
    s.create_session();
    // Answering the same request twice: the core's CallerError::NotInFlight.
    // SAFETY: as above.
    unsafe {
        fails(
            us_upload_handle_response(
                s.upload,
                NOW,
                id,
                200,
                ptr::null(),
                ptr::null(),
                0,
                ptr::null(),
                0,
            ),
            us_result::WrongRequestId,
            "an answer for request #1 was fed, but no request is in flight",
        );
    }
    let (_, req, next) = s.request();
    assert_eq!(next, 2);
    // SAFETY: as above.
    unsafe {
        fails(
            us_upload_handle_transport_error(s.upload, NOW, id, us_transport_error::Timeout as u32),
            us_result::WrongRequestId,
            "the request in flight is #2",
        );
        fails(
            us_upload_handle_transport_error(s.upload, NOW, next, 3),
            us_result::InvalidArgument,
            "kind 3",
        );
        let mut purpose = us_purpose::Other;
        ok(us_request_purpose(req, &mut purpose));
        assert_eq!(purpose, us_purpose::UploadChunk);
        // A refresh nobody asked for.
        fails(
            us_upload_token_refreshed(s.upload, NOW),
            us_result::NoRefreshAsked,
            "did not ask",
        );
    }
    assert_ne!(before, s.state(), "the session answer was taken");
}

#[test]
fn text_that_is_not_utf8_is_refused() {
    let bad = CString::new(vec![b'a', 0xff, b'b']).unwrap();
    let (base, id) = (c(BASE), c("x"));
    let mut target = ptr::null_mut();
    let mut file = ptr::null_mut();
    // SAFETY: live strings and out-parameters.
    unsafe {
        fails(
            us_target_todo_task(
                base.as_ptr(),
                bad.as_ptr(),
                id.as_ptr(),
                id.as_ptr(),
                &mut target,
            ),
            us_result::InvalidUtf8,
            "user",
        );
        fails(
            us_target_outlook_attachment(base.as_ptr(), ptr::null(), 0, bad.as_ptr(), &mut target),
            us_result::InvalidUtf8,
            "item_id",
        );
        fails(
            us_file_new(bad.as_ptr(), 10, &mut file),
            us_result::InvalidUtf8,
            "name",
        );
    }
    assert!(target.is_null() && file.is_null());

    let s = Setup::new(3_500_000);
    s.create_session();
    let (_, _, id) = s.request();
    let (name, good) = (c("Date"), c("Sun, 06 Nov 1994 08:49:37 GMT"));
    let names = [name.as_ptr(), bad.as_ptr()];
    let values = [good.as_ptr(), good.as_ptr()];
    let body = br#"{"nextExpectedRanges":["1000000-"]}"#;
    // SAFETY: arrays of live strings; a live body.
    unsafe {
        fails(
            us_upload_handle_response(
                s.upload,
                NOW,
                id,
                200,
                names.as_ptr(),
                values.as_ptr(),
                2,
                body.as_ptr(),
                body.len(),
            ),
            us_result::InvalidUtf8,
            "header name 1",
        );
        let values = [bad.as_ptr(), good.as_ptr()];
        fails(
            us_upload_handle_response(
                s.upload,
                NOW,
                id,
                200,
                names.as_ptr(),
                values.as_ptr(),
                2,
                body.as_ptr(),
                body.len(),
            ),
            us_result::InvalidUtf8,
            "header value 0",
        );
        // The upload did not move: the same request is in flight, and takes a good answer.
        let (_, _, again) = s.request();
        assert_eq!(again, id);
        ok(us_upload_handle_response(
            s.upload,
            NOW,
            id,
            200,
            names.as_ptr(),
            values.as_ptr().add(1),
            1,
            body.as_ptr(),
            body.len(),
        ));
        let (mut confirmed, mut total) = (0, 0);
        ok(us_upload_progress(s.upload, &mut confirmed, &mut total));
        assert_eq!((confirmed, total), (1_000_000, 3_500_000));
    }
}

#[test]
fn bad_saved_state_is_refused() {
    let s = Setup::new(3_500_000);
    s.create_session();
    let state = s.state();
    assert!(!state.contains("Bearer"), "the state holds no token");
    let mut up = ptr::null_mut();
    // SAFETY: live bytes and handles.
    unsafe {
        for garbage in [
            &b"not json"[..],
            b"{}",
            b"{\"format\":\"upload-session\",\"version\":999}",
        ] {
            fails(
                us_upload_restore(
                    garbage.as_ptr(),
                    garbage.len(),
                    s.target,
                    s.file,
                    s.options,
                    &mut up,
                ),
                us_result::RestoreError,
                "saved state",
            );
        }
        fails(
            us_upload_restore(ptr::null(), 0, s.target, s.file, s.options, &mut up),
            us_result::RestoreError,
            "",
        );
        fails(
            us_upload_restore(ptr::null(), 3, s.target, s.file, s.options, &mut up),
            us_result::NullPointer,
            "state",
        );
        // The same state for another file.
        let (name, mut other) = (c("report.pdf"), ptr::null_mut());
        ok(us_file_new(name.as_ptr(), 3_500_001, &mut other));
        fails(
            us_upload_restore(
                state.as_ptr(),
                state.len(),
                s.target,
                other,
                s.options,
                &mut up,
            ),
            us_result::RestoreError,
            "another file (size differs",
        );
        us_file_free(other);
        // Another destination: the message shows URLs without their query.
        let (base, list, task, mut elsewhere) = (c(BASE), c("other"), c("task"), ptr::null_mut());
        ok(us_target_todo_task(
            base.as_ptr(),
            ptr::null(),
            list.as_ptr(),
            task.as_ptr(),
            &mut elsewhere,
        ));
        fails(
            us_upload_restore(
                state.as_ptr(),
                state.len(),
                elsewhere,
                s.file,
                s.options,
                &mut up,
            ),
            us_result::RestoreError,
            "another destination",
        );
        us_target_free(elsewhere);
        assert!(up.is_null(), "no handle made");
        // The good state restores, into a status query of the saved session.
        ok(us_upload_restore(
            state.as_ptr(),
            state.len(),
            s.target,
            s.file,
            s.options,
            &mut up,
        ));
        let (mut action, mut req, mut method) = (ptr::null(), ptr::null(), ptr::null());
        ok(us_upload_poll(up, NOW, &mut action));
        ok(us_action_request(action, &mut req));
        ok(us_request_method(req, &mut method));
        assert_eq!(CStr::from_ptr(method).to_str().unwrap(), "GET");
        let mut purpose = us_purpose::Other;
        ok(us_request_purpose(req, &mut purpose));
        assert_eq!(purpose, us_purpose::QueryStatus);
        let mut len = 0u64;
        fails(
            us_request_content_length(req, &mut len),
            us_result::Absent,
            "no body",
        );
        assert_eq!(len, 0);
        us_upload_free(up);
    }
}

#[test]
fn accessors_of_another_kind_say_so() {
    let s = Setup::new(3_500_000);
    let (action, req, _) = s.request();
    let (mut until, mut size, mut p, mut n) = (0u64, 0u64, ptr::null(), 0usize);
    let (mut start, mut end) = (0u64, 0u64);
    // SAFETY: a live action and request (until the next poll) and out-parameters.
    unsafe {
        fails(
            us_action_wait(action, &mut until, ptr::null_mut()),
            us_result::WrongKind,
            "not wait",
        );
        fails(
            us_action_done_size(action, &mut size),
            us_result::WrongKind,
            "not done",
        );
        fails(
            us_action_failure_message(action, &mut p, &mut n),
            us_result::WrongKind,
            "not failed",
        );
        // Creation has a JSON body, no file range, no base64 parts.
        fails(
            us_request_body_range(req, &mut start, &mut end),
            us_result::WrongKind,
            "no file bytes",
        );
        let (mut a, mut b) = (ptr::null(), ptr::null());
        fails(
            us_request_body_base64_json(req, &mut a, ptr::null_mut(), &mut b, ptr::null_mut()),
            us_result::WrongKind,
            "does not embed",
        );
        ok(us_request_body_json(req, &mut p, &mut n));
        let json = CStr::from_ptr(p).to_str().unwrap();
        assert_eq!(json.len(), n);
        assert!(json.contains("\"attachmentInfo\""), "{json}");
        let mut len = 0;
        ok(us_request_content_length(req, &mut len));
        assert_eq!(len, n as u64);
        let mut count = 0;
        ok(us_request_header_count(req, &mut count));
        assert_eq!(count, 2);
        let (mut hn, mut hv) = (ptr::null(), ptr::null());
        ok(us_request_header(req, 0, &mut hn, &mut hv));
        assert_eq!(CStr::from_ptr(hn).to_str().unwrap(), "Content-Type");
        assert_eq!(CStr::from_ptr(hv).to_str().unwrap(), "application/json");
        fails(
            us_request_header(req, 2, &mut hn, &mut hv),
            us_result::InvalidArgument,
            "header 2 of 2",
        );
    }
    // A chunk: a file range, its Content-Range header, and no JSON.
    s.create_session();
    let (_, req, _) = s.request();
    // SAFETY: as above.
    unsafe {
        let mut kind = us_body_kind::None;
        ok(us_request_body_kind(req, &mut kind));
        assert_eq!(kind, us_body_kind::FileRange);
        ok(us_request_body_range(req, &mut start, &mut end));
        assert_eq!((start, end), (0, 1_000_000));
        fails(
            us_request_body_json(req, &mut p, &mut n),
            us_result::WrongKind,
            "not JSON",
        );
        let (mut hn, mut hv) = (ptr::null(), ptr::null());
        ok(us_request_header(req, 2, &mut hn, &mut hv));
        assert_eq!(CStr::from_ptr(hn).to_str().unwrap(), "Content-Range");
        assert_eq!(
            CStr::from_ptr(hv).to_str().unwrap(),
            "bytes 0-999999/3500000"
        );
        let mut needs = false;
        ok(us_request_needs_token(req, &mut needs));
        assert!(needs);
        let mut url = ptr::null();
        ok(us_request_url(req, &mut url, &mut n));
        assert_eq!(
            CStr::from_ptr(url).to_str().unwrap(),
            "https://graph.example.com/v1.0/s/1/content?tempauth=SECRET"
        );
    }
}

#[test]
fn configuration_errors_name_the_problem() {
    let (base, id, name) = (c(BASE), c("x"), c("a.bin"));
    let mut target = ptr::null_mut();
    // SAFETY: live strings and out-parameters.
    unsafe {
        let empty = c("");
        fails(
            us_target_todo_task(
                base.as_ptr(),
                ptr::null(),
                empty.as_ptr(),
                id.as_ptr(),
                &mut target,
            ),
            us_result::ConfigError,
            "list ID is empty",
        );
        let ftp = c("ftp://graph.example.com");
        fails(
            us_target_print_document(
                ftp.as_ptr(),
                id.as_ptr(),
                id.as_ptr(),
                id.as_ptr(),
                &mut target,
            ),
            us_result::ConfigError,
            "not an absolute http",
        );
        fails(
            us_target_outlook_attachment(base.as_ptr(), ptr::null(), 2, id.as_ptr(), &mut target),
            us_result::InvalidArgument,
            "us_outlook_item",
        );
        fails(
            us_target_drive_item_path(base.as_ptr(), 9, ptr::null(), id.as_ptr(), 0, &mut target),
            us_result::InvalidArgument,
            "us_drive",
        );
        fails(
            us_target_drive_item_path(base.as_ptr(), 0, ptr::null(), id.as_ptr(), 3, &mut target),
            us_result::InvalidArgument,
            "us_conflict",
        );
        assert!(target.is_null());

        // A drive item's chunks sit on the 320 KiB grid.
        ok(us_target_drive_item_path(
            base.as_ptr(),
            0,
            ptr::null(),
            id.as_ptr(),
            0,
            &mut target,
        ));
        let (mut file, mut options, mut up) = (ptr::null_mut(), ptr::null_mut(), ptr::null_mut());
        ok(us_file_new(name.as_ptr(), 5_000_000, &mut file));
        ok(us_options_new(&mut options));
        ok(us_options_set_chunk_size(options, 1_000_000));
        fails(
            us_upload_new(target, file, options, &mut up),
            us_result::ConfigError,
            "multiple of 327680",
        );
        ok(us_options_set_retry(options, 1000, 1000, 1000, 0, 1));
        ok(us_options_set_chunk_size(options, 0));
        fails(
            us_upload_new(target, file, options, &mut up),
            us_result::ConfigError,
            "max_attempts",
        );
        ok(us_options_set_retry(options, 1000, 1000, 1000, 1, 1));
        ok(us_options_set_size_limit(options, 1000));
        fails(
            us_upload_new(target, file, options, &mut up),
            us_result::ConfigError,
            "at most 1000",
        );
        assert!(up.is_null());
        ok(us_options_set_size_limit(options, 0));
        ok(us_upload_new(target, file, options, &mut up));
        us_upload_free(up);
        us_options_free(options);
        us_file_free(file);
        us_target_free(target);
    }
}

#[test]
fn buffers_too_small_are_refused_or_cut_cleanly() {
    let s = Setup::new(3_500_000);
    let mut len = 0usize;
    // SAFETY: live handles, buffers of the given lengths, out-parameters.
    unsafe {
        ok(us_upload_save_len(s.upload, &mut len));
        let mut buf = vec![b'#' as c_char; len];
        let mut written = 12345usize;
        fails(
            us_upload_save(s.upload, buf.as_mut_ptr(), len, &mut written),
            us_result::BufferTooSmall,
            "needs",
        );
        assert_eq!(written, 12345);
        assert!(buf.iter().all(|b| *b == b'#' as c_char), "nothing written");
        let mut buf = vec![0 as c_char; len + 1];
        ok(us_upload_save(
            s.upload,
            buf.as_mut_ptr(),
            buf.len(),
            &mut written,
        ));
        assert_eq!(written, len);

        // Base64 needs its whole length.
        let mut out = [0 as c_char; 4];
        fails(
            us_base64_encode(b"abcd".as_ptr(), 4, out.as_mut_ptr(), 4, &mut written),
            us_result::BufferTooSmall,
            "8 bytes needed",
        );
        ok(us_base64_encode(
            b"abc".as_ptr(),
            3,
            out.as_mut_ptr(),
            4,
            &mut written,
        ));
        assert_eq!((written, out.map(|b| b as u8)), (4, *b"YWJj"));
        ok(us_base64_encode(
            ptr::null(),
            0,
            out.as_mut_ptr(),
            4,
            &mut written,
        ));
        assert_eq!(written, 0);
        assert_eq!(us_base64_len(4), 8);

        // The message is cut at a character boundary, NUL-terminated.
        let bad = c("é-not-a-url");
        let mut t = ptr::null_mut();
        let id = c("x");
        assert_ne!(
            us_target_todo_task(bad.as_ptr(), ptr::null(), id.as_ptr(), id.as_ptr(), &mut t),
            us_result::Ok
        );
        let full = last_error();
        let cut = full.find('é').expect("the URL is in the message");
        // Room for the text up to the middle of 'é', and the NUL: cut before it.
        let mut small = vec![b'#' as c_char; cut + 2];
        ok(us_last_error(small.as_mut_ptr(), small.len(), &mut written));
        assert_eq!(written, cut);
        assert_eq!(
            CStr::from_ptr(small.as_ptr()).to_bytes(),
            &full.as_bytes()[..cut]
        );
        assert_eq!(
            us_last_error(small.as_mut_ptr(), 0, &mut written),
            us_result::BufferTooSmall
        );
    }
}

#[test]
fn result_texts_and_version_are_static_strings() {
    // SAFETY: the library returns static NUL-terminated strings.
    unsafe {
        assert_eq!(
            CStr::from_ptr(us_result_text(us_result::Ok as u32))
                .to_str()
                .unwrap(),
            "success"
        );
        assert_eq!(
            CStr::from_ptr(us_result_text(us_result::WrongRequestId as u32))
                .to_str()
                .unwrap(),
            "the request id is not the one in flight"
        );
        assert_eq!(
            CStr::from_ptr(us_result_text(4242)).to_str().unwrap(),
            "unknown result code"
        );
        assert_eq!(
            CStr::from_ptr(us_version()).to_str().unwrap(),
            env!("CARGO_PKG_VERSION")
        );
    }
}

#[test]
fn a_finished_upload_refuses_further_answers_and_refreshes() {
    let s = Setup::new(10);
    let (action, req, id) = s.request();
    // SAFETY: a live handle, action and request, out-parameters.
    unsafe {
        let mut kind = us_body_kind::None;
        ok(us_request_body_kind(req, &mut kind));
        assert_eq!(kind, us_body_kind::JsonBase64File);
        let mut save_first = false;
        ok(us_request_save_before_sending(req, &mut save_first));
        assert!(save_first, "the single POST may create the result");
        let (name, value) = (
            c("Location"),
            c("https://graph.example.com/v1.0/x/Attachments/AAMk="),
        );
        ok(us_upload_handle_response(
            s.upload,
            NOW,
            id,
            201,
            &name.as_ptr(),
            &value.as_ptr(),
            1,
            ptr::null(),
            0,
        ));
        // The action polled before the answer is still readable until the next poll.
        let mut count = 0;
        ok(us_request_header_count(req, &mut count));
        let _ = action;
        let mut done = ptr::null();
        ok(us_upload_poll(s.upload, NOW, &mut done));
        let (mut p, mut n) = (ptr::null(), 0usize);
        ok(us_action_done_id(done, &mut p, &mut n));
        assert_eq!(CStr::from_ptr(p).to_str().unwrap(), "AAMk=");
        let mut found = true;
        ok(us_action_done_found_by_lookup(done, &mut found));
        assert!(!found);
        fails(
            us_upload_handle_response(
                s.upload,
                NOW,
                id,
                201,
                ptr::null(),
                ptr::null(),
                0,
                ptr::null(),
                0,
            ),
            us_result::WrongRequestId,
            "no request is in flight",
        );
        fails(
            us_upload_token_refreshed(s.upload, NOW),
            us_result::NoRefreshAsked,
            "",
        );
        // Cancelling a finished upload does nothing.
        ok(us_upload_cancel(s.upload, NOW));
        ok(us_upload_poll(s.upload, NOW, &mut done));
        let mut kind = us_action_kind::Send;
        ok(us_action_get_kind(done, &mut kind));
        assert_eq!(kind, us_action_kind::Done);
    }
}
