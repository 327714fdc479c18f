//! @file build.rs
//! @brief Links libcotter, one of two ways (docs/rust.md):
//!  - feature `bundled` (the default): builds the C/C++ core from this crate's own sources (`native/`: the
//!    project's CMakeLists.txt, cmake/, core/ and capi/) with the `cmake` crate and links it statically, so a
//!    new project's `cargo run` needs no environment variable and no installed libcotter. The system libraries
//!    the core uses (libcurl, OpenSSL 3, simdjson, libstdc++) stay dynamic, as CMake found them.
//!  - feature `system`: the libcotter.so that pkg-config finds (the `cotter.pc` of an install, or of a CMake
//!    build tree through `PKG_CONFIG_PATH=<build dir>`). Wins when both features are on.

fn main() {
    if std::env::var_os("CARGO_FEATURE_SYSTEM").is_some() {
        system();
    } else if std::env::var_os("CARGO_FEATURE_BUNDLED").is_some() {
        bundled();
    } else {
        panic!("cotter-native-sys: enable the feature `bundled` (build libcotter from source) or `system` (pkg-config)");
    }
}

#[cfg(feature = "system")]
fn system() {
    println!("cargo:rerun-if-env-changed=PKG_CONFIG_PATH");
    match pkg_config::Config::new().atleast_version("0.1.0").probe("cotter") {
        Ok(lib) => {
            // Let dependants (the safe crate's tests and examples) find the library at run time too.
            for dir in &lib.link_paths {
                println!("cargo:libdir={}", dir.display());
            }
        }
        Err(err) => panic!(
            "cotter-native-sys (feature `system`): libcotter not found through pkg-config ({err}).\n\
             Build it (cmake -S . -B build/rustgo -G Ninja && cmake --build build/rustgo) and set \
             PKG_CONFIG_PATH=<that build dir>, or install it; or use the default feature `bundled`."
        ),
    }
}
#[cfg(not(feature = "system"))]
fn system() {
    unreachable!()
}

#[cfg(feature = "bundled")]
fn bundled() {
    use std::path::{Path, PathBuf};

    let src = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap()).join("native");
    if !src.join("CMakeLists.txt").exists() {
        panic!("cotter-native-sys: the C sources are missing from {}", src.display());
    }
    println!("cargo:rerun-if-changed=native");
    // A Release build whatever the Cargo profile: the core's JSON parsing and crypto are the hot paths, and a
    // debug build of them would make `cargo run` of a debug binary misleadingly slow.
    let dst = cmake::Config::new(&src)
        .profile("Release")
        .define("COTTER_BUILD_SHARED", "OFF")
        .define("COTTER_BUILD_TESTS", "OFF")
        .define("COTTER_BUILD_BENCH", "OFF")
        .build_target("cotter_static")
        .build();

    // The archives and their dependencies in link order, as the CMake graph wrote them (capi/CMakeLists.txt):
    // a path per line (lib<name>.a, lib<name>.so[.N]) or -l<name>.
    let list = dst.join("build").join("cotter_static_link.txt");
    let text = std::fs::read_to_string(&list)
        .unwrap_or_else(|e| panic!("cotter-native-sys: cannot read {}: {e}", list.display()));
    for line in text.lines().filter(|l| !l.is_empty()) {
        if let Some(name) = line.strip_prefix("-l") {
            println!("cargo:rustc-link-lib=dylib={name}");
            continue;
        }
        let path = Path::new(line);
        let file = path.file_name().and_then(|f| f.to_str()).unwrap_or_default();
        // lib<name>.a, lib<name>.so or lib<name>.so.<version>
        let (name, kind) = match file.strip_prefix("lib") {
            Some(rest) if rest.ends_with(".a") => (&rest[..rest.len() - 2], "static"),
            Some(rest) if rest.contains(".so") => (&rest[..rest.find(".so").unwrap()], "dylib"),
            _ => panic!("cotter-native-sys: unexpected library {line} in {}", list.display()),
        };
        if let Some(dir) = path.parent() {
            println!("cargo:rustc-link-search=native={}", dir.display());
        }
        println!("cargo:rustc-link-lib={kind}={name}");
    }
    // The core is C++: its runtime comes last.
    println!("cargo:rustc-link-lib=dylib=stdc++");
}
#[cfg(not(feature = "bundled"))]
fn bundled() {
    unreachable!()
}
