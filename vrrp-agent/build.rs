//! Builds the XDP program (vrrp-ebpf) with the nightly toolchain and embeds it.
//!
//! vrrp-ebpf is its own cargo workspace (own lock file, `rust-toolchain.toml` = nightly,
//! `build-std=core` in its `.cargo/config.toml`), so the stable workspace never needs nightly
//! to resolve. aya-build assumes the eBPF crate is a member of the caller's workspace, which is
//! why this is a few lines of our own.
use std::{env, path::PathBuf, process::Command};

use anyhow::{Context as _, bail};

fn main() -> anyhow::Result<()> {
    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR")?);
    let ebpf_dir = manifest_dir.join("../vrrp-ebpf");
    let out_dir = PathBuf::from(env::var("OUT_DIR")?);
    let target_dir = out_dir.join("ebpf-target");
    for path in ["../vrrp-ebpf/src", "../vrrp-ebpf/Cargo.toml", "../vrrp-ebpf/Cargo.lock", "../vrrp-common/src"] {
        println!("cargo:rerun-if-changed={path}");
    }

    if Command::new("bpf-linker").arg("--version").output().is_err() {
        bail!("bpf-linker is not installed: run `cargo xtask setup` first (see README)");
    }
    let mut cmd = Command::new("rustup");
    cmd.current_dir(&ebpf_dir)
        .args(["run", "nightly", "cargo", "build", "--release", "--locked"])
        .arg("--target-dir")
        .arg(&target_dir)
        // Our flags, not the outer build's: BTF for named bpftool dumps.
        // target-cpu v3 (Linux >= 5.12 for BPF_FETCH): atomic fetch-and-add numbers the adverts.
        .env("CARGO_ENCODED_RUSTFLAGS", "-Cdebuginfo=2\x1f-Clink-arg=--btf\x1f-Ctarget-cpu=v3");
    for key in ["RUSTC", "RUSTC_WRAPPER", "RUSTC_WORKSPACE_WRAPPER", "RUSTUP_TOOLCHAIN", "CARGO_TARGET_DIR", "CARGO_BUILD_TARGET", "RUSTFLAGS"] {
        cmd.env_remove(key);
    }
    let status = cmd.status().context("running `rustup run nightly cargo build` for vrrp-ebpf")?;
    if !status.success() {
        bail!("building vrrp-ebpf failed ({status}); `cargo xtask setup` installs rust-src and bpf-linker");
    }
    let object = target_dir.join("bpfel-unknown-none/release/vrrp-xdp");
    let embedded = out_dir.join("vrrp-xdp.o");
    std::fs::copy(&object, &embedded).with_context(|| format!("copying {}", object.display()))?;
    Ok(())
}
