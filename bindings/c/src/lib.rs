//! A C ABI for `upload-session`, the sans-IO core of Microsoft Graph resumable uploads.
//!
//! The C header, `include/upload_session.h`, is generated from this crate by cbindgen; its
//! opening comment states the rules every function follows (result codes, NULL, ownership,
//! how long borrowed pointers live). `README.md` next to it shows the driving loop in C.
//!
//! Every function here is `unsafe extern "C"`: the caller promises that each non-NULL pointer
//! it passes points to a live value of the declared type (a handle from this library, a
//! NUL-terminated string, `len` readable bytes, a writable out-parameter). NULL is always
//! checked and refused with `US_RESULT_NULL_POINTER`. No panic crosses the boundary.

#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]
// The C names are the Rust names: `us_upload`, `us_result`.
#![allow(non_camel_case_types)]
// The pointer contract is the same for every function: stated once, above and in the header.
#![allow(clippy::missing_safety_doc)]

mod action;
mod config;
mod ffi;
mod upload;

pub use action::{
    us_action, us_action_done_found_by_lookup, us_action_done_id, us_action_done_location,
    us_action_done_quick_xor_hash, us_action_done_size, us_action_done_web_url,
    us_action_failure_category, us_action_failure_message, us_action_failure_status,
    us_action_get_kind, us_action_kind, us_action_request, us_action_wait, us_base64_encode,
    us_base64_len, us_body_kind, us_failure_category, us_purpose, us_request,
    us_request_body_base64_json, us_request_body_json, us_request_body_kind, us_request_body_range,
    us_request_content_length, us_request_header, us_request_header_count, us_request_id,
    us_request_method, us_request_needs_token, us_request_purpose, us_request_save_before_sending,
    us_request_url, us_wait_reason,
};
pub use config::{
    us_conflict, us_drive, us_file, us_file_free, us_file_new, us_file_set_content_type,
    us_file_set_fingerprint, us_file_set_quick_xor_hash, us_options, us_options_free,
    us_options_new, us_options_set_chunk_size, us_options_set_force_session,
    us_options_set_max_restarts, us_options_set_retry, us_options_set_size_limit, us_outlook_item,
    us_quick_xor_hash, us_quick_xor_hash_base64, us_quick_xor_hash_free, us_quick_xor_hash_new,
    us_quick_xor_hash_update, us_target, us_target_drive_item_child, us_target_drive_item_path,
    us_target_free, us_target_outlook_attachment, us_target_print_document,
    us_target_set_defer_commit, us_target_set_inline, us_target_todo_task,
};
pub use ffi::{us_last_error, us_result, us_result_text, us_version};
pub use upload::{
    us_transport_error, us_upload, us_upload_cancel, us_upload_free, us_upload_handle_response,
    us_upload_handle_transport_error, us_upload_new, us_upload_poll, us_upload_progress,
    us_upload_requests, us_upload_restore, us_upload_save, us_upload_save_len, us_upload_sessions,
    us_upload_token_refreshed,
};
