//! Prints the argon2id PHC hash of the password read from stdin, for adding a demo user to `auth.rs`.

use argon2::{Algorithm, Argon2, Params, PasswordHasher, Version, password_hash::SaltString};

fn main() -> anyhow::Result<()> {
    let mut password = String::new();
    std::io::stdin().read_line(&mut password)?;
    // OWASP's second argon2id profile: 7 MiB, 5 passes; small enough for many replicas' logins.
    let params = Params::new(7168, 5, 1, None).map_err(|e| anyhow::anyhow!("{e}"))?;
    let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
    let mut salt = [0; 16];
    getrandom::fill(&mut salt).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| anyhow::anyhow!("{e}"))?;
    let hash = argon2.hash_password(password.trim_end_matches(['\r', '\n']).as_bytes(), &salt);
    println!("{}", hash.map_err(|e| anyhow::anyhow!("{e}"))?);
    Ok(())
}
