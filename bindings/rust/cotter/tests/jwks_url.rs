//! @file jwks_url.rs
//! @brief `Client::jwks_url` is the library's rule (cotter_jwks_url): the base URL without trailing slashes
//! + "/token/jwks".

#[test]
fn client_jwks_url_is_the_library_rule() {
    let c = cotter::Client::builder("key").base_url("http://127.0.0.1:9/api/v0//").build().unwrap();
    assert_eq!(c.base_url(), "http://127.0.0.1:9/api/v0");
    assert_eq!(c.jwks_url().unwrap(), "http://127.0.0.1:9/api/v0/token/jwks");
    assert_eq!(c.api_key_id(), "key");
}

/// The credentials are what the builder says: Rust asks the library not to read $COTTER_API_KEY_ID or
/// $COTTER_API_SECRET_KEY (from_environment = 0), so an empty key id fails whatever the environment holds.
#[test]
fn the_environment_never_supplies_credentials() {
    std::env::set_var("COTTER_API_KEY_ID", "from-env");
    let e = cotter::Client::builder("").base_url("http://127.0.0.1:9/api/v0").build().unwrap_err();
    assert_eq!(e.kind(), cotter::ErrorKind::Invalid);
    assert_eq!(e.message(), "api_key_id (your Cotter API key id) is required");
    std::env::remove_var("COTTER_API_KEY_ID");
}
