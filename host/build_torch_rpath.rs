// Shared by the build scripts of `picorl-host` and `picorl-benches` (included with `include!`).
//
// torch-sys finds libtorch (with LIBTORCH_USE_PYTORCH=1, in the venv's torch package) and passes
// its lib dir on as DEP_TCH_LIBTORCH_LIB. We add an rpath to it so that the binaries run from a
// new shell with no LD_LIBRARY_PATH (a RUNPATH, so a GPU machine's LD_LIBRARY_PATH still wins),
// and keep libtorch_cuda linked: the linker's --as-needed would otherwise drop it, since nothing
// calls into it directly, and then libtorch never sees a GPU.
fn link_libtorch() {
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    let Ok(lib) = std::env::var("DEP_TCH_LIBTORCH_LIB") else {
        println!("cargo:warning=DEP_TCH_LIBTORCH_LIB is unset: no rpath to libtorch");
        return;
    };
    println!("cargo:rustc-link-arg=-Wl,-rpath,{lib}");
    println!("cargo:rustc-env=PICORL_LIBTORCH_BUILD_DIR={lib}");
    if std::path::Path::new(&lib).join("libtorch_cuda.so").exists() {
        println!("cargo:rustc-link-arg=-Wl,--no-as-needed");
        println!("cargo:rustc-link-arg=-ltorch_cuda");
        println!("cargo:rustc-link-arg=-Wl,--as-needed");
    }
}
