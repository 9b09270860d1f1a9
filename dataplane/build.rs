//! Build script. The XDP program in `../bpf` is compiled here through libbpf-cargo once it
//! exists (AF_XDP issue); for now the script only declares what it watches.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=../bpf");
}
