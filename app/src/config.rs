//! Configuration from flags and environment variables; each error names the variable at fault.

use std::{net::IpAddr, path::PathBuf, time::Duration};

use clap::{Parser, ValueEnum};

use crate::auth::MIN_SECRET_BYTES;

/// Field names match the environment variables, so clap's errors name the variable (`<DRAIN_DELAY_SECONDS>`).
#[derive(Debug, Parser)]
#[command(
    name = "herd-shop",
    version,
    about = "The stateless shop API bundled with herd"
)]
pub struct Config {
    /// TCP port to serve on.
    #[arg(long = "port", env = "PORT", default_value_t = 8080)]
    pub port: u16,
    /// Address to bind.
    #[arg(long = "bind-address", env = "BIND_ADDRESS", default_value = "0.0.0.0")]
    pub bind_address: IpAddr,
    /// Redis holding carts and orders (redis://host:6379/0). Unset: an in-process store, one replica only.
    #[arg(long = "redis-url", env = "REDIS_URL")]
    pub redis_url: Option<String>,
    /// The HS256 key shared by all replicas (at least 32 bytes).
    #[arg(long = "jwt-secret", env = "JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,
    /// A file holding the HS256 key, e.g. a mounted Secret; a trailing newline is ignored.
    #[arg(long = "jwt-secret-file", env = "JWT_SECRET_FILE")]
    pub jwt_secret_file: Option<PathBuf>,
    /// How long a session token is valid, 60 s to 30 days (a token shorter-lived than the replicas' clock
    /// leeway would be accepted after it expired).
    #[arg(
        long = "jwt-ttl-seconds",
        env = "JWT_TTL_SECONDS",
        default_value_t = 3600,
        value_parser = clap::value_parser!(u64).range(60..=2_592_000)
    )]
    pub jwt_ttl_seconds: u64,
    /// Replica name for the `x-served-by` header (the downward API's pod name); default: the hostname.
    #[arg(long = "pod-name", env = "POD_NAME")]
    pub pod_name: Option<String>,
    /// After SIGTERM, keep serving (not ready) this long so load balancers stop sending traffic first.
    #[arg(
        long = "drain-delay-seconds",
        env = "DRAIN_DELAY_SECONDS",
        default_value_t = 5
    )]
    pub drain_delay_seconds: u64,
    /// After the drain delay, how long in-flight requests get to finish before the process exits anyway.
    #[arg(
        long = "shutdown-timeout-seconds",
        env = "SHUTDOWN_TIMEOUT_SECONDS",
        default_value_t = 10
    )]
    pub shutdown_timeout_seconds: u64,
    /// Longest a single request may take before it is answered 504.
    #[arg(long = "request-timeout-seconds", env = "REQUEST_TIMEOUT_SECONDS", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub request_timeout_seconds: u64,
    /// Longest a client may take to send a request's headers before the connection is closed; kept below
    /// SHUTDOWN_TIMEOUT_SECONDS so a half-sent request cannot hold up a shutdown.
    #[arg(long = "header-read-timeout-seconds", env = "HEADER_READ_TIMEOUT_SECONDS", default_value_t = 5,
          value_parser = clap::value_parser!(u64).range(1..=300))]
    pub header_read_timeout_seconds: u64,
    /// Log line format.
    #[arg(long = "log-format", env = "LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Allow starting without a JWT secret by generating a random one (tokens die with the process and are
    /// not accepted by other replicas).
    #[arg(long = "dev")]
    pub dev: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Where the JWT key came from, so `main` can say it loudly when it is a throwaway one.
#[derive(Debug, PartialEq, Eq)]
pub enum SecretSource {
    Env,
    File(PathBuf),
    DevRandom,
}

impl Config {
    pub fn drain_delay(&self) -> Duration {
        Duration::from_secs(self.drain_delay_seconds)
    }
    pub fn shutdown_timeout(&self) -> Duration {
        Duration::from_secs(self.shutdown_timeout_seconds)
    }
    pub fn request_timeout(&self) -> Duration {
        Duration::from_secs(self.request_timeout_seconds)
    }
    pub fn header_read_timeout(&self) -> Duration {
        Duration::from_secs(self.header_read_timeout_seconds)
    }
    pub fn jwt_ttl(&self) -> Duration {
        Duration::from_secs(self.jwt_ttl_seconds)
    }

