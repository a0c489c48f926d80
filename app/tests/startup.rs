//! Starting the binary: configuration errors name the variable and exit non-zero; `--dev` says loudly that
//! its key is random.

mod common;

use std::{
    io::{BufRead, BufReader, Read},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use common::{SECRET, free_port};

/// Runs the shop with only `env` set and returns (exit code, stderr); it must exit by itself.
fn failed_start(env: &[(&str, &str)], args: &[&str]) -> (Option<i32>, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_herd-shop"))
        .env_clear()
        .envs(env.iter().copied())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn configuration_errors_name_the_variable_and_exit_non_zero() {
    let port = free_port().to_string();
    let short = [("PORT", port.as_str()), ("JWT_SECRET", "too-short")];
    let spaces = " ".repeat(40);
    let cases: [(&[(&str, &str)], &str); 9] = [
        (&[("PORT", &port)], "JWT_SECRET"),
        (&short, "JWT_SECRET: the key is 9 bytes"),
        (
            &[("PORT", &port), ("JWT_SECRET", &spaces)],
            "JWT_SECRET: the key is one byte repeated",
        ),
        (
            &[
                ("PORT", &port),
                ("JWT_SECRET", SECRET),
                ("JWT_SECRET_FILE", "/etc/hostname"),
            ],
            "both set",
        ),
        (&[("PORT", "eighty"), ("JWT_SECRET", SECRET)], "PORT"),
        (
            &[
                ("PORT", &port),
                ("JWT_SECRET", SECRET),
                ("REDIS_URL", "mysql://db"),
            ],
            "REDIS_URL",
        ),
        (
            &[
                ("PORT", &port),
                ("JWT_SECRET", SECRET),
                ("SHUTDOWN_TIMEOUT_SECONDS", "-1"),
            ],
            "SHUTDOWN_TIMEOUT_SECONDS",
        ),
        (
            &[("PORT", &port), ("JWT_SECRET", SECRET), ("JWT_TTL_SECONDS", "0")],
            "JWT_TTL_SECONDS",
        ),
        (
            &[
                ("PORT", &port),
                ("JWT_SECRET", SECRET),
                ("RUST_LOG", "herd_shop=loud"),
            ],
            "RUST_LOG",
        ),
    ];
    for (env, fragment) in cases {
        let (code, stderr) = failed_start(env, &[]);
        assert!(matches!(code, Some(c) if c != 0), "{env:?} exited {code:?}");
        assert!(
            stderr.contains(fragment),
            "{env:?}: stderr does not name {fragment:?}:\n{stderr}"
        );
    }
}

#[test]
fn dev_mode_warns_that_the_key_is_random() {
    let port = free_port().to_string();
    let mut child = Command::new(env!("CARGO_BIN_EXE_herd-shop"))
        .env_clear()
        .env("PORT", &port)
        .env("BIND_ADDRESS", "127.0.0.1")
        .arg("--dev")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let start = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port.parse::<u16>().unwrap())).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the --dev shop never listened"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let log = reader.join().unwrap();
    assert!(log.contains("RANDOM key"), "{log}");
    assert!(log.contains("REDIS_URL is not set"), "{log}");
}

#[test]
fn port_zero_logs_the_port_the_kernel_picked_without_colour_codes() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_herd-shop"))
        .env_clear()
        .env("PORT", "0")
        .env("BIND_ADDRESS", "127.0.0.1")
        .env("JWT_SECRET", SECRET)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = BufReader::new(child.stderr.take().unwrap());
    let (lines_tx, lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in stderr.lines().map_while(Result::ok) {
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    let serving = loop {
        let line = lines
            .recv_timeout(Duration::from_secs(20))
            .expect("the shop never logged that it is serving");
        if line.contains("serving") {
            break line;
        }
    };
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        !serving.contains('\x1b'),
        "colour codes in a piped log: {serving:?}"
    );
    let addr = serving
        .split_whitespace()
        .find_map(|word| word.strip_prefix("addr="))
        .unwrap_or_else(|| panic!("no addr= in {serving:?}"));
    let port: u16 = addr.rsplit(':').next().unwrap().parse().unwrap();
    assert_ne!(port, 0, "{serving}");
}
