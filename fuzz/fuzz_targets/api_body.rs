#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| plexus_cli::fuzz::api_body(data));
