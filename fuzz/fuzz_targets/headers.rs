#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| upload_session_testkit::fuzzing::headers(data));
