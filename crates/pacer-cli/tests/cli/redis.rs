//! A run coordinated through a real `redis-server` (skipped without one, unless
//! `PACER_REQUIRE_REDIS` is set): `pacer run --redis` and `pacer worker` processes, with
//! workers killed, the coordinator killed and resumed, and Redis restarted mid-run. Every
//! job ends as exactly one record each time.

use std::path::Path;
use std::process::{Child, Stdio};
use std::thread::sleep;
use std::time::Duration;

use pacer_limit::remote::TestServer;

use crate::common::*;

/// One mock model, 20 ms a reply, 2 in flight per process: 300 prompts take two workers
/// about 1.5 s.
const PROMPTS: usize = 300;
const CONFIG: &str = r#"
prompts_file = "prompts.jsonl"
output_dir = "out"

[[models]]
name = "one"
type = "mock"
latency_ms = 20
concurrency = 2
"#;

fn setup() -> Option<(TestServer, tempfile::TempDir)> {
    let server = TestServer::for_test()?;
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "prompts.jsonl", &jsonl_prompts(PROMPTS));
    write(dir.path(), "run.toml", CONFIG);
    Some((server, dir))
}

fn worker(dir: &Path, server: &TestServer, name: &str) -> Child {
    command(dir)
        .args([
            "worker",
            "--redis",
            &server.url(),
            "--once",
            "--idle-timeout",
            "1",
        ])
        .args(["--name", name])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("pacer worker starts")
}

fn coordinator(dir: &Path, server: &TestServer, resume: bool) -> Child {
    let mut cmd = command(dir);
    cmd.args([
        "run",
        "--config",
        "run.toml",
        "--quiet",
        "--redis",
        &server.url(),
    ]);
    if resume {
        cmd.arg("--resume");
    }
    cmd.stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("pacer run starts")
}

/// Waits for `child`, failing after `secs`; returns its stderr.
fn finish(mut child: Child, secs: u64) -> (Option<i32>, String) {
    for _ in 0..secs * 20 {
        if let Some(status) = child.try_wait().unwrap() {
            let mut stderr = String::new();
            use std::io::Read;
            child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut stderr)
                .unwrap();
            return (status.code(), stderr);
        }
        sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    panic!("still running after {secs} s");
}

/// Jobs a worker said it returned.
fn returned(stderr: &str) -> u64 {
    stderr
        .lines()
        .find_map(|l| l.split(" ended: ").nth(1))
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("the worker said nothing of its jobs: {stderr}"))
}

fn run_keys_left(server: &TestServer) -> Vec<String> {
    let client = redis::Client::open(server.url()).unwrap();
    let mut c = client.get_connection().unwrap();
    let keys: Vec<String> = redis::cmd("KEYS").arg("pacer:run:*").query(&mut c).unwrap();
    keys.into_iter()
        .filter(|k| !k.ends_with(":ended"))
        .collect()
}

#[test]
fn workers_run_every_job_once_and_the_run_leaves_redis_clean() {
    let Some((server, dir)) = setup() else {
        return;
    };
    let workers: Vec<Child> = (0..2)
        .map(|i| worker(dir.path(), &server, &format!("w{i}")))
        .collect();
    let (code, stderr) = finish(coordinator(dir.path(), &server, false), 60);
    assert_eq!(code, Some(0), "{stderr}");
    let records = records(&dir.path().join("out"));
    assert_one_per_key(&records, &prompt_ids(PROMPTS), &[("one", 1)]);
    // The replies came across whole: text, tokens, attempts.
    for record in &records {
        assert_eq!(record["status"], "ok", "{record}");
        assert!(
            !record["full_response"].as_str().unwrap().is_empty(),
            "{record}"
        );
        assert!(
            record["tokens_used"]["total"].as_u64().unwrap() > 0,
            "{record}"
        );
    }
    let mut total = 0;
    for w in workers {
        let (code, stderr) = finish(w, 30);
        assert_eq!(code, Some(0), "{stderr}");
        total += returned(&stderr);
    }
    // Both took part, and nothing ran twice.
    assert_eq!(total, PROMPTS as u64);
    assert!(
        run_keys_left(&server).is_empty(),
        "{:?}",
        run_keys_left(&server)
    );
}

