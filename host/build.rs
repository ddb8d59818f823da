include!("build_torch_rpath.rs");

fn main() {
    link_libtorch();
}
