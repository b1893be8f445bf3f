//! See `wsock_fuzz::handshake` (fuzz/src/lib.rs) for what the input is.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(init: wsock_fuzz::init(), |input: &[u8]| {
    wsock_fuzz::handshake(input);
});
