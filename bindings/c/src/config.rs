//! What an upload is made from: a target (where it goes), a file (what the core knows of
//! it) and options. Each is an opaque handle, made by `*_new` or a target constructor and
//! freed by its `*_free`; `us_upload_new` and `us_upload_restore` copy what they need.

use std::ffi::c_char;
use std::time::Duration;

use upload_session::{
    ConfigError, Conflict, Drive, DrivePlace, FileInfo, Options, OutlookItem, Owner, QuickXorHash,
    Target,
};

use crate::ffi::{
    borrow, borrow_mut, bytes, guard, optional_text, text, us_result, Buffer, Fail, Out, Outcome,
};

/// An upload destination. Made by a `us_target_*` constructor, freed by `us_target_free`.
pub struct us_target {
    pub(crate) inner: Target,
}

/// The file as the core knows it: name, size, content type, fingerprint. The core never
/// reads the file; the caller does. Made by `us_file_new`, freed by `us_file_free`.
pub struct us_file {
    pub(crate) inner: FileInfo,
}

/// How an upload behaves. Made by `us_options_new` (the core's defaults), freed by
/// `us_options_free`.
pub struct us_options {
    pub(crate) inner: Options,
}

/// Which drive a drive item lives in (a `uint32_t` argument).
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum us_drive {
    /// The signed-in user's drive, `/me/drive`; the drive id argument is ignored.
    Me = 0,
    /// A drive by id: `/drives/{id}`.
    Id = 1,
    /// A user's drive: `/users/{id}/drive`.
    User = 2,
    /// A group's drive: `/groups/{id}/drive`.
    Group = 3,
    /// A SharePoint site's drive: `/sites/{id}/drive`.
    Site = 4,
}

/// What a drive upload does when the name is taken (a `uint32_t` argument).
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum us_conflict {
    /// The final PUT fails with 409: nothing is overwritten.
    Fail = 0,
    /// The new bytes replace the item.
    Replace = 1,
    /// The new item gets a free name.
    Rename = 2,
}

/// Which Outlook item an attachment goes on (a `uint32_t` argument).
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum us_outlook_item {
    /// A message: `/messages/{id}`.
    Message = 0,
    /// An event: `/events/{id}`.
    Event = 1,
}

fn config_error(e: ConfigError) -> Fail {
    Fail::new(us_result::ConfigError, e.to_string())
}

/// Boxes `value` into a handle for C.
fn hand_out<T>(out: Out<*mut T>, value: T) {
    out.set(Box::into_raw(Box::new(value)));
}

/// Frees a handle made by [`hand_out`]; NULL does nothing.
///
/// # Safety
/// `p` is NULL or a pointer from `hand_out` not freed yet.
pub(crate) unsafe fn free<T>(p: *mut T) {
    if !p.is_null() {
        // SAFETY: made by `Box::into_raw` in `hand_out`, freed once by the caller's contract.
        drop(unsafe { Box::from_raw(p) });
    }
}

fn owner(user: Option<&str>) -> Owner {
    user.map_or(Owner::Me, |u| Owner::User(u.to_owned()))
}

fn make_target(out: *mut *mut us_target, make: impl FnOnce() -> Outcome<Target>) -> us_result {
    guard(|| {
        // SAFETY: the crate's pointer contract.
        let out = unsafe { Out::new(out, "target_out") }?;
        let inner = make()?;
        hand_out(out, us_target { inner });
        Ok(())
    })
}

/// A To Do task's attachments: `{base_url}/me/todo/lists/{list_id}/tasks/{task_id}/attachments`,
/// or `/users/{user}/...` when `user` is not NULL. `base_url` is e.g.
/// "https://graph.microsoft.com/v1.0". On success `*target_out` is a new handle for
/// `us_target_free`; `US_RESULT_CONFIG_ERROR` for a base URL that is not absolute http(s) or
/// an empty id.
#[no_mangle]
pub unsafe extern "C" fn us_target_todo_task(
    base_url: *const c_char,
    user: *const c_char,
    list_id: *const c_char,
    task_id: *const c_char,
    target_out: *mut *mut us_target,
) -> us_result {
    make_target(target_out, || {
        // SAFETY: the crate's pointer contract, for each string.
        let (base, user, list, task) = unsafe {
            (
                text(base_url, "base_url")?,
                optional_text(user, "user")?,
                text(list_id, "list_id")?,
                text(task_id, "task_id")?,
            )
        };
        Target::todo_task(base, owner(user), list, task).map_err(config_error)
    })
}

