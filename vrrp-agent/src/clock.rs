//! Time for the driver: CLOCK_MONOTONIC (the clock `bpf_ktime_get_ns` stamps adverts with)
//! and a wake-up at an absolute deadline with microsecond precision.
//!
//! tokio's timer wheel has 1 ms granularity: at 10 ms adverts the Master_Down_Intervals of
//! priorities 90 and 80 are 391 us apart, and a millisecond timer would fire both backups in
//! the same tick. A timerfd armed at absolute CLOCK_MONOTONIC deadlines keeps that order.
use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::time::Duration;

use nix::sys::time::TimeSpec;
use nix::sys::timerfd::{ClockId, Expiration, TimerFd, TimerFlags, TimerSetTimeFlags};
use tokio::io::unix::AsyncFd;

/// CLOCK_MONOTONIC in nanoseconds: kernel receive timestamps and our deadlines compare
/// directly.
pub fn now_ns() -> u64 {
    // CLOCK_MONOTONIC always exists on Linux; 0 would only make deadlines fire early.
    nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC)
        .map(|ts| (ts.tv_sec() as u64).saturating_mul(1_000_000_000).saturating_add(ts.tv_nsec() as u64))
        .unwrap_or(0)
}

/// `AsRawFd` for tokio's `AsyncFd` (nix's `TimerFd` exposes `AsFd`).
struct Fd(TimerFd);

impl AsRawFd for Fd {
    fn as_raw_fd(&self) -> RawFd {
        self.0.as_fd().as_raw_fd()
    }
}

/// One absolute deadline on CLOCK_MONOTONIC, re-armed as the election's next deadline moves.
pub struct Deadline {
    fd: AsyncFd<Fd>,
    armed: Option<u64>,
}

impl Deadline {
    pub fn new() -> std::io::Result<Self> {
        let t = TimerFd::new(ClockId::CLOCK_MONOTONIC, TimerFlags::TFD_NONBLOCK | TimerFlags::TFD_CLOEXEC)?;
        // SAFETY: `Fd` owns the timerfd and the AsyncFd owns the `Fd`, so the descriptor stays
        // open exactly as long as it is registered.
        let fd = unsafe { AsyncFd::register(Fd(t)) }?;
        Ok(Deadline { fd, armed: None })
    }

    /// Wake at `at` (CLOCK_MONOTONIC ns; a time in the past wakes at once), or never.
    pub fn arm(&mut self, at: Option<u64>) -> std::io::Result<()> {
        if self.armed == at {
            return Ok(());
        }
        let t = &self.fd.get_ref().0;
        match at {
            // 0 would disarm a timerfd: the earliest real time is 1 ns.
            Some(ns) => t.set(
                Expiration::OneShot(TimeSpec::from_duration(Duration::from_nanos(ns.max(1)))),
                TimerSetTimeFlags::TFD_TIMER_ABSTIME,
            )?,
            None => t.unset()?,
        }
        self.armed = at;
        Ok(())
    }

    /// Resolves when the armed deadline is reached (never if none is armed).
    pub async fn wait(&mut self) -> std::io::Result<()> {
        loop {
            let mut guard = self.fd.readable().await?;
            match guard.try_io(|fd| fd.get_ref().0.wait().map_err(std::io::Error::from)) {
                Ok(Ok(())) => {
                    self.armed = None;
                    return Ok(());
                }
                Ok(Err(e)) => return Err(e),
                // Spurious readiness (re-armed in between): wait again.
                Err(_would_block) => continue,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn fires_at_an_absolute_deadline_with_sub_millisecond_precision() {
        let mut d = Deadline::new().expect("timerfd");
        for offset_us in [250u64, 1_390, 2_000] {
            let at = now_ns() + offset_us * 1_000;
            d.arm(Some(at)).expect("arm");
            d.wait().await.expect("wait");
            let woke = now_ns();
            assert!(woke >= at, "woke {} ns early", at - woke);
        }
        // A deadline in the past fires at once; disarmed never fires.
        d.arm(Some(1)).expect("arm");
        tokio::time::timeout(Duration::from_secs(5), d.wait()).await.expect("past deadline fires").expect("wait");
        d.arm(None).expect("disarm");
        assert!(tokio::time::timeout(Duration::from_millis(20), d.wait()).await.is_err());
    }
}