#[test]
fn a_worker_killed_mid_run_loses_nothing() {
    let Some((server, dir)) = setup() else {
        return;
    };
    let mut doomed = worker(dir.path(), &server, "doomed");
    let survivor = worker(dir.path(), &server, "survivor");
    let run = coordinator(dir.path(), &server, false);
    sleep(Duration::from_millis(600));
    doomed.kill().unwrap(); // SIGKILL: its jobs in flight stay pending in the group
    let _ = doomed.wait();
    let (code, stderr) = finish(run, 60);
    assert_eq!(code, Some(0), "{stderr}");
    assert_one_per_key(
        &records(&dir.path().join("out")),
        &prompt_ids(PROMPTS),
        &[("one", 1)],
    );
    let (_, stderr) = finish(survivor, 30);
    assert!(stderr.contains("taken over"), "{stderr}");
}

#[test]
fn a_killed_coordinator_resumes_with_the_results_workers_returned_meanwhile() {
    let Some((server, dir)) = setup() else {
        return;
    };
    let workers: Vec<Child> = (0..2)
        .map(|i| worker(dir.path(), &server, &format!("w{i}")))
        .collect();
    let mut first = coordinator(dir.path(), &server, false);
    sleep(Duration::from_millis(700));
    first.kill().unwrap();
    let _ = first.wait();
    let before = records(&dir.path().join("out")).len();
    assert!(before < PROMPTS, "the run was over before the kill");
    // The workers go on with what is on Redis; their results wait there.
    sleep(Duration::from_millis(500));
    let (code, stderr) = finish(coordinator(dir.path(), &server, true), 60);
    assert_eq!(code, Some(0), "{stderr}");
    assert_one_per_key(
        &records(&dir.path().join("out")),
        &prompt_ids(PROMPTS),
        &[("one", 1)],
    );
    // Nothing was sent twice: what was queued or returned before the kill was adopted.
    let total: u64 = workers
        .into_iter()
        .map(|w| returned(&finish(w, 30).1))
        .sum();
    assert_eq!(total, PROMPTS as u64);
}

#[test]
fn redis_restarted_mid_run_loses_no_job() {
    let Some((mut server, dir)) = setup() else {
        return;
    };
    let workers: Vec<Child> = (0..2)
        .map(|i| worker(dir.path(), &server, &format!("w{i}")))
        .collect();
    let run = coordinator(dir.path(), &server, false);
    sleep(Duration::from_millis(600));
    server.stop();
    sleep(Duration::from_millis(800));
    server.restart().unwrap();
    let (code, stderr) = finish(run, 90);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stderr.contains("lost this run"), "{stderr}");
    assert_one_per_key(
        &records(&dir.path().join("out")),
        &prompt_ids(PROMPTS),
        &[("one", 1)],
    );
    for w in workers {
        let _ = finish(w, 60);
    }
}

#[test]
fn a_worker_without_a_key_says_which_model_it_cannot_run() {
    let Some((server, dir)) = setup() else {
        return;
    };
    write(
        dir.path(),
        "keyed.toml",
        r#"
prompts_file = "prompts.jsonl"
output_dir = "out"

[[models]]
name = "gpt-4o-mini"
type = "openai"
"#,
    );
    let mut run = command(dir.path())
        .args([
            "run",
            "--config",
            "keyed.toml",
            "--quiet",
            "--redis",
            &server.url(),
        ])
        .env("OPENAI_API_KEY", "sk-coordinator-only")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let out = command(dir.path())
        .args(["worker", "--redis", &server.url(), "--once"])
        .env_remove("OPENAI_API_KEY")
        .output()
        .unwrap();
    let _ = run.kill();
    let _ = run.wait();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("model gpt-4o-mini: no API key for OpenAI")
            && stderr.contains("no model this worker can run"),
        "{stderr}"
    );
    assert!(!stderr.contains("sk-coordinator-only"));
}

