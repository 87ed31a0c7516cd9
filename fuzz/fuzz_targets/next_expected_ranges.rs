#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| upload_session::fuzzing::next_expected_ranges(data));
