//! @file jwks_url.rs
//! @brief `Client::jwks_url` is the library's rule (cotter_jwks_url): the base URL without trailing slashes
//! + "/token/jwks".

#[test]
fn client_jwks_url_is_the_library_rule() {
    let c = cotter::Client::builder("key").base_url("http://127.0.0.1:9/api/v0//").build().unwrap();
    assert_eq!(c.base_url(), "http://127.0.0.1:9/api/v0");
    assert_eq!(c.jwks_url().unwrap(), "http://127.0.0.1:9/api/v0/token/jwks");
}
