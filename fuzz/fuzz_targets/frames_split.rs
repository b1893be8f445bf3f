//! See `wsock_fuzz::frames_split` (fuzz/src/lib.rs) for what the input is.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(init: wsock_fuzz::init(), |input: &[u8]| {
    wsock_fuzz::frames_split(input);
});
