//! Compiles `../../bpf/relay_xdp.bpf.c` into a BPF object and a libbpf-rs skeleton.
//!
//! No CO-RE (the target kernel has no BTF); `-I/usr/include/x86_64-linux-gnu` is needed for
//! `asm/types.h` under `-target bpf` on Debian.

use std::path::PathBuf;

use libbpf_cargo::SkeletonBuilder;

const SRC: &str = "../../bpf/relay_xdp.bpf.c";

fn main() {
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"))
        .join("relay_xdp.skel.rs");
    // The object is embedded in the binary: keep the checkout's location out of its debug
    // info and BTF, so that two checkouts of one commit build the same image (make images).
    let here = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let result = SkeletonBuilder::new()
        .source(SRC)
        .clang_args([
            "-I/usr/include/x86_64-linux-gnu".to_owned(),
            "-O2".to_owned(),
            "-Wall".to_owned(),
            "-Werror".to_owned(),
            format!("-ffile-prefix-map={here}=/oxidize/dataplane/xdp"),
            "-fdebug-compilation-dir=/oxidize/dataplane/xdp".to_owned(),
        ])
        .build_and_generate(&out);
    if let Err(e) = result {
        panic!("compiling {SRC} failed (is clang installed? scripts/setup.sh): {e:#}");
    }
    println!("cargo:rerun-if-changed={SRC}");
}
