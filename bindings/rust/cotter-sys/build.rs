//! @file build.rs
//! @brief Links libcotter as found by pkg-config (the `cotter.pc` of an install, or of a CMake build tree
//! through `PKG_CONFIG_PATH=<build dir>`).

fn main() {
    println!("cargo:rerun-if-env-changed=PKG_CONFIG_PATH");
    match pkg_config::Config::new().atleast_version("0.1.0").probe("cotter") {
        Ok(lib) => {
            // Let dependants (the safe crate's tests and examples) find the library at run time too.
            for dir in &lib.link_paths {
                println!("cargo:libdir={}", dir.display());
            }
        }
        Err(err) => panic!(
            "cotter-sys: libcotter not found through pkg-config ({err}).\n\
             Build it (cmake -S . -B build/rustgo -G Ninja && cmake --build build/rustgo) and set \
             PKG_CONFIG_PATH=<that build dir>, or install it."
        ),
    }
}
