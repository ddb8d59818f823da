// The benches link picorl-host, hence libtorch: the same rpath and libtorch_cuda handling as the
// `picorl` binary (see host/build.rs).
include!("../host/build_torch_rpath.rs");

fn main() {
    link_libtorch();
}
