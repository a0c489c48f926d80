//! Sessions as HS256 JWTs signed with a key every replica shares, argon2 password checks, and the
//! extractor that turns a bearer token into the caller's username.

use std::time::Duration;

use argon2::{Argon2, PasswordHash, PasswordVerifier};
use axum::{extract::FromRequestParts, http::request::Parts};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, errors::ErrorKind};
use serde::{Deserialize, Serialize};
use tokio::sync::Semaphore;

use crate::{error::AppError, state::AppState};

/// Shorter HS256 keys are guessable; RFC 7518 asks for at least the hash size (32 bytes).
pub const MIN_SECRET_BYTES: usize = 32;
pub const ISSUER: &str = "herd-shop";
pub const AUDIENCE: &str = "herd-shop";
/// Replicas' clocks may disagree a little; a token is still accepted this long after `exp`.
const LEEWAY_SECONDS: u64 = 30;
/// Each argon2 check takes ~7 MiB; this bounds the memory a burst of logins can take.
const CONCURRENT_PASSWORD_CHECKS: usize = 2;
pub const MAX_USERNAME_BYTES: usize = 64;
pub const MAX_PASSWORD_BYTES: usize = 256;

/// The seeded demo users: (username, argon2id PHC hash); the passwords are documented in `app/README.md`.
/// Hashes come from `echo PASSWORD | cargo run -p herd-shop --example hash_password`.
const USERS: &[(&str, &str)] = &[
    (
        "alice",
        "$argon2id$v=19$m=7168,t=5,p=1$k17s0so8ROJlkGdSt+UMDg$K4lFYi4vKCMNrmfeoxphH2HRtowCUkBJsIgihqL/QOI",
    ),
    (
        "bob",
        "$argon2id$v=19$m=7168,t=5,p=1$uR6+4XyqplPGWib2r6o/XA$LVPHHHiUcr9cHN+OJsuGbwU8sLX9jaEmDHIi8Bbt/oM",
    ),
    (
        "carol",
        "$argon2id$v=19$m=7168,t=5,p=1$8I4XzMit7+s2wBKGhHG29g$Vx54YpkmhjHT7BcBC17AtInapCLH13XnE0+u+pt4Gl4",
    ),
];

#[derive(Debug, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub iss: String,
    pub aud: String,
    pub iat: u64,
    pub exp: u64,
}

pub struct Auth {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    ttl: Duration,
    password_checks: Semaphore,
}

impl Auth {
    /// `secret` must already be validated (see `config::jwt_secret`); an empty one is refused here too.
    pub fn new(secret: &[u8], ttl: Duration) -> anyhow::Result<Self> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = LEEWAY_SECONDS;
        Ok(Auth {
            encoding: EncodingKey::from_secret(secret)?,
            decoding: DecodingKey::from_secret(secret)?,
            validation,
            ttl,
            password_checks: Semaphore::new(CONCURRENT_PASSWORD_CHECKS),
        })
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// Signs a session token for `user`.
    pub fn issue(&self, user: &str) -> Result<String, AppError> {
        let now = unix_now();
        let claims = Claims {
            sub: user.to_owned(),
            iss: ISSUER.to_owned(),
            aud: AUDIENCE.to_owned(),
            iat: now,
            exp: now + self.ttl.as_secs(),
        };
        self.sign(&claims)
    }

    pub fn sign(&self, claims: &Claims) -> Result<String, AppError> {
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &self.encoding)
            .map_err(|e| AppError::Internal(e.into()))
    }

    pub fn verify(&self, token: &str) -> Result<Claims, AppError> {
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map(|data| data.claims)
            .map_err(|e| {
                AppError::Unauthorized(match e.kind() {
                    ErrorKind::ExpiredSignature => "the token has expired; log in again",
                    ErrorKind::InvalidSignature => "the token's signature is not valid",
                    ErrorKind::InvalidIssuer | ErrorKind::InvalidAudience => {
                        "the token was not issued for this shop"
                    }
                    ErrorKind::InvalidAlgorithm => "the token must be signed with HS256",
                    _ => "the token is malformed",
                })
            })
    }

    /// Whether `password` is the demo user's; unknown users take as long as known ones.
    pub async fn check_password(&self, username: &str, password: &str) -> Result<bool, AppError> {
        let known = USERS.iter().find(|(name, _)| *name == username);
        // Unknown names are checked against a real hash too, so timing does not reveal which names exist.
        let (_, hash) = known
            .or(USERS.first())
            .ok_or_else(|| AppError::Internal(anyhow::anyhow!("no users")))?;
        let _slot = self
            .password_checks
            .acquire()
            .await
            .map_err(|e| AppError::Internal(e.into()))?;
        let password = password.to_owned();
        let matches = tokio::task::spawn_blocking(move || verify_hash(hash, &password))
            .await
            .map_err(|e| AppError::Internal(e.into()))??;
        Ok(matches && known.is_some())
    }
}

fn verify_hash(hash: &str, password: &str) -> Result<bool, AppError> {
    let parsed =
        PasswordHash::new(hash).map_err(|e| AppError::Internal(anyhow::anyhow!("bad stored hash: {e}")))?;
    Ok(Argon2::default()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok())
}

pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The username of a request with a valid `Authorization: Bearer` token.
pub struct AuthUser(pub String);

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .ok_or(AppError::Unauthorized(
                "missing `Authorization: Bearer <token>` header",
            ))?;
        let token = header
            .to_str()
            .ok()
            .and_then(|h| h.strip_prefix("Bearer ").or_else(|| h.strip_prefix("bearer ")))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or(AppError::Unauthorized(
                "the Authorization header must be `Bearer <token>`",
            ))?;
        Ok(AuthUser(state.auth.verify(token)?.sub))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_demo_password_matches_its_stored_hash() {
        let passwords = ["wonderland-42", "builder-42", "carols-42"];
        assert_eq!(USERS.len(), passwords.len());
        for ((user, hash), password) in USERS.iter().zip(passwords) {
            assert!(verify_hash(hash, password).unwrap(), "{user}");
            assert!(!verify_hash(hash, "wrong").unwrap(), "{user}");
        }
    }
}
