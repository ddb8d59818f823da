// The `servo` binary links libtorch through picorl-host: the same rpath and kept libtorch_cuda as
// picorl's own binary (a direct torch-sys dependency receives DEP_TCH_LIBTORCH_LIB). Without the
// `cli` feature (the firmware's build) there is nothing to link.
include!("../../host/build_torch_rpath.rs");

fn main() {
    if std::env::var_os("CARGO_FEATURE_CLI").is_some() {
        link_libtorch();
    }
}