/// # Safety
/// As the crate's pointer contract.
unsafe fn drive_of(kind: u32, id: *const c_char) -> Outcome<Drive> {
    let id = || -> Outcome<String> {
        // SAFETY: the caller's contract.
        unsafe { text(id, "drive_id") }.map(str::to_owned)
    };
    Ok(match kind {
        k if k == us_drive::Me as u32 => Drive::Me,
        k if k == us_drive::Id as u32 => Drive::Id(id()?),
        k if k == us_drive::User as u32 => Drive::User(id()?),
        k if k == us_drive::Group as u32 => Drive::Group(id()?),
        k if k == us_drive::Site as u32 => Drive::Site(id()?),
        other => {
            return Err(Fail::new(
                us_result::InvalidArgument,
                format!("drive {other} is not a us_drive value"),
            ))
        }
    })
}

fn conflict_of(value: u32) -> Outcome<Conflict> {
    Ok(match value {
        v if v == us_conflict::Fail as u32 => Conflict::Fail,
        v if v == us_conflict::Replace as u32 => Conflict::Replace,
        v if v == us_conflict::Rename as u32 => Conflict::Rename,
        other => {
            return Err(Fail::new(
                us_result::InvalidArgument,
                format!("conflict {other} is not a us_conflict value"),
            ))
        }
    })
}

/// A OneDrive or SharePoint file by path from the drive's root ("/Documents/report.pdf").
/// `drive` is a `us_drive` value; `drive_id` is ignored for `US_DRIVE_ME` and required
/// otherwise; `conflict` is a `us_conflict` value. PUTs go to a pre-authenticated upload URL
/// without the token. On success `*target_out` is a new handle for `us_target_free`.
#[no_mangle]
pub unsafe extern "C" fn us_target_drive_item_path(
    base_url: *const c_char,
    drive: u32,
    drive_id: *const c_char,
    path: *const c_char,
    conflict: u32,
    target_out: *mut *mut us_target,
) -> us_result {
    make_target(target_out, || {
        // SAFETY: the crate's pointer contract, for each string.
        let (base, drive, path) = unsafe {
            (
                text(base_url, "base_url")?,
                drive_of(drive, drive_id)?,
                text(path, "path")?,
            )
        };
        let place = DrivePlace::Path(path.to_owned());
        Target::drive_item(base, drive, place, conflict_of(conflict)?).map_err(config_error)
    })
}

/// A OneDrive or SharePoint file named `name` in the folder whose item id is `parent_item`;
/// otherwise as `us_target_drive_item_path`.
#[no_mangle]
pub unsafe extern "C" fn us_target_drive_item_child(
    base_url: *const c_char,
    drive: u32,
    drive_id: *const c_char,
    parent_item: *const c_char,
    name: *const c_char,
    conflict: u32,
    target_out: *mut *mut us_target,
) -> us_result {
    make_target(target_out, || {
        // SAFETY: the crate's pointer contract, for each string.
        let (base, drive, item, name) = unsafe {
            (
                text(base_url, "base_url")?,
                drive_of(drive, drive_id)?,
                text(parent_item, "parent_item")?,
                text(name, "name")?,
            )
        };
        let place = DrivePlace::Parent {
            item: item.to_owned(),
            name: name.to_owned(),
        };
        Target::drive_item(base, drive, place, conflict_of(conflict)?).map_err(config_error)
    })
}

/// An Outlook message's or event's attachments: `{base_url}/me/messages/{item_id}/attachments`
/// (`item` is a `us_outlook_item` value; `/users/{user}` when `user` is not NULL). Sessions
/// take files from 3,000,000 bytes; smaller ones go by one POST. PUTs go to another origin,
/// without the token. On success `*target_out` is a new handle for `us_target_free`.
#[no_mangle]
pub unsafe extern "C" fn us_target_outlook_attachment(
    base_url: *const c_char,
    user: *const c_char,
    item: u32,
    item_id: *const c_char,
    target_out: *mut *mut us_target,
) -> us_result {
    make_target(target_out, || {
        // SAFETY: the crate's pointer contract, for each string.
        let (base, user, id) = unsafe {
            (
                text(base_url, "base_url")?,
                optional_text(user, "user")?,
                text(item_id, "item_id")?,
            )
        };
        let item = match item {
            i if i == us_outlook_item::Message as u32 => OutlookItem::Message,
            i if i == us_outlook_item::Event as u32 => OutlookItem::Event,
            other => {
                return Err(Fail::new(
                    us_result::InvalidArgument,
                    format!("item {other} is not a us_outlook_item value"),
                ))
            }
        };
        Target::outlook_attachment(base, owner(user), item, id).map_err(config_error)
    })
}

