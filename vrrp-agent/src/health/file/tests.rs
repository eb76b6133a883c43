//! Track files with real files in a fresh directory: written in place, replaced by rename,
//! deleted, created again, garbage, `init_file` with and without `overwrite`, reloads.
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use tokio::sync::mpsc;

use super::*;
use crate::config::TrackFileInit;

/// How long an expected event may take (inotify delivers in microseconds; this is only the
/// bound after which the test fails instead of hanging).
const DEADLINE: Duration = Duration::from_secs(5);

/// A directory of its own, removed when the test ends (also on failure).
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        static N: AtomicU32 = AtomicU32::new(0);
        let p = std::env::temp_dir().join(format!(
            "vrrp-agent-trackfile-{}-{}-{tag}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }

    fn file(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn def(name: &str, path: &Path) -> TrackFile {
    TrackFile {
        name: name.to_string(),
        file: PathBuf::from("keepalived.conf"),
        line: 7,
        path: path.to_str().unwrap().to_string(),
        weight: 1,
        weight_reverse: false,
        init_file: None,
    }
}

async fn next(rx: &mut mpsc::Receiver<HealthEvent>) -> (String, i64) {
    match tokio::time::timeout(DEADLINE, rx.recv()).await {
        Ok(Some(HealthEvent::File { name, value })) => (name, value),
        Ok(other) => panic!("expected a File event, got {other:?}"),
        Err(_) => panic!("no event within {DEADLINE:?}"),
    }
}

/// Replaces the file's contents at once (a temporary file and a rename), for writes whose
/// event the test does not wait for: an in-place write has a moment when the file is empty.
fn replace(path: &Path, text: &str) {
    let tmp = path.with_extension("replacing");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

fn ev(name: &str, value: i64) -> (String, i64) {
    (name.to_string(), value)
}

#[test]
fn values_are_read_as_strtol_base_0_reads_them() {
    for (text, want) in [
        ("42", Some(42)),
        ("  \t\n42\n", Some(42)),
        ("-17 apples", Some(-17)),
        ("+5", Some(5)),
        ("0x1F", Some(31)),
        ("0X1f", Some(31)),
        ("010", Some(8)),
        ("08", Some(0)),
        ("0x", Some(0)),
        ("0xg", Some(0)),
        ("abc", Some(0)),
        ("", Some(0)),
        ("- 5", Some(0)),
        ("1e3", Some(1)),
        ("12\u{0}34", Some(12)),
        ("2147483647", Some(2_147_483_647)),
        ("2147483648", Some(2_147_483_648)),
        ("-2147483648", Some(-2_147_483_648)),
        ("2147483649", None),
        ("-2147483649", None),
        ("99999999999999999999999999999", None),
        ("-9223372036854775808", None),
    ] {
        assert_eq!(parse_value(text.as_bytes()), want, "{text:?}");
    }
}

#[tokio::test]
async fn follows_writes_renames_deletes_and_garbage() {
    let dir = TempDir::new("follow");
    let path = dir.file("weight");
    std::fs::write(&path, "  42\n").unwrap();
    let missing = dir.file("missing");
    let (tx, mut rx) = mpsc::channel(16);
    let (t, errors) = FileTrackers::start(&[def("a", &path), def("m", &missing)], tx).unwrap();
    assert!(errors.is_empty(), "{errors:?}");
    let mut first = vec![next(&mut rx).await, next(&mut rx).await];
    first.sort();
    assert_eq!(first, vec![ev("a", 42), ev("m", 0)], "each tracker's value at start; a missing file reads 0");
    assert_eq!(t.value("a"), Some(42));

    // Written in place.
    std::fs::write(&path, "7").unwrap();
    assert_eq!(next(&mut rx).await, ev("a", 7));

    // The same value again: no event (the next event is the following change).
    replace(&path, "7\n");
    // Replaced by rename (a temporary file in the same directory is not the tracked one).
    let tmp = dir.file(".weight.tmp");
    std::fs::write(&tmp, "-3").unwrap();
    std::fs::rename(&tmp, &path).unwrap();
    assert_eq!(next(&mut rx).await, ev("a", -3));

    // Deleted: 0. Created again: its value.
    std::fs::remove_file(&path).unwrap();
    assert_eq!(next(&mut rx).await, ev("a", 0));
    std::fs::write(&path, "9").unwrap();
    assert_eq!(next(&mut rx).await, ev("a", 9));

    // Moved away: 0.
    std::fs::rename(&path, dir.file("elsewhere")).unwrap();
    assert_eq!(next(&mut rx).await, ev("a", 0));
    std::fs::write(&path, "0x10").unwrap();
    assert_eq!(next(&mut rx).await, ev("a", 16));

    // Garbage reads as 0; an out-of-range number is ignored (the value stays).
    std::fs::write(&path, "not a number").unwrap();
    assert_eq!(next(&mut rx).await, ev("a", 0));
    std::fs::write(&path, "5").unwrap();
    assert_eq!(next(&mut rx).await, ev("a", 5));
    replace(&path, "99999999999");
    replace(&path, "6");
    assert_eq!(next(&mut rx).await, ev("a", 6), "the out-of-range value produced no event");

    // The missing file appears.
    std::fs::write(&missing, "3").unwrap();
    assert_eq!(next(&mut rx).await, ev("m", 3));

    // Stop on drop: the task ends and with it the sender.
    drop(t);
    match tokio::time::timeout(DEADLINE, rx.recv()).await {
        Ok(None) => {}
        other => panic!("the watcher did not stop: {other:?}"),
    }
}

#[tokio::test]
async fn init_file_creates_or_overwrites() {
    let dir = TempDir::new("init");
    let created = dir.file("created");
    let kept = dir.file("kept");
    let overwritten = dir.file("overwritten");
    std::fs::write(&kept, "3\n").unwrap();
    std::fs::write(&overwritten, "3\n").unwrap();
    let with_init = |name: &str, p: &Path, value: i64, overwrite: bool| TrackFile {
        init_file: Some(TrackFileInit { value, overwrite }),
        ..def(name, p)
    };
    let defs = [
        with_init("created", &created, 5, false),
        with_init("kept", &kept, 5, false),
        with_init("overwritten", &overwritten, -2, true),
    ];
    let (tx, mut rx) = mpsc::channel(16);
    let (mut t, errors) = FileTrackers::start(&defs, tx).unwrap();
    assert!(errors.is_empty(), "{errors:?}");
    let mut got = vec![next(&mut rx).await, next(&mut rx).await, next(&mut rx).await];
    got.sort();
    assert_eq!(got, vec![ev("created", 5), ev("kept", 3), ev("overwritten", -2)]);
    assert_eq!(std::fs::read_to_string(&created).unwrap(), "5\n");
    assert_eq!(std::fs::read_to_string(&kept).unwrap(), "3\n");
    assert_eq!(std::fs::read_to_string(&overwritten).unwrap(), "-2\n");
    let leftovers: Vec<_> = std::fs::read_dir(&dir.0).unwrap().filter_map(|e| e.ok()).map(|e| e.file_name()).collect();
    assert_eq!(leftovers.len(), 3, "no temporary file left: {leftovers:?}");

    // A reload never overwrites an existing file (a new tracker on it included), but creates a
    // missing one.
    std::fs::write(&overwritten, "1").unwrap();
    assert_eq!(next(&mut rx).await, ev("overwritten", 1));
    let again = dir.file("again");
    let mut defs2 = defs.to_vec();
    defs2[2].name = "overwritten2".into();
    defs2.push(with_init("again", &again, 4, true));
    assert!(t.update(&defs2).is_empty());
    let mut got = vec![next(&mut rx).await, next(&mut rx).await];
    got.sort();
    assert_eq!(got, vec![ev("again", 4), ev("overwritten2", 1)]);
    assert_eq!(std::fs::read_to_string(&overwritten).unwrap(), "1");
}

#[tokio::test]
async fn a_reload_keeps_unchanged_trackers_and_stops_removed_ones() {
    let dir = TempDir::new("reload");
    let (pa, pb, pc) = (dir.file("a"), dir.file("b"), dir.file("c"));
    for p in [&pa, &pb, &pc] {
        std::fs::write(p, "1").unwrap();
    }
    let (tx, mut rx) = mpsc::channel(16);
    let (mut t, _) = FileTrackers::start(&[def("a", &pa), def("b", &pb)], tx).unwrap();
    let _ = (next(&mut rx).await, next(&mut rx).await);
    std::fs::write(&pa, "2").unwrap();
    assert_eq!(next(&mut rx).await, ev("a", 2));

    // a unchanged (weight changed only), b removed, c added.
    let a2 = TrackFile { weight: 10, line: 20, ..def("a", &pa) };
    assert!(t.update(&[a2, def("c", &pc)]).is_empty());
    assert_eq!(next(&mut rx).await, ev("c", 1), "only the new tracker is announced");
    assert_eq!(t.names(), vec!["a".to_string(), "c".to_string()]);
    assert_eq!(t.value("a"), Some(2), "a kept its value");

    // b no longer reports; a still does.
    std::fs::write(&pb, "50").unwrap();
    std::fs::write(&pa, "3").unwrap();
    assert_eq!(next(&mut rx).await, ev("a", 3));

    // A tracker moved to another file is a new tracker.
    assert!(t.update(&[def("a", &pb), def("c", &pc)]).is_empty());
    assert_eq!(next(&mut rx).await, ev("a", 50));
    std::fs::write(&pa, "4").unwrap();
    std::fs::write(&pb, "51").unwrap();
    assert_eq!(next(&mut rx).await, ev("a", 51), "the old file no longer counts");
}

#[tokio::test]
async fn a_missing_directory_is_a_located_error() {
    let dir = TempDir::new("nodir");
    let good = dir.file("good");
    let bad = dir.file("no/such/dir/file");
    let (tx, mut rx) = mpsc::channel(16);
    let (t, errors) = FileTrackers::start(&[def("bad", &bad), def("good", &good)], tx).unwrap();
    assert_eq!(errors.len(), 1, "{errors:?}");
    let msg = errors[0].to_string();
    assert!(msg.starts_with("keepalived.conf:7: track_file bad: the directory of "), "{msg}");
    assert_eq!(next(&mut rx).await, ev("good", 0));
    assert_eq!(t.names(), vec!["good".to_string()]);
}

#[tokio::test]
async fn a_symlinked_file_is_followed_to_its_target() {
    let dir = TempDir::new("link");
    let target = dir.file("target");
    std::fs::write(&target, "8").unwrap();
    let link = dir.file("link");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let (tx, mut rx) = mpsc::channel(16);
    let (_t, errors) = FileTrackers::start(&[def("l", &link)], tx).unwrap();
    assert!(errors.is_empty());
    assert_eq!(next(&mut rx).await, ev("l", 8));
    std::fs::write(&target, "9").unwrap();
    assert_eq!(next(&mut rx).await, ev("l", 9));
}

/// The driver asks for a tracker's value right after starting or reloading it (to seed the
/// core without an Unknown period): it must be there without waiting for the watcher task,
/// and the watcher still announces it once.
#[tokio::test]
async fn the_value_is_known_as_soon_as_start_and_update_return() {
    let dir = TempDir::new("sync");
    let (pa, pb) = (dir.file("a"), dir.file("b"));
    std::fs::write(&pa, "5").unwrap();
    std::fs::write(&pb, "0x10").unwrap();
    let (tx, mut rx) = mpsc::channel(16);
    let (mut t, errors) = FileTrackers::start(&[def("a", &pa)], tx).unwrap();
    assert!(errors.is_empty(), "{errors:?}");
    // No await in between: the watcher task has not run yet.
    assert_eq!(t.value("a"), Some(5));
    assert!(t.update(&[def("a", &pa), def("b", &pb)]).is_empty());
    assert_eq!(t.value("b"), Some(16));
    let mut got = vec![next(&mut rx).await, next(&mut rx).await];
    got.sort();
    assert_eq!(got, vec![ev("a", 5), ev("b", 16)], "each announced once");
    std::fs::write(&pa, "6").unwrap();
    assert_eq!(next(&mut rx).await, ev("a", 6), "no second announcement before the change");
}
