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
    let result = SkeletonBuilder::new()
        .source(SRC)
        .clang_args(["-I/usr/include/x86_64-linux-gnu", "-O2", "-Wall", "-Werror"])
        .build_and_generate(&out);
    if let Err(e) = result {
        panic!("compiling {SRC} failed (is clang installed? scripts/setup.sh): {e:#}");
    }
    println!("cargo:rerun-if-changed={SRC}");
}