/// A Universal Print document:
/// `{base_url}/print/printers/{printer_id}/jobs/{job_id}/documents/{document_id}`. On success
/// `*target_out` is a new handle for `us_target_free`.
#[no_mangle]
pub unsafe extern "C" fn us_target_print_document(
    base_url: *const c_char,
    printer_id: *const c_char,
    job_id: *const c_char,
    document_id: *const c_char,
    target_out: *mut *mut us_target,
) -> us_result {
    make_target(target_out, || {
        // SAFETY: the crate's pointer contract, for each string.
        let (base, printer, job, document) = unsafe {
            (
                text(base_url, "base_url")?,
                text(printer_id, "printer_id")?,
                text(job_id, "job_id")?,
                text(document_id, "document_id")?,
            )
        };
        Target::print_document(base, printer, job, document).map_err(config_error)
    })
}

/// Makes a drive item target wait for an explicit commit (`deferCommit`): once the session
/// holds every byte the upload sends `POST {uploadUrl}` with no body (`US_PURPOSE_COMMIT`).
/// `US_RESULT_CONFIG_ERROR` for a target that is not a drive item.
#[no_mangle]
pub unsafe extern "C" fn us_target_set_defer_commit(target: *mut us_target) -> us_result {
    guard(|| {
        // SAFETY: the crate's pointer contract.
        let t = unsafe { borrow_mut(target, "target") }?;
        t.inner = t.inner.clone().with_defer_commit().map_err(config_error)?;
        Ok(())
    })
}

/// Makes an Outlook attachment inline, with the `contentId` the message body's `cid:`
/// references name. `US_RESULT_CONFIG_ERROR` for another target or an empty id.
#[no_mangle]
pub unsafe extern "C" fn us_target_set_inline(
    target: *mut us_target,
    content_id: *const c_char,
) -> us_result {
    guard(|| {
        // SAFETY: the crate's pointer contract.
        let (t, cid) = unsafe {
            (
                borrow_mut(target, "target")?,
                text(content_id, "content_id")?,
            )
        };
        t.inner = t.inner.clone().with_inline(cid).map_err(config_error)?;
        Ok(())
    })
}

/// Frees a target. NULL is accepted and ignored; freeing twice is undefined.
#[no_mangle]
pub unsafe extern "C" fn us_target_free(target: *mut us_target) {
    // The drop of plain Rust data cannot panic; guarded all the same.
    // SAFETY: NULL or a handle from a `us_target_*` constructor, by the caller's contract.
    let _ = guard(|| {
        // SAFETY: as above.
        unsafe { free(target) };
        Ok(())
    });
}

/// A file called `name` (the attachment's name; for a drive item the target names it) of
/// `size` bytes, content type "application/octet-stream", empty fingerprint. On success
/// `*file_out` is a new handle for `us_file_free`.
#[no_mangle]
pub unsafe extern "C" fn us_file_new(
    name: *const c_char,
    size: u64,
    file_out: *mut *mut us_file,
) -> us_result {
    guard(|| {
        // SAFETY: the crate's pointer contract.
        let (name, out) = unsafe { (text(name, "name")?, Out::new(file_out, "file_out")?) };
        hand_out(
            out,
            us_file {
                inner: FileInfo::new(name, size),
            },
        );
        Ok(())
    })
}

/// Sets the content type sent with the single POST and with print documents.
#[no_mangle]
pub unsafe extern "C" fn us_file_set_content_type(
    file: *mut us_file,
    content_type: *const c_char,
) -> us_result {
    guard(|| {
        // SAFETY: the crate's pointer contract.
        let (file, ct) = unsafe {
            (
                borrow_mut(file, "file")?,
                text(content_type, "content_type")?,
            )
        };
        file.inner = file.inner.clone().with_content_type(ct);
        Ok(())
    })
}

