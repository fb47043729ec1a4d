//! Release builds hand the linker `contrib/link-order.txt` (made by `scripts/link_order.py`):
//! the functions a panel runs go first in `.text`, side by side, so an idle panel maps a few
//! megabytes of code instead of pages spread over the whole binary (issue 15,
//! `docs/benchmarks.md`). Only where the linker is known to be lld (Rust's default on
//! x86_64-unknown-linux-gnu since 1.90), which skips names the build no longer has.
//!
//! The same builds pack the relative relocations (lld's `-z pack-relative-relocs`, the RELR
//! format): the dynamic loader reads the whole relocation table at start, and in the RELA
//! format that was 20 000 entries of 24 bytes, 0.47 MB of resident file pages, where RELR
//! needs a few kilobytes. Only when the C library linked against has `GLIBC_ABI_DT_RELR`
//! (glibc 2.36 and later): lld then makes the binary require that version, so a loader without
//! RELR support refuses it by name instead of running it unrelocated.

use std::env;
use std::path::Path;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=contrib/link-order.txt");
    println!("cargo:rerun-if-env-changed=STACKDECK_NO_LINK_ORDER");
    let release = env::var("PROFILE").is_ok_and(|p| p == "release");
    let lld = env::var("TARGET").is_ok_and(|t| t == "x86_64-unknown-linux-gnu")
        && !env::var("CARGO_ENCODED_RUSTFLAGS").is_ok_and(|f| f.contains("link"));
    let order = Path::new(&env::var("CARGO_MANIFEST_DIR").unwrap_or_default()).join("contrib/link-order.txt");
    if release && lld && order.is_file() && env::var_os("STACKDECK_NO_LINK_ORDER").is_none() {
        println!("cargo:rustc-link-arg-bins=-Wl,--symbol-ordering-file={}", order.display());
        println!("cargo:rustc-link-arg-bins=-Wl,--no-warn-symbol-ordering");
    }
    if release && lld && env::var("HOST") == env::var("TARGET") && glibc_has_relr() {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
}

/// Whether this machine's C library (the one the build links against) defines the version
/// `GLIBC_ABI_DT_RELR`, which says that its loader applies RELR relocations.
fn glibc_has_relr() -> bool {
    const NEEDLE: &[u8] = b"GLIBC_ABI_DT_RELR";
    [
        "/lib/x86_64-linux-gnu/libc.so.6",
        "/usr/lib/x86_64-linux-gnu/libc.so.6",
        "/lib64/libc.so.6",
        "/usr/lib64/libc.so.6",
    ]
    .iter()
    .find_map(|p| std::fs::read(p).ok())
    .is_some_and(|bytes| bytes.windows(NEEDLE.len()).any(|w| w == NEEDLE))
}
