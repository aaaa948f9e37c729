#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| plexus::fuzz::config_toml(data));