/// Sets an opaque fingerprint of the file's contents or version (e.g. size and mtime),
/// recorded in saved state: restoring a state for a file with another fingerprint fails.
#[no_mangle]
pub unsafe extern "C" fn us_file_set_fingerprint(
    file: *mut us_file,
    fingerprint: *const c_char,
) -> us_result {
    guard(|| {
        // SAFETY: the crate's pointer contract.
        let (file, fp) = unsafe { (borrow_mut(file, "file")?, text(fingerprint, "fingerprint")?) };
        file.inner = file.inner.clone().with_fingerprint(fp);
        Ok(())
    })
}

/// Sets the file's QuickXorHash (base64, from `us_quick_xor_hash_base64`) for drive items: a
/// lost final answer is then settled only by an item with these bytes, and a completed item
/// that reports another hash fails the upload.
#[no_mangle]
pub unsafe extern "C" fn us_file_set_quick_xor_hash(
    file: *mut us_file,
    hash: *const c_char,
) -> us_result {
    guard(|| {
        // SAFETY: the crate's pointer contract.
        let (file, hash) = unsafe { (borrow_mut(file, "file")?, text(hash, "hash")?) };
        file.inner = file.inner.clone().with_quick_xor_hash(hash);
        Ok(())
    })
}

/// Frees a file. NULL is accepted and ignored; freeing twice is undefined.
#[no_mangle]
pub unsafe extern "C" fn us_file_free(file: *mut us_file) {
    // SAFETY: NULL or a handle from `us_file_new`, by the caller's contract.
    let _ = guard(|| {
        // SAFETY: as above.
        unsafe { free(file) };
        Ok(())
    });
}

/// The core's default options. On success `*options_out` is a new handle for
/// `us_options_free`.
#[no_mangle]
pub unsafe extern "C" fn us_options_new(options_out: *mut *mut us_options) -> us_result {
    guard(|| {
        // SAFETY: the crate's pointer contract.
        let out = unsafe { Out::new(options_out, "options_out") }?;
        hand_out(
            out,
            us_options {
                inner: Options::default(),
            },
        );
        Ok(())
    })
}

/// # Safety
/// As the crate's pointer contract.
unsafe fn edit_options(options: *mut us_options, f: impl FnOnce(&mut Options)) -> us_result {
    guard(|| {
        // SAFETY: the caller's contract.
        let o = unsafe { borrow_mut(options, "options") }?;
        f(&mut o.inner);
        Ok(())
    })
}

/// Bytes per PUT; 0 restores the target's default. Checked against the target by
/// `us_upload_new` (drive items: a multiple of 327,680).
#[no_mangle]
pub unsafe extern "C" fn us_options_set_chunk_size(
    options: *mut us_options,
    bytes: u64,
) -> us_result {
    // SAFETY: the caller's contract.
    unsafe { edit_options(options, |o| o.chunk_size = (bytes > 0).then_some(bytes)) }
}

/// Uses an upload session even where the single POST would do (a 0-byte file still goes by
/// the single POST).
#[no_mangle]
pub unsafe extern "C" fn us_options_set_force_session(
    options: *mut us_options,
    force: bool,
) -> us_result {
    // SAFETY: the caller's contract.
    unsafe { edit_options(options, |o| o.force_session = force) }
}

/// How many times an expired or lost session may be replaced by a new one (default 2).
#[no_mangle]
pub unsafe extern "C" fn us_options_set_max_restarts(
    options: *mut us_options,
    restarts: u32,
) -> us_result {
    // SAFETY: the caller's contract.
    unsafe { edit_options(options, |o| o.max_restarts = restarts) }
}

/// Overrides the target's file size limit; 0 restores the target's own.
#[no_mangle]
pub unsafe extern "C" fn us_options_set_size_limit(
    options: *mut us_options,
    bytes: u64,
) -> us_result {
    // SAFETY: the caller's contract.
    unsafe { edit_options(options, |o| o.size_limit = (bytes > 0).then_some(bytes)) }
}

