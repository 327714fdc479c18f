//! @file errors.rs
//! @brief Status codes and error objects: every ErrorKind round-trips through the C status table.

use cotter::ErrorKind;

#[test]
fn every_kind_has_its_c_name_and_description() {
    for kind in ErrorKind::ALL {
        let name = cotter::status_name(kind.code());
        assert!(name.starts_with("COTTER_E"), "{kind:?} -> {name}");
        assert_ne!(name, "COTTER_EUNKNOWN", "{kind:?} has no row in the C status table");
        assert_ne!(cotter::status_describe(kind.code()), "unknown status");
        assert_eq!(ErrorKind::from_code(kind.code()), *kind);
    }
    assert_eq!(cotter::status_name(0), "COTTER_OK");
    assert_eq!(cotter::status_name(-999), "COTTER_EUNKNOWN");
    assert_eq!(ErrorKind::from_code(-999), ErrorKind::Unknown(-999));
}

#[test]
fn version_matches_the_header() {
    assert_eq!(cotter::version_number(), cotter::sys::COTTER_VERSION_NUMBER as i32);
    let v = format!(
        "{}.{}.{}",
        cotter::sys::COTTER_VERSION_MAJOR,
        cotter::sys::COTTER_VERSION_MINOR,
        cotter::sys::COTTER_VERSION_PATCH
    );
    assert_eq!(cotter::version(), v);
}

#[test]
fn global_init_is_reference_counted() {
    let a = cotter::global_init().unwrap();
    let b = cotter::global_init().unwrap();
    drop(a);
    drop(b);
}
