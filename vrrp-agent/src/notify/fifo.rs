//! A notify FIFO (`notify_fifo`, `vrrp_notify_fifo`): keepalived's lines, in order, none
//! lost when the reader is slow or absent, and the agent never blocked by it.
//!
//! As keepalived: the FIFO is created (mode 0644, owned by the FIFO's user) if it does not
//! exist, and opened read-write and non-blocking, so opening never waits for a reader and a
//! write never fails for want of one. Unlike keepalived, which drops a line when the pipe is
//! full, lines wait in an unbounded in-order queue that one task writes out as the reader
//! makes room. Each line is far shorter than PIPE_BUF, so a reader never sees half a line.
use std::{
    io,
    os::unix::fs::OpenOptionsExt as _,
    path::{Path, PathBuf},
    time::Duration,
};

use nix::{errno::Errno, sys::stat::Mode, unistd::mkfifo};
use tokio::{io::AsyncWriteExt as _, net::unix::pipe, sync::mpsc, task::JoinHandle};
use tracing::{debug, warn};

use crate::exec::{RunAs, ids};

/// keepalived's FIFO line: `INSTANCE "VI_1" MASTER 100` / `GROUP "G" BACKUP 0`, newline
/// terminated.
pub fn fifo_line(kind: &str, name: &str, state: &str, priority: u8) -> String {
    format!("{kind} \"{name}\" {state} {priority}\n")
}

/// Creates the FIFO at `path` unless something is there already; a new FIFO is given to
/// `owner` when that is not us. Returns whether it was created (and is ours to remove).
pub(super) fn create(path: &Path, owner: RunAs) -> io::Result<bool> {
    match mkfifo(path, Mode::from_bits_truncate(0o644)) {
        Ok(()) => {
            if owner != RunAs::ours() {
                let (u, g) = ids(owner);
                let ours = RunAs::ours();
                let uid = (owner.uid != ours.uid).then_some(u);
                let gid = (owner.gid != ours.gid).then_some(g);
                if let Err(e) = nix::unistd::chown(path, uid, gid) {
                    warn!("cannot give FIFO {} to uid:gid {}:{}: {e}", path.display(), owner.uid, owner.gid);
                }
            }
            Ok(true)
        }
        Err(Errno::EEXIST) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// The writing end of one notify FIFO.
pub struct FifoWriter {
    path: PathBuf,
    created: bool,
    tx: mpsc::UnboundedSender<String>,
    task: JoinHandle<()>,
    /// Another descriptor of the same FIFO (open for reading too): polled at exit to see
    /// whether the reader has taken everything written.
    probe: std::fs::File,
}

impl FifoWriter {
    /// Opens the FIFO at `path` (it must exist and be a FIFO; not through a symlink) and
    /// starts the task that writes queued lines. `created`: remove it on [`close`].
    ///
    /// [`close`]: FifoWriter::close
    pub fn open(path: &Path, created: bool) -> io::Result<FifoWriter> {
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_NOFOLLOW)
            .open(path)?;
        let probe = file.try_clone()?;
        let mut sender = pipe::Sender::from_file(file)?;
        let (tx, mut rx) = mpsc::unbounded_channel::<String>();
        let shown = path.display().to_string();
        let task = tokio::spawn(async move {
            while let Some(line) = rx.recv().await {
                if let Err(e) = sender.write_all(line.as_bytes()).await {
                    warn!("notify FIFO {shown}: {e}; no more lines are written to it");
                    return;
                }
            }
            debug!("notify FIFO {shown}: queue closed");
        });
        Ok(FifoWriter { path: path.to_path_buf(), created, tx, task, probe })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Queues `line` (newline included). Never blocks.
    pub fn send(&self, line: String) {
        if self.tx.send(line).is_err() {
            debug!("notify FIFO {}: writer gone, line dropped", self.path.display());
        }
    }

    /// Writes out what is queued and waits until the reader has taken it from the FIFO (for
    /// at most `bound` in all: nobody may be reading), closes the FIFO and removes it if the
    /// agent created it (so that a reader looping on reopening it does not find it again).
    /// Called before the FIFO's reader script is stopped, so the last lines (STOP) reach it.
    pub async fn close(self, bound: Duration) {
        let FifoWriter { path, created, tx, mut task, probe } = self;
        let deadline = tokio::time::Instant::now() + bound;
        drop(tx);
        if tokio::time::timeout_at(deadline, &mut task).await.is_err() {
            warn!("notify FIFO {}: lines still queued after {:.1} s at exit (no reader); dropped", path.display(), bound.as_secs_f64());
            task.abort();
        } else {
            while unread(&probe) && tokio::time::Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            if unread(&probe) {
                warn!("notify FIFO {}: its reader did not take the last lines within {:.1} s", path.display(), bound.as_secs_f64());
            }
        }
        if created && let Err(e) = std::fs::remove_file(&path) {
            debug!("removing notify FIFO {}: {e}", path.display());
        }
    }
}

/// Whether the FIFO still holds bytes nobody has read (it polls readable on our own
/// read-write descriptor).
fn unread(probe: &std::fs::File) -> bool {
    use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
    use std::os::fd::AsFd as _;
    let mut fds = [PollFd::new(probe.as_fd(), PollFlags::POLLIN)];
    matches!(poll(&mut fds, PollTimeout::ZERO), Ok(n) if n > 0)
}