    /// The JWT key: from `JWT_SECRET` or `JWT_SECRET_FILE` (never both), or random only with `--dev`.
    pub fn jwt_secret(&self) -> anyhow::Result<(Vec<u8>, SecretSource)> {
        let (secret, source, variable) = match (&self.jwt_secret, &self.jwt_secret_file) {
            (Some(_), Some(_)) => anyhow::bail!("JWT_SECRET and JWT_SECRET_FILE are both set; set only one"),
            (Some(secret), None) => (secret.as_bytes().to_vec(), SecretSource::Env, "JWT_SECRET"),
            (None, Some(path)) => {
                let mut bytes = std::fs::read(path)
                    .map_err(|e| anyhow::anyhow!("JWT_SECRET_FILE: cannot read {}: {e}", path.display()))?;
                while bytes.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
                    bytes.pop();
                }
                (bytes, SecretSource::File(path.clone()), "JWT_SECRET_FILE")
            }
            (None, None) if self.dev => {
                let mut bytes = vec![0; MIN_SECRET_BYTES];
                getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("--dev: no random key: {e}"))?;
                return Ok((bytes, SecretSource::DevRandom));
            }
            (None, None) => anyhow::bail!(
                "JWT_SECRET (or JWT_SECRET_FILE) is required: every replica must sign sessions with the same \
                 key; pass --dev to run alone with a random key"
            ),
        };
        anyhow::ensure!(
            secret.len() >= MIN_SECRET_BYTES,
            "{variable}: the key is {} bytes; at least {MIN_SECRET_BYTES} are required",
            secret.len()
        );
        // A placeholder such as 40 spaces is long enough but guessable by anyone.
        anyhow::ensure!(
            secret.iter().any(|b| *b != secret[0]),
            "{variable}: the key is one byte repeated; use random bytes, e.g. `head -c 32 /dev/urandom | base64`"
        );
        Ok((secret, source))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Config {
        Config::try_parse_from(std::iter::once("herd-shop").chain(args.iter().copied())).unwrap()
    }

    #[test]
    fn refuses_to_start_without_a_secret_unless_dev() {
        let err = parse(&[]).jwt_secret().unwrap_err().to_string();
        assert!(err.contains("JWT_SECRET"), "{err}");
        let (key, source) = parse(&["--dev"]).jwt_secret().unwrap();
        assert_eq!((key.len(), source), (MIN_SECRET_BYTES, SecretSource::DevRandom));
    }

    #[test]
    fn rejects_short_secrets_naming_the_variable() {
        let err = parse(&["--jwt-secret", "short"])
            .jwt_secret()
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("JWT_SECRET:") && err.contains("5 bytes"), "{err}");
        let long = "k0".repeat(16);
        assert_eq!(
            parse(&["--jwt-secret", &long]).jwt_secret().unwrap().0,
            long.as_bytes()
        );
        let placeholder = parse(&["--jwt-secret", &"k".repeat(32)])
            .jwt_secret()
            .unwrap_err()
            .to_string();
        assert!(placeholder.contains("one byte repeated"), "{placeholder}");
    }

    #[test]
    fn reads_the_secret_file_without_its_trailing_newline() {
        let dir = std::env::temp_dir().join(format!("herd-shop-secret-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("key");
        std::fs::write(&path, format!("{}\n", "s1".repeat(20))).unwrap();
        let (key, _) = parse(&["--jwt-secret-file", path.to_str().unwrap()])
            .jwt_secret()
            .unwrap();
        assert_eq!(key, "s1".repeat(20).as_bytes());
        std::fs::write(&path, "tiny\n").unwrap();
        let err = parse(&["--jwt-secret-file", path.to_str().unwrap()])
            .jwt_secret()
            .unwrap_err();
        assert!(err.to_string().starts_with("JWT_SECRET_FILE:"), "{err}");
        let missing = parse(&["--jwt-secret-file", "/nonexistent/key"])
            .jwt_secret()
            .unwrap_err();
        assert!(
            missing.to_string().starts_with("JWT_SECRET_FILE: cannot read"),
            "{missing}"
        );
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn bad_numbers_name_the_variable() {
        let err = Config::try_parse_from(["herd-shop", "--drain-delay-seconds", "soon"]).unwrap_err();
        assert!(err.to_string().contains("DRAIN_DELAY_SECONDS"), "{err}");
    }
}