#[test]
fn a_key_refused_on_a_worker_stops_the_model_and_leaves_its_jobs_pending() {
    let Some((server, dir)) = setup() else {
        return;
    };
    write(
        dir.path(),
        "refused.toml",
        r#"
prompts_file = "prompts.jsonl"
output_dir = "out"

[[models]]
name = "one"
type = "mock"
fail_rate = 1.0
fail_kind = "Auth"
"#,
    );
    let w = worker(dir.path(), &server, "w0");
    let run = command(dir.path())
        .args([
            "run",
            "--config",
            "refused.toml",
            "--quiet",
            "--redis",
            &server.url(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (code, stderr) = finish(run, 60);
    // As on one machine: the model stops, its jobs stay pending (exit 3), and says why.
    assert_eq!(code, Some(3), "{stderr}");
    assert!(stderr.contains("on worker w0"), "{stderr}");
    assert!(records(&dir.path().join("out")).len() < PROMPTS);
    drop(server); // the worker's run is gone: it leaves
    let _ = finish(w, 60);
}

/// Starts `pacer serve` with `config` written to `name`; returns it and its address.
fn gateway(dir: &Path, name: &str, config: &str) -> (Child, String) {
    use std::io::{BufRead, BufReader};
    write(dir, name, config);
    let mut child = command(dir)
        .args(["serve", "--config", name, "--no-auth"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let addr = loop {
        let line = lines.next().expect("a banner").unwrap();
        if let Some(rest) = line.split("http://").nth(1) {
            break rest.split("/v1").next().unwrap().to_owned();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    (child, addr)
}

fn post(addr: &str, body: &str) -> u16 {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    let request = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).unwrap();
    let mut reply = String::new();
    stream.read_to_string(&mut reply).unwrap();
    reply[9..12].parse().unwrap()
}

#[test]
fn two_gateways_on_one_redis_keep_one_limit_together() {
    let Some((server, dir)) = setup() else {
        return;
    };
    // The upstream: 600 RPM counted over 2 s windows (a bucket of 20, 10 a second).
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut mock = command(dir.path())
        .args([
            "mock",
            "--port",
            &port.to_string(),
            "--rpm",
            "600",
            "--window",
            "2s",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        sleep(Duration::from_millis(50));
    }
    let config = format!(
        "listen = \"127.0.0.1:0\"\nredis = \"{}\"\n\n[[models]]\nname = \"gpt-4o-mini\"\ntype = \"openai\"\nbase_url = \"http://127.0.0.1:{port}/v1\"\napi_key = \"sk-test\"\nrpm = 600\n",
        server.url()
    );
    let (mut a, addr_a) = gateway(dir.path(), "a.toml", &config);
    let (mut b, addr_b) = gateway(dir.path(), "b.toml", &config);
    // 8 clients, 10 requests each, half on each gateway: each gateway alone would send at
    // the whole limit, together twice it.
    let clients: Vec<_> = (0..8)
        .map(|i| {
            let addr = if i % 2 == 0 { addr_a.clone() } else { addr_b.clone() };
            std::thread::spawn(move || {
                let body = r#"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}],"max_tokens":8}"#;
                (0..10).map(|_| post(&addr, body)).collect::<Vec<u16>>()
            })
        })
        .collect();
    let statuses: Vec<u16> = clients
        .into_iter()
        .flat_map(|c| c.join().unwrap())
        .collect();
    let stats: serde_json::Value = {
        use std::io::{Read, Write};
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        write!(
            stream,
            "GET /stats HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n"
        )
        .unwrap();
        let mut reply = String::new();
        stream.read_to_string(&mut reply).unwrap();
        serde_json::from_str(reply.split_once("\r\n\r\n").unwrap().1).unwrap()
    };
    for child in [&mut a, &mut b, &mut mock] {
        let _ = child.kill();
        let _ = child.wait();
    }
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    assert_eq!(stats["requests"], 80, "{stats}");
    assert_eq!(
        stats["rate_limited"], 0,
        "the gateways together passed the limit: {stats}"
    );
}
