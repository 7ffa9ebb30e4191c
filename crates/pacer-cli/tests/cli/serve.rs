//! `pacer serve` end to end: the real binary, its config, a mock upstream, loopback only.

use std::io::{BufRead, BufReader};
use std::process::Stdio;

use crate::common::{command, pacer, write};
use http::post;

/// A tiny HTTP/1.1 client over a TCP stream, enough for one JSON POST.
mod http {
    use std::io::{Read, Write};
    use std::net::TcpStream;

    pub fn post(addr: &str, path: &str, key: &str, body: &str) -> (u16, String) {
        let mut stream = TcpStream::connect(addr).unwrap();
        let request = format!(
            "POST {path} HTTP/1.1\r\nhost: {addr}\r\nauthorization: Bearer {key}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
        stream.write_all(request.as_bytes()).unwrap();
        let mut reply = String::new();
        stream.read_to_string(&mut reply).unwrap();
        let status = reply[9..12].parse().unwrap();
        let body = reply
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_owned())
            .unwrap_or_default();
        (status, body)
    }
}

/// Starts `pacer serve` as `serve` says; returns the process, its banner and its address.
fn start(mut serve: std::process::Command) -> (std::process::Child, String, String) {
    let mut child = serve.stderr(Stdio::piped()).spawn().unwrap();
    let mut banner = String::new();
    BufReader::new(child.stderr.take().unwrap())
        .read_line(&mut banner)
        .unwrap();
    let addr = banner
        .split("http://")
        .nth(1)
        .and_then(|rest| rest.split("/v1").next())
        .unwrap_or_else(|| panic!("no address in {banner:?}"))
        .to_owned();
    (child, banner, addr)
}

#[test]
fn serve_refuses_to_start_without_gateway_keys() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "serve.toml",
        "[[models]]\nname = \"m\"\ntype = \"mock\"\n",
    );
    pacer(dir.path(), &["serve", "--config", "serve.toml"])
        .expect_code(2)
        .expect_stderr(&["no gateway keys", "PACER_GATEWAY_KEYS", "--no-auth"]);
}

#[test]
fn serve_routes_a_request_to_a_configured_model() {
    let dir = tempfile::tempdir().unwrap();
    let config = "listen = \"127.0.0.1:0\"\ngateway_keys = [{ id = \"t\", key = \"gw-key\" }]\nusage_log = \"usage.jsonl\"\n\n[[models]]\nname = \"mock-small\"\nlabel = \"small\"\ntype = \"mock\"\n";
    write(dir.path(), "serve.toml", config);
    let mut serve = command(dir.path());
    serve.args(["serve", "--config", "serve.toml"]);
    let (mut child, _, addr) = start(serve);
    let body = r#"{"model":"small","messages":[{"role":"user","content":"hi"}],"max_tokens":8}"#;
    let (status, reply) = post(&addr, "/v1/chat/completions", "gw-key", body);
    let (refused, _) = post(&addr, "/v1/chat/completions", "wrong", body);
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(status, 200, "{reply}");
    let reply: serde_json::Value = serde_json::from_str(&reply).unwrap();
    assert_eq!(reply["object"], "chat.completion");
    assert_eq!(reply["model"], "small");
    assert_eq!(refused, 401);
    let log = std::fs::read_to_string(dir.path().join("usage.jsonl")).unwrap();
    assert_eq!(log.lines().count(), 2);
    assert!(
        log.contains("\"client\":\"t\"") && !log.contains("gw-key"),
        "{log}"
    );
}

#[test]
fn serve_takes_a_model_and_its_limits_without_a_file() {
    let dir = tempfile::tempdir().unwrap();
    // Neither a config nor a model: clap names what is missing.
    pacer(dir.path(), &["serve"])
        .expect_code(2)
        .expect_stderr(&["--config"]);
    let mut serve = command(dir.path());
    serve
        .args([
            "serve",
            "-m",
            "mock:mock-small",
            "--rpm",
            "500",
            "--tpm",
            "200000",
        ])
        .args(["--listen", "127.0.0.1:0", "--usage-log", "usage.jsonl"])
        .env("PACER_GATEWAY_KEYS", "gw-a, gw-b");
    let (mut child, banner, addr) = start(serve);
    let body =
        r#"{"model":"mock-small","messages":[{"role":"user","content":"hi"}],"max_tokens":8}"#;
    let (status, reply) = post(&addr, "/v1/chat/completions", "gw-b", body);
    let (refused, _) = post(&addr, "/v1/chat/completions", "gw-c", body);
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        banner.contains("mock-small (rpm 500, tpm 200000)"),
        "{banner}"
    );
    assert_eq!(status, 200, "{reply}");
    assert_eq!(refused, 401);
    let log = std::fs::read_to_string(dir.path().join("usage.jsonl")).unwrap();
    assert!(log.contains("\"client\":\"key2\""), "{log}");
}

#[test]
fn a_key_naming_a_model_the_gateway_lacks_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "serve.toml",
        "gateway_keys = [{ id = \"alice\", key = \"k\", tpm = 1000, models = [\"m\", \"nope\"] }]\n[[models]]\nname = \"m\"\ntype = \"mock\"\n",
    );
    pacer(dir.path(), &["serve", "--config", "serve.toml"])
        .expect_code(2)
        .expect_stderr(&["gateway_keys: `alice`: models: `nope` is not a model here"]);
    write(
        dir.path(),
        "zero.toml",
        "gateway_keys = [{ id = \"bob\", key = \"k\", rpm = 0 }]\n[[models]]\nname = \"m\"\ntype = \"mock\"\n",
    );
    pacer(dir.path(), &["serve", "--config", "zero.toml"])
        .expect_code(2)
        .expect_stderr(&["`bob`: rpm: expected a positive limit"]);
}
