//! The real XDP program (BPF_PROG_TEST_RUN) against the userspace validator on every frame
//! libFuzzer makes: `vrrp_agent::rx::parity::check` (the same check as
//! tests/tests/validator_parity.rs): the same verdicts and reasons, no ABORTED, DROP and TX only
//! where the design says, counters consistent, PASS leaves the frame alone.
//!
//! Needs root (CAP_BPF) to load the object. The first byte says which checksums to repair
//! after the fuzzer's edits (`parity::fix`); the rest is the Ethernet frame.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use vrrp_agent::rx::parity::{self, Fixture};

static FIXTURE: LazyLock<Fixture> = LazyLock::new(|| match Fixture::load() {
    Ok(f) => f,
    Err(e) => panic!("loading the XDP object (this target needs root): {e}"),
});

fuzz_target!(|data: &[u8]| {
    let Some((&fix, frame)) = data.split_first() else { return };
    // BPF_PROG_TEST_RUN wants at least an Ethernet header, and at most about a page; frames
    // longer than an Ethernet MTU do not arrive anyway.
    if !(14..=1514).contains(&frame.len()) {
        return;
    }
    let mut f = frame.to_vec();
    parity::repair(&mut f, fix);
    if let Err(e) = parity::check(&FIXTURE, &f) {
        panic!("{e}\nframe: {f:02x?}");
    }
});
