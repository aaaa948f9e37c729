#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| plexus::fuzz::pubsub_envelope(data));
