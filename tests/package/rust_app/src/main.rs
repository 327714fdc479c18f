//! A new Cargo project using the packaged crates (scripts/test-package.sh): `cargo run` with no environment
//! variable builds the C core from cotter-native-sys's own sources and links it statically. Prints the
//! library version, verifies a token against a JWKS URL and prints its subject.
//! Usage: app JWKS_URL AUDIENCE TOKEN
fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, jwks_url, audience, token] = &args[..] else {
        eprintln!("usage: app JWKS_URL AUDIENCE TOKEN");
        std::process::exit(2);
    };
    println!("cotter {}", cotter::version());
    let verifier = cotter::Verifier::builder().audience(audience).jwks_url(jwks_url).build().unwrap_or_else(|e| {
        eprintln!("error: {e}");
        std::process::exit(1);
    });
    match verifier.verify(token) {
        Ok(claims) => println!("sub {}", claims.sub().unwrap_or_default()),
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    }
}
