//! Release builds hand the linker `contrib/link-order.txt` (made by `scripts/link_order.py`):
//! the functions a panel runs go first in `.text`, side by side, so an idle panel maps a few
//! megabytes of code instead of pages spread over the whole binary (issue 15,
//! `docs/benchmarks.md`). Only where the linker is known to be lld (Rust's default on
//! x86_64-unknown-linux-gnu since 1.90), which skips names the build no longer has.

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
}
