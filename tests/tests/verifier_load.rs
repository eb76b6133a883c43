//! Loading the XDP program survives a signal that arrives while the kernel's verifier walks it.
//! The verifier gives up with EAGAIN when the loading thread has a signal pending; on a busy
//! 2-core machine it walks our program for a quarter of a second and more, and a SIGCHLD or
//! SIGHUP landing in that window made a start (and CI once) fail. Own test binary: the signal
//! handler it installs stays for the life of the process.
use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use aya::{EbpfLoader, programs::Xdp};
use nix::sys::{pthread, signal::Signal};
use vrrp_agent::dataplane::{EBPF_OBJECT, load_retrying};
use vrrp_common::names;
use vrrp_tests::require_root;

/// Sends SIGUSR1 to `target` every millisecond until `stop` is set or 10 s pass (bounded).
fn pester(target: pthread::Pthread, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<u32> {
    std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut sent = 0;
        while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
            if pthread::pthread_kill(target, Signal::SIGUSR1).is_ok() {
                sent += 1;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        sent
    })
}

#[test]
fn a_signal_during_verification_costs_a_retry_not_the_start() {
    if !require_root("a_signal_during_verification_costs_a_retry_not_the_start") {
        return;
    }
    // A handler (tokio's) so SIGUSR1 interrupts instead of killing the process.
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let _usr1 = rt.block_on(async { tokio::signal::unix::signal(tokio::signal::unix::SignalKind::user_defined1()) }).expect("SIGUSR1 handler");

    let mut ebpf = EbpfLoader::new().load(EBPF_OBJECT).expect("the object parses");
    let prog: &mut Xdp = ebpf.program_mut(names::PROGRAM).expect("the program").try_into().expect("an XDP program");
    let me = pthread::pthread_self();
    let stop = Arc::new(AtomicBool::new(false));
    let mut errors = Vec::new();
    let mut pesterer = Some(pester(me, stop.clone()));
    let mut sent = 0;
    let result = load_retrying(names::PROGRAM, || {
        let r = prog.load();
        // Only the first attempt is pestered.
        if let Some(h) = pesterer.take() {
            stop.store(true, Ordering::Relaxed);
            sent = h.join().expect("pester thread");
        }
        if let Err(aya::programs::ProgramError::LoadError { io_error, .. }) = &r {
            errors.push(io_error.kind());
        }
        r
    });
    assert!(sent > 0, "no signal was sent while the verifier ran");
    result.expect("the program loads once the signals stop");
    assert_eq!(
        errors,
        [std::io::ErrorKind::WouldBlock],
        "the pestered attempt failed with EAGAIN and the next one loaded ({sent} signals sent)"
    );
    assert!(prog.fd().is_ok(), "the program is loaded");
}
