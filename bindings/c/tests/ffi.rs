//! The C functions called the way C calls them: raw pointers, NUL-terminated strings, out-
//! parameters, result codes. Whole uploads run against the Graph model in memory, with the
//! driver reading every request through the accessors.

use std::ffi::{c_char, CStr, CString};
use std::ptr;

use graph_model::{Config, Faults, Model, Origin, Outcome, Parent, WireBody, WireRequest};
use upload_session_c::*;

const START: u64 = 1_700_000_000_000;

fn c(s: &str) -> CString {
    CString::new(s).unwrap()
}

fn last_error() -> String {
    let mut buf = [0 as c_char; 1024];
    let mut n = 0usize;
    // SAFETY: a live buffer of its length and a live usize.
    let r = unsafe { us_last_error(buf.as_mut_ptr(), buf.len(), &mut n) };
    assert_eq!(r, us_result::Ok);
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

/// # Safety
/// `p` is a NUL-terminated string of `len` bytes.
unsafe fn string(p: *const c_char, len: usize) -> String {
    // SAFETY: as the contract.
    let s = unsafe { CStr::from_ptr(p) }.to_str().unwrap().to_owned();
    assert_eq!(s.len(), len, "the length agrees with the NUL");
    s
}

/// The test file's byte at `offset`: a pattern that shows a byte sent at the wrong place.
fn byte(offset: u64) -> u8 {
    ((offset % 251) as u8).wrapping_add((offset / 251 % 256) as u8)
}

fn file_bytes(size: u64) -> Vec<u8> {
    (0..size).map(byte).collect()
}

/// What the driver saw of one request.
#[derive(Debug, Clone)]
struct Sent {
    method: String,
    url: String,
    authorization: bool,
    purpose: us_purpose,
}

/// An answer: status, headers, body.
type Answer = (u16, Vec<(String, String)>, Vec<u8>);

/// How a drive ended.
#[derive(Debug, PartialEq, Eq)]
enum End {
    Done {
        id: String,
        location: Option<String>,
        size: u64,
    },
    Failed {
        category: us_failure_category,
        message: String,
    },
    Cancelled,
    /// The driver stopped on purpose with a request unanswered, as a killed process would.
    Crashed,
}

/// A C-style driver: the model as the server, a file in memory, a virtual clock, and a
/// state "file" written when the machine says.
struct Driver {
    model: Model,
    file: Vec<u8>,
    now: u64,
    state: Option<String>,
    sent: Vec<Sent>,
    refreshes: u32,
}

impl Driver {
    fn new(config: Config, size: u64) -> Driver {
        Driver {
            model: Model::new(config),
            file: file_bytes(size),
            now: START,
            state: None,
            sent: Vec::new(),
            refreshes: 0,
        }
    }

    fn base(&self) -> CString {
        c(&self.model.base_url())
    }

    fn todo_target(&self) -> *mut us_target {
        let mut t = ptr::null_mut();
        let (base, list, task) = (
            self.base(),
            c(self.model.list_id()),
            c(self.model.task_id()),
        );
        // SAFETY: live strings, NULL user (me), a live out-parameter.
        ok(unsafe {
            us_target_todo_task(
                base.as_ptr(),
                ptr::null(),
                list.as_ptr(),
                task.as_ptr(),
                &mut t,
            )
        });
        t
    }

    fn file_info(&self, name: &str) -> *mut us_file {
        let mut f = ptr::null_mut();
        let name = c(name);
        // SAFETY: a live string and out-parameter.
        ok(unsafe { us_file_new(name.as_ptr(), self.file.len() as u64, &mut f) });
        let fp = c(&format!("{}:test", self.file.len()));
        // SAFETY: a live handle and string.
        ok(unsafe { us_file_set_fingerprint(f, fp.as_ptr()) });
        f
    }

    fn save(&mut self, up: *const us_upload) {
        let mut len = 0usize;
        // SAFETY: a live handle and out-parameter.
        ok(unsafe { us_upload_save_len(up, &mut len) });
        let mut buf = vec![0 as c_char; len + 1];
        let mut written = 0usize;
        // SAFETY: a buffer of `len + 1` bytes.
        ok(unsafe { us_upload_save(up, buf.as_mut_ptr(), buf.len(), &mut written) });
        assert_eq!(written, len);
        // SAFETY: NUL-terminated by us_upload_save.
        self.state = Some(unsafe { string(buf.as_ptr(), len) });
    }

    /// The body as a driver builds it from the accessors.
    fn body(&self, req: *const us_request) -> Vec<u8> {
        let mut kind = us_body_kind::None;
        // SAFETY: a live request and out-parameter, here and below.
        ok(unsafe { us_request_body_kind(req, &mut kind) });
        let range = || {
            let (mut s, mut e) = (0u64, 0u64);
            // SAFETY: as above.
            let r = unsafe { us_request_body_range(req, &mut s, &mut e) };
            (r == us_result::Ok).then_some((s as usize, e as usize))
        };
        match kind {
            us_body_kind::None => Vec::new(),
            us_body_kind::Json => {
                let (mut p, mut n) = (ptr::null(), 0usize);
                // SAFETY: as above.
                ok(unsafe { us_request_body_json(req, &mut p, &mut n) });
                // SAFETY: NUL-terminated by the library.
                unsafe { string(p, n) }.into_bytes()
            }
            us_body_kind::FileRange => {
                let (s, e) = range().expect("a file range");
                self.file[s..e].to_vec()
            }
            us_body_kind::JsonBase64File => {
                let (mut pre, mut pre_n, mut suf, mut suf_n) =
                    (ptr::null(), 0usize, ptr::null(), 0usize);
                // SAFETY: as above.
                ok(unsafe {
                    us_request_body_base64_json(req, &mut pre, &mut pre_n, &mut suf, &mut suf_n)
                });
                // SAFETY: NUL-terminated by the library.
                let mut out = unsafe { string(pre, pre_n) }.into_bytes();
                if let Some((s, e)) = range() {
                    // In pieces of 3 * 1000 bytes, as a streaming C driver would.
                    for piece in self.file[s..e].chunks(3000) {
                        let mut text =
                            vec![0 as c_char; us_base64_len(piece.len() as u64) as usize];
                        let mut n = 0usize;
                        // SAFETY: live input and a buffer of the needed length.
                        ok(unsafe {
                            us_base64_encode(
                                piece.as_ptr(),
                                piece.len(),
                                text.as_mut_ptr(),
                                text.len(),
                                &mut n,
                            )
                        });
                        out.extend(text[..n].iter().map(|b| *b as u8));
                    }
                } else {
                    assert!(self.file.is_empty(), "only an empty file has no range");
                }
                // SAFETY: NUL-terminated by the library.
                out.extend(unsafe { string(suf, suf_n) }.into_bytes());
                out
            }
        }
    }

    /// Sends `req` to the model; `None` when no answer came.
    fn exchange(&mut self, req: *const us_request) -> Option<Answer> {
        let (mut method, mut url, mut url_len) = (ptr::null(), ptr::null(), 0usize);
        let (mut needs_token, mut count) = (false, 0usize);
        let mut purpose = us_purpose::Other;
        // SAFETY: a live request and out-parameters, here and below.
        unsafe {
            ok(us_request_method(req, &mut method));
            ok(us_request_url(req, &mut url, &mut url_len));
            ok(us_request_needs_token(req, &mut needs_token));
            ok(us_request_header_count(req, &mut count));
            ok(us_request_purpose(req, &mut purpose));
        }
        // SAFETY: NUL-terminated strings owned by the action.
        let (method, url) = unsafe {
            (
                CStr::from_ptr(method).to_str().unwrap().to_owned(),
                string(url, url_len),
            )
        };
        let mut headers = Vec::new();
        for i in 0..count {
            let (mut n, mut v) = (ptr::null(), ptr::null());
            // SAFETY: as above; the strings are NUL-terminated.
            unsafe {
                ok(us_request_header(req, i, &mut n, &mut v));
                headers.push((
                    CStr::from_ptr(n).to_str().unwrap().to_owned(),
                    CStr::from_ptr(v).to_str().unwrap().to_owned(),
                ));
            }
        }
        let auth = format!("Bearer {}", self.model.token());
        if needs_token {
            headers.push(("Authorization".into(), auth));
        }
        let body = self.body(req);
        let mut length = 0u64;
        // SAFETY: as above.
        match unsafe { us_request_content_length(req, &mut length) } {
            us_result::Ok => assert_eq!(length, body.len() as u64),
            us_result::Absent => assert!(body.is_empty()),
            other => panic!("content length: {other:?}"),
        }
        self.sent.push(Sent {
            method: method.clone(),
            url: url.clone(),
            authorization: needs_token,
            purpose,
        });
        let origin = self.model.origin_of(&url).expect("a URL the model serves");
        let prefix = match origin {
            Origin::Graph => self.model.graph_origin().len(),
            Origin::Foreign => self.model.foreign_origin().len(),
        };
        let target = url[prefix..].to_owned();
        let wire = WireRequest {
            origin,
            method: &method,
            target: &target,
            headers: headers
                .iter()
                .map(|(n, v)| (n.as_str(), v.as_bytes()))
                .collect(),
            body: WireBody::Bytes(vec![&body[..]]),
        };
        let outcome = self.model.handle(self.now, &wire);
        self.now += 10;
        match outcome {
            Outcome::Answer(a) => Some((a.status, a.headers, a.body)),
            Outcome::Late { after, answer } => {
                self.now += after.as_millis() as u64;
                Some((answer.status, answer.headers, answer.body))
            }
            Outcome::Drop { after, .. } => {
                self.now += after.as_millis() as u64;
                None
            }
        }
    }

    /// Polls and acts until the upload ends, or until `stop_after` requests were sent (the
    /// last one unanswered, as when the process is killed).
    fn drive(&mut self, up: *mut us_upload, stop_after: Option<usize>) -> End {
        let mut sent = 0;
        for _ in 0..10_000 {
            let mut action = ptr::null();
            // SAFETY: a live handle and out-parameter.
            ok(unsafe { us_upload_poll(up, self.now, &mut action) });
            let mut kind = us_action_kind::Cancelled;
            // SAFETY: the action lives until the next poll.
            ok(unsafe { us_action_get_kind(action, &mut kind) });
            match kind {
                us_action_kind::Send => {
                    let mut req = ptr::null();
                    let (mut id, mut save_first) = (0u64, false);
                    // SAFETY: as above.
                    unsafe {
                        ok(us_action_request(action, &mut req));
                        ok(us_request_id(req, &mut id));
                        ok(us_request_save_before_sending(req, &mut save_first));
                    }
                    if save_first {
                        self.save(up);
                    }
                    let answer = self.exchange(req);
                    sent += 1;
                    if stop_after == Some(sent) {
                        return End::Crashed;
                    }
                    match answer {
                        Some((status, headers, body)) => {
                            let names: Vec<CString> = headers.iter().map(|(n, _)| c(n)).collect();
                            let values: Vec<CString> = headers.iter().map(|(_, v)| c(v)).collect();
                            let np: Vec<*const c_char> = names.iter().map(|s| s.as_ptr()).collect();
                            let vp: Vec<*const c_char> =
                                values.iter().map(|s| s.as_ptr()).collect();
                            // SAFETY: arrays of `len` live strings, a live body.
                            ok(unsafe {
                                us_upload_handle_response(
                                    up,
                                    self.now,
                                    id,
                                    status,
                                    np.as_ptr(),
                                    vp.as_ptr(),
                                    np.len(),
                                    body.as_ptr(),
                                    body.len(),
                                )
                            });
                        }
                        None => {
                            // SAFETY: a live handle.
                            ok(unsafe {
                                us_upload_handle_transport_error(
                                    up,
                                    self.now,
                                    id,
                                    us_transport_error::Interrupted as u32,
                                )
                            });
                        }
                    }
                    self.save(up);
                }
                us_action_kind::Wait => {
                    let (mut until, mut reason) = (0u64, us_wait_reason::Other);
                    // SAFETY: as above.
                    ok(unsafe { us_action_wait(action, &mut until, &mut reason) });
                    assert!(until > self.now, "a wait is for later");
                    assert_ne!(reason, us_wait_reason::Other);
                    self.now = until;
                }
                us_action_kind::RefreshToken => {
                    self.refreshes += 1;
                    // SAFETY: a live handle.
                    ok(unsafe { us_upload_token_refreshed(up, self.now) });
                }
                us_action_kind::Done => return done(action),
                us_action_kind::Failed => {
                    let (mut m, mut n) = (ptr::null(), 0usize);
                    let mut category = us_failure_category::Other;
                    // SAFETY: as above.
                    unsafe {
                        ok(us_action_failure_message(action, &mut m, &mut n));
                        ok(us_action_failure_category(action, &mut category));
                    }
                    return End::Failed {
                        category,
                        // SAFETY: NUL-terminated by the library.
                        message: unsafe { string(m, n) },
                    };
                }
                us_action_kind::Cancelled => return End::Cancelled,
            }
        }
        panic!("no end after 10,000 steps")
    }

    /// A new upload of the driver's file to `target`.
    fn upload(&self, target: *const us_target, options: *const us_options) -> *mut us_upload {
        self.upload_file(target, options, self.file_info("flower.jpg"))
    }

    /// A new upload of `file` (freed here) to `target`.
    fn upload_file(
        &self,
        target: *const us_target,
        options: *const us_options,
        file: *mut us_file,
    ) -> *mut us_upload {
        let mut up = ptr::null_mut();
        // SAFETY: live handles and out-parameter.
        ok(unsafe { us_upload_new(target, file, options, &mut up) });
        // SAFETY: made above, freed once; the upload copied it.
        unsafe { us_file_free(file) };
        up
    }

    fn restore(&self, target: *const us_target, options: *const us_options) -> *mut us_upload {
        let state = self.state.clone().expect("a saved state");
        let file = self.file_info("flower.jpg");
        let mut up = ptr::null_mut();
        // SAFETY: live bytes, handles and out-parameter.
        ok(unsafe {
            us_upload_restore(state.as_ptr(), state.len(), target, file, options, &mut up)
        });
        // SAFETY: made above, freed once.
        unsafe { us_file_free(file) };
        up
    }

    fn attachments(&self, parent: &Parent) -> Vec<Vec<u8>> {
        self.model
            .attachments_of(parent)
            .iter()
            .map(|a| a.bytes.clone())
            .collect()
    }
}

fn done(action: *const us_action) -> End {
    let (mut id, mut id_len, mut loc, mut loc_len, mut size) =
        (ptr::null(), 0usize, ptr::null(), 0usize, 0u64);
    // SAFETY: a live action and out-parameters.
    unsafe {
        ok(us_action_done_id(action, &mut id, &mut id_len));
        ok(us_action_done_size(action, &mut size));
        let location = match us_action_done_location(action, &mut loc, &mut loc_len) {
            us_result::Ok => Some(string(loc, loc_len)),
            us_result::Absent => None,
            other => panic!("location: {other:?}"),
        };
        End::Done {
            id: string(id, id_len),
            location,
            size,
        }
    }
}

fn options(chunk: u64, force_session: bool) -> *mut us_options {
    let mut o = ptr::null_mut();
    // SAFETY: live out-parameter and handle.
    unsafe {
        ok(us_options_new(&mut o));
        ok(us_options_set_chunk_size(o, chunk));
        ok(us_options_set_force_session(o, force_session));
    }
    o
}

fn requests(up: *const us_upload) -> u64 {
    let mut n = 0;
    // SAFETY: a live handle and out-parameter.
    ok(unsafe { us_upload_requests(up, &mut n) });
    n
}

/// Frees what a test made.
fn free(up: *mut us_upload, target: *mut us_target, options: *mut us_options) {
    // SAFETY: each made by this library and freed once here.
    unsafe {
        us_upload_free(up);
        us_target_free(target);
        us_options_free(options);
    }
}

#[test]
fn a_whole_upload_to_a_task_through_the_c_functions() {
    let mut d = Driver::new(Config::default(), 3_500_000);
    let (target, opts) = (d.todo_target(), options(1_000_000, false));
    let up = d.upload(target, opts);
    let end = d.drive(up, None);
    let End::Done { id, location, size } = end else {
        panic!("{end:?}")
    };
    assert_eq!(size, 3_500_000);
    let location = location.unwrap();
    assert!(location.contains("/Attachments/"), "{location}");
    assert_eq!(d.model.attachments_of(&d.model.task())[0].id, id);
    assert_eq!(d.attachments(&d.model.task()), vec![d.file.clone()]);
    assert!(
        d.model.violations().is_empty(),
        "{:?}",
        d.model.violations()
    );
    // A session, then 4 PUTs: every request carries the token (the session is on Graph).
    let methods: Vec<&str> = d.sent.iter().map(|s| s.method.as_str()).collect();
    assert_eq!(methods, ["POST", "PUT", "PUT", "PUT", "PUT"]);
    assert_eq!(d.sent[0].purpose, us_purpose::CreateSession);
    assert!(d.sent.iter().all(|s| s.authorization));
    assert_eq!(requests(up), 5);
    let (mut confirmed, mut total) = (0, 0);
    // SAFETY: a live handle and out-parameters.
    ok(unsafe { us_upload_progress(up, &mut confirmed, &mut total) });
    assert_eq!((confirmed, total), (3_500_000, 3_500_000));
    let mut sessions = 0;
    // SAFETY: as above.
    ok(unsafe { us_upload_sessions(up, &mut sessions) });
    assert_eq!(sessions, 1);
    free(up, target, opts);
}

#[test]
fn small_and_empty_files_go_by_one_post_with_base64() {
    for size in [0u64, 1, 2, 7_001] {
        let mut d = Driver::new(Config::default(), size);
        let (target, opts) = (d.todo_target(), options(0, false));
        let up = d.upload(target, opts);
        let end = d.drive(up, None);
        assert!(
            matches!(end, End::Done { size: s, .. } if s == size),
            "{end:?}"
        );
        assert_eq!(d.sent.len(), 1);
        assert_eq!(d.sent[0].purpose, us_purpose::SinglePost);
        assert_eq!(
            d.attachments(&d.model.task()),
            vec![d.file.clone()],
            "size {size}"
        );
        assert!(
            d.model.violations().is_empty(),
            "{:?}",
            d.model.violations()
        );
        free(up, target, opts);
    }
}

#[test]
fn outlook_puts_go_to_the_foreign_origin_without_the_token() {
    let mut d = Driver::new(Config::default(), 3_100_000);
    let (base, item) = (d.base(), c("AAMkAGVmMDEz="));
    let mut target = ptr::null_mut();
    // SAFETY: live strings and out-parameter.
    ok(unsafe {
        us_target_outlook_attachment(
            base.as_ptr(),
            ptr::null(),
            us_outlook_item::Message as u32,
            item.as_ptr(),
            &mut target,
        )
    });
    let opts = options(1_048_576, false);
    let up = d.upload(target, opts);
    let end = d.drive(up, None);
    assert!(
        matches!(
            end,
            End::Done {
                size: 3_100_000,
                ..
            }
        ),
        "{end:?}"
    );
    let puts: Vec<&Sent> = d.sent.iter().filter(|s| s.method == "PUT").collect();
    assert_eq!(puts.len(), 3);
    let foreign = d.model.foreign_origin().to_owned();
    for put in &puts {
        assert!(put.url.starts_with(&foreign), "{}", put.url);
        assert!(!put.authorization, "no token to another origin");
    }
    assert!(
        d.sent[0].authorization,
        "the session is created on Graph with the token"
    );
    let parent = Parent::Outlook {
        collection: "messages".into(),
        id: "AAMkAGVmMDEz=".into(),
    };
    assert_eq!(d.attachments(&parent), vec![d.file.clone()]);
    assert!(
        d.model.violations().is_empty(),
        "{:?}",
        d.model.violations()
    );
    free(up, target, opts);
}

#[test]
fn drive_items_and_print_documents_upload_without_the_token_on_puts() {
    let d0 = Driver::new(Config::default(), 1_000_000);
    let base = d0.base();
    let mut made: Vec<(*mut us_target, Parent)> = Vec::new();
    let (path, folder, name) = (c("/Docs/a.bin"), c("root"), c("b.bin"));
    let (printer, job, doc) = (c("p1"), c("1"), c("d1"));
    // SAFETY: live strings and out-parameters; NULL drive id for the user's own drive.
    unsafe {
        let mut t = ptr::null_mut();
        ok(us_target_drive_item_path(
            base.as_ptr(),
            us_drive::Me as u32,
            ptr::null(),
            path.as_ptr(),
            us_conflict::Fail as u32,
            &mut t,
        ));
        made.push((
            t,
            Parent::DriveFolder {
                folder: "root/Docs".into(),
            },
        ));
        let mut t = ptr::null_mut();
        ok(us_target_drive_item_child(
            base.as_ptr(),
            us_drive::Me as u32,
            ptr::null(),
            folder.as_ptr(),
            name.as_ptr(),
            us_conflict::Rename as u32,
            &mut t,
        ));
        made.push((
            t,
            Parent::DriveFolder {
                folder: "root".into(),
            },
        ));
        let mut t = ptr::null_mut();
        ok(us_target_print_document(
            base.as_ptr(),
            printer.as_ptr(),
            job.as_ptr(),
            doc.as_ptr(),
            &mut t,
        ));
        made.push((
            t,
            Parent::PrintDocument {
                printer: "p1".into(),
                job: "1".into(),
                document: "d1".into(),
            },
        ));
    }
    for (target, parent) in made {
        // By session: a small drive item may otherwise go by one PUT.
        let mut d = Driver::new(Config::default(), 1_000_000);
        let opts = options(327_680, true);
        let up = d.upload(target, opts);
        let end = d.drive(up, None);
        assert!(
            matches!(
                end,
                End::Done {
                    size: 1_000_000,
                    ..
                }
            ),
            "{parent:?}: {end:?}"
        );
        assert_eq!(d.attachments(&parent), vec![d.file.clone()], "{parent:?}");
        let puts: Vec<&Sent> = d.sent.iter().filter(|s| s.method == "PUT").collect();
        assert_eq!(puts.len(), 4, "{parent:?}");
        assert!(puts.iter().all(|p| !p.authorization), "{parent:?}");
        assert!(
            d.model.violations().is_empty(),
            "{:?}",
            d.model.violations()
        );
        free(up, target, opts);
    }
}

#[test]
fn a_restored_upload_finishes_what_a_crash_left_with_one_attachment() {
    // Killed with each request in flight in turn, including the final PUT.
    for stop in 1..=4 {
        let mut d = Driver::new(Config::default(), 3_200_000);
        let (target, opts) = (d.todo_target(), options(1_100_000, false));
        let up = d.upload(target, opts);
        assert_eq!(d.drive(up, Some(stop)), End::Crashed);
        // SAFETY: made by us_upload_new, freed once: the process died.
        unsafe { us_upload_free(up) };
        d.model.unheard();
        // Killed before any state was written: the next run starts afresh.
        let up = if d.state.is_some() {
            d.restore(target, opts)
        } else {
            d.upload(target, opts)
        };
        let end = d.drive(up, None);
        assert!(
            matches!(
                end,
                End::Done {
                    size: 3_200_000,
                    ..
                }
            ),
            "stop {stop}: {end:?}"
        );
        assert_eq!(
            d.attachments(&d.model.task()),
            vec![d.file.clone()],
            "stop {stop}"
        );
        assert!(
            d.model.violations().is_empty(),
            "{:?}",
            d.model.violations()
        );
        // A restored finished upload stays finished and sends nothing.
        let before = d.sent.len();
        let again = d.restore(target, opts);
        assert!(matches!(d.drive(again, None), End::Done { .. }));
        assert_eq!(d.sent.len(), before);
        // SAFETY: made by us_upload_restore, freed once.
        unsafe { us_upload_free(again) };
        free(up, target, opts);
    }
}

#[test]
fn waits_token_refreshes_and_failures_come_through() {
    let plan = |spec: &str| Config {
        faults: Faults::plan(spec).unwrap(),
        ..Config::default()
    };
    // A 429 with Retry-After: 2 gives a wait of 2 s.
    let mut d = Driver::new(plan("throttle=2@1/put"), 3_100_000);
    let (target, opts) = (d.todo_target(), options(0, true));
    let up = d.upload(target, opts);
    let mut action = ptr::null();
    // SAFETY: live handle and out-parameters throughout.
    unsafe {
        ok(us_upload_poll(up, d.now, &mut action));
        let mut req = ptr::null();
        ok(us_action_request(action, &mut req));
        let mut id = 0;
        ok(us_request_id(req, &mut id));
        let (status, headers, body) = d.exchange(req).unwrap();
        assert_eq!(status, 200);
        let names: Vec<CString> = headers.iter().map(|(n, _)| c(n)).collect();
        let values: Vec<CString> = headers.iter().map(|(_, v)| c(v)).collect();
        let np: Vec<*const c_char> = names.iter().map(|s| s.as_ptr()).collect();
        let vp: Vec<*const c_char> = values.iter().map(|s| s.as_ptr()).collect();
        ok(us_upload_handle_response(
            up,
            d.now,
            id,
            status,
            np.as_ptr(),
            vp.as_ptr(),
            np.len(),
            body.as_ptr(),
            body.len(),
        ));
        ok(us_upload_poll(up, d.now, &mut action));
        ok(us_action_request(action, &mut req));
        ok(us_request_id(req, &mut id));
        let (status, headers, _) = d.exchange(req).unwrap();
        assert_eq!(status, 429);
        let names: Vec<CString> = headers.iter().map(|(n, _)| c(n)).collect();
        let values: Vec<CString> = headers.iter().map(|(_, v)| c(v)).collect();
        let np: Vec<*const c_char> = names.iter().map(|s| s.as_ptr()).collect();
        let vp: Vec<*const c_char> = values.iter().map(|s| s.as_ptr()).collect();
        ok(us_upload_handle_response(
            up,
            d.now,
            id,
            status,
            np.as_ptr(),
            vp.as_ptr(),
            np.len(),
            ptr::null(),
            0,
        ));
        ok(us_upload_poll(up, d.now, &mut action));
        let mut kind = us_action_kind::Send;
        ok(us_action_get_kind(action, &mut kind));
        assert_eq!(kind, us_action_kind::Wait);
        let (mut until, mut reason) = (0u64, us_wait_reason::Other);
        ok(us_action_wait(action, &mut until, &mut reason));
        assert_eq!(reason, us_wait_reason::RetryAfter);
        assert!(
            until >= d.now + 2_000 - 20 && until <= d.now + 2_000,
            "{until} vs {}",
            d.now
        );
        // The reason may be left out.
        ok(us_action_wait(action, &mut until, ptr::null_mut()));
    }
    assert!(matches!(d.drive(up, None), End::Done { .. }));
    free(up, target, opts);

    // A 401: the machine asks for a fresh token, then goes on.
    let mut d = Driver::new(plan("expired-token@1"), 3_100_000);
    let (target, opts) = (d.todo_target(), options(0, true));
    let up = d.upload(target, opts);
    assert!(matches!(d.drive(up, None), End::Done { .. }));
    assert_eq!(d.refreshes, 1);
    assert_eq!(d.sent.len(), 3, "create, a refused PUT, the PUT again");
    free(up, target, opts);

    // A session that expires with no restart allowed fails, and says so.
    let mut d = Driver::new(plan("expire=1"), 3_100_000);
    let (target, opts) = (d.todo_target(), options(1_000_000, true));
    // SAFETY: a live handle.
    ok(unsafe { us_options_set_max_restarts(opts, 0) });
    let up = d.upload(target, opts);
    let end = d.drive(up, None);
    let End::Failed { category, message } = end else {
        panic!("{end:?}")
    };
    assert_eq!(category, us_failure_category::SessionExpired);
    assert!(message.contains("expired"), "{message}");
    let mut action = ptr::null();
    let mut status = 0u16;
    // SAFETY: live handle and out-parameters.
    unsafe {
        ok(us_upload_poll(up, d.now, &mut action));
        assert_eq!(
            us_action_failure_status(action, &mut status),
            us_result::Absent
        );
        assert_eq!(status, 0, "not written");
    }
    free(up, target, opts);
}

#[test]
fn cancelling_deletes_the_session() {
    let mut d = Driver::new(Config::default(), 3_100_000);
    let (target, opts) = (d.todo_target(), options(1_000_000, false));
    let up = d.upload(target, opts);
    // The session is created; then the caller cancels.
    let mut action = ptr::null();
    // SAFETY: live handle and out-parameters.
    unsafe {
        ok(us_upload_poll(up, d.now, &mut action));
        let mut req = ptr::null();
        ok(us_action_request(action, &mut req));
        let mut id = 0;
        ok(us_request_id(req, &mut id));
        let (status, _, body) = d.exchange(req).unwrap();
        ok(us_upload_handle_response(
            up,
            d.now,
            id,
            status,
            ptr::null(),
            ptr::null(),
            0,
            body.as_ptr(),
            body.len(),
        ));
        ok(us_upload_cancel(up, d.now));
    }
    assert_eq!(d.drive(up, None), End::Cancelled);
    assert_eq!(d.sent.last().unwrap().method, "DELETE");
    assert_eq!(d.sent.last().unwrap().purpose, us_purpose::Cancel);
    assert!(d.attachments(&d.model.task()).is_empty());
    free(up, target, opts);
}

#[test]
fn a_drive_item_with_deferred_commit_and_its_hash() {
    let mut d = Driver::new(Config::default(), 1_000_000);
    let (base, path) = (d.base(), c("/Docs/hashed.bin"));
    let mut target = ptr::null_mut();
    let mut hash = ptr::null_mut();
    let mut text = [0 as c_char; 29];
    let mut n = 0usize;
    // SAFETY: live strings, handles, buffers and out-parameters.
    unsafe {
        ok(us_target_drive_item_path(
            base.as_ptr(),
            us_drive::Me as u32,
            ptr::null(),
            path.as_ptr(),
            us_conflict::Replace as u32,
            &mut target,
        ));
        ok(us_target_set_defer_commit(target));
        ok(us_quick_xor_hash_new(&mut hash));
        for piece in d.file.chunks(70_001) {
            ok(us_quick_xor_hash_update(hash, piece.as_ptr(), piece.len()));
        }
        assert_eq!(
            us_quick_xor_hash_base64(hash, text.as_mut_ptr(), 28, &mut n),
            us_result::BufferTooSmall
        );
        ok(us_quick_xor_hash_base64(
            hash,
            text.as_mut_ptr(),
            text.len(),
            &mut n,
        ));
        assert_eq!(n, 28);
        us_quick_xor_hash_free(hash);
    }
    let file = d.file_info("hashed.bin");
    // SAFETY: a live handle and the NUL-terminated hash.
    ok(unsafe { us_file_set_quick_xor_hash(file, text.as_ptr()) });
    let opts = options(327_680, true);
    let up = d.upload_file(target, opts, file);
    let mut action = ptr::null();
    let (mut p, mut len) = (ptr::null(), 0usize);
    assert!(matches!(
        d.drive(up, None),
        End::Done {
            size: 1_000_000,
            ..
        }
    ));
    // SAFETY: live handle, action and out-parameters.
    unsafe {
        ok(us_upload_poll(up, d.now, &mut action));
        ok(us_action_done_quick_xor_hash(action, &mut p, &mut len));
        assert_eq!(
            CStr::from_ptr(p),
            CStr::from_ptr(text.as_ptr()),
            "the server's hash is ours"
        );
        match us_action_done_web_url(action, &mut p, &mut len) {
            us_result::Ok => assert!(string(p, len).starts_with("http")),
            r => assert_eq!(r, us_result::Absent),
        }
    }
    let purposes: Vec<us_purpose> = d.sent.iter().map(|s| s.purpose).collect();
    assert_eq!(purposes.first(), Some(&us_purpose::CreateSession));
    assert_eq!(purposes.last(), Some(&us_purpose::Commit), "{purposes:?}");
    assert!(
        d.model.violations().is_empty(),
        "{:?}",
        d.model.violations()
    );
    free(up, target, opts);

    // Only drive items defer their commit; only Outlook attachments are inline.
    let todo = d.todo_target();
    let cid = c("logo@example");
    // SAFETY: live handles and string.
    unsafe {
        assert_eq!(us_target_set_defer_commit(todo), us_result::ConfigError);
        assert_eq!(
            us_target_set_inline(todo, cid.as_ptr()),
            us_result::ConfigError
        );
        us_target_free(todo);
    }
}

#[test]
fn an_inline_outlook_attachment() {
    let mut d = Driver::new(Config::default(), 50_000);
    let (base, item, cid) = (d.base(), c("AAMkAGVmMDEz="), c("logo@example"));
    let mut target = ptr::null_mut();
    // SAFETY: live strings and out-parameter.
    unsafe {
        ok(us_target_outlook_attachment(
            base.as_ptr(),
            ptr::null(),
            us_outlook_item::Event as u32,
            item.as_ptr(),
            &mut target,
        ));
        ok(us_target_set_inline(target, cid.as_ptr()));
    }
    let opts = options(0, false);
    let up = d.upload(target, opts);
    assert!(matches!(d.drive(up, None), End::Done { size: 50_000, .. }));
    assert_eq!(d.sent.len(), 1, "one POST below 3 MB");
    assert_eq!(d.sent[0].purpose, us_purpose::SinglePost);
    let parent = Parent::Outlook {
        collection: "events".into(),
        id: "AAMkAGVmMDEz=".into(),
    };
    assert_eq!(d.attachments(&parent), vec![d.file.clone()]);
    assert!(
        d.model.violations().is_empty(),
        "{:?}",
        d.model.violations()
    );
    free(up, target, opts);
}
