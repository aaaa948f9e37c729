#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| plexus::fuzz::ticket(data));