/// The retry policy for transient failures: the first backoff, the longest single backoff,
/// the longest a streak of failures may last, the tries that may fail in a row (at least 1),
/// and the jitter's seed. The defaults are 3,000 ms, 180,000 ms, 1,800,000 ms, 10 tries.
#[no_mangle]
pub unsafe extern "C" fn us_options_set_retry(
    options: *mut us_options,
    initial_ms: u64,
    max_wait_ms: u64,
    max_total_ms: u64,
    max_attempts: u32,
    seed: u64,
) -> us_result {
    // SAFETY: the caller's contract.
    unsafe {
        edit_options(options, |o| {
            o.retry.initial = Duration::from_millis(initial_ms);
            o.retry.max_wait = Duration::from_millis(max_wait_ms);
            o.retry.max_total = Duration::from_millis(max_total_ms);
            o.retry.max_attempts = max_attempts;
            o.retry.seed = seed;
        })
    }
}

/// Frees options. NULL is accepted and ignored; freeing twice is undefined.
#[no_mangle]
pub unsafe extern "C" fn us_options_free(options: *mut us_options) {
    // SAFETY: NULL or a handle from `us_options_new`, by the caller's contract.
    let _ = guard(|| {
        // SAFETY: as above.
        unsafe { free(options) };
        Ok(())
    });
}

/// The three inputs of an upload, borrowed.
///
/// # Safety
/// As the crate's pointer contract.
pub(crate) unsafe fn inputs<'a>(
    target: *const us_target,
    file: *const us_file,
    options: *const us_options,
) -> Outcome<(&'a us_target, &'a us_file, &'a us_options)> {
    // SAFETY: the caller's contract.
    unsafe {
        Ok((
            borrow(target, "target")?,
            borrow(file, "file")?,
            borrow(options, "options")?,
        ))
    }
}

/// OneDrive's content hash, fed the file's bytes in order. Made by `us_quick_xor_hash_new`,
/// freed by `us_quick_xor_hash_free`.
pub struct us_quick_xor_hash {
    inner: QuickXorHash,
}

/// A new, empty hash. On success `*hash_out` is a new handle for `us_quick_xor_hash_free`.
#[no_mangle]
pub unsafe extern "C" fn us_quick_xor_hash_new(hash_out: *mut *mut us_quick_xor_hash) -> us_result {
    guard(|| {
        // SAFETY: the crate's pointer contract.
        let out = unsafe { Out::new(hash_out, "hash_out") }?;
        hand_out(
            out,
            us_quick_xor_hash {
                inner: QuickXorHash::new(),
            },
        );
        Ok(())
    })
}

/// Feeds the next `len` bytes of the file (`bytes` may be NULL when `len` is 0).
#[no_mangle]
pub unsafe extern "C" fn us_quick_xor_hash_update(
    hash: *mut us_quick_xor_hash,
    data: *const u8,
    len: usize,
) -> us_result {
    guard(|| {
        // SAFETY: the crate's pointer contract.
        let (h, data) = unsafe { (borrow_mut(hash, "hash")?, bytes(data, len, "data")?) };
        h.inner.update(data);
        Ok(())
    })
}

/// Writes the hash of the bytes fed so far, base64 (28 characters), and a NUL to `buf`; its
/// length without the NUL to `*written`. `cap` must be at least 29.
#[no_mangle]
pub unsafe extern "C" fn us_quick_xor_hash_base64(
    hash: *const us_quick_xor_hash,
    buf: *mut c_char,
    cap: usize,
    written: *mut usize,
) -> us_result {
    guard(|| {
        // SAFETY: the crate's pointer contract, for every pointer.
        let (h, buf, written) = unsafe {
            (
                borrow(hash, "hash")?,
                Buffer::new(buf, cap, "buf")?,
                Out::new(written, "written")?,
            )
        };
        let mut text = h.inner.to_base64().into_bytes();
        let len = text.len();
        if len >= buf.capacity() {
            return Err(Fail::new(
                us_result::BufferTooSmall,
                format!(
                    "{} bytes needed with the NUL, {} given",
                    len + 1,
                    buf.capacity()
                ),
            ));
        }
        text.push(0);
        buf.fill(&text);
        written.set(len);
        Ok(())
    })
}

/// Frees a hash. NULL is accepted and ignored; freeing twice is undefined.
#[no_mangle]
pub unsafe extern "C" fn us_quick_xor_hash_free(hash: *mut us_quick_xor_hash) {
    let _ = guard(|| {
        // SAFETY: NULL or a handle from `us_quick_xor_hash_new`, by the caller's contract.
        unsafe { free(hash) };
        Ok(())
    });
}
