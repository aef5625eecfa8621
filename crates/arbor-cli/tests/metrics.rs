//! `arbor run --metrics ADDR`: Prometheus metrics and the status as JSON over HTTP, on
//! loopback only; run as the built binary with real programs.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};

/// A port nobody listens on now.
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    listener.local_addr().expect("its address").port()
}

/// `GET path` on `port`: the whole response, or `None` while nothing listens.
fn get(port: u16, path: &str) -> Option<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    Some(response)
}

/// Polls `f` every 50 ms, up to 30 s, until it gives a value.
async fn eventually<T>(mut f: impl FnMut() -> Option<T>) -> Option<T> {
    for _ in 0..600 {
        if let Some(value) = f() {
            return Some(value);
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_and_status_are_served_on_loopback() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let file = dir.path().join("arbor.toml");
    std::fs::write(
        &file,
        "[program.steady]\ncommand = [\"sh\", \"-c\", \"exec sleep 1000\"]\n\n\
         [program.flaky]\ncommand = [\"sh\", \"-c\", \"sleep 0.2; exit 3\"]\n\
         backoff = { initial = \"50ms\" }\n",
    )
    .expect("the file is written");
    let port = free_port();
    let mut arbor = Command::new(env!("CARGO_BIN_EXE_arbor"))
        .args(["run", "--plain", "--metrics", &format!("127.0.0.1:{port}")])
        .arg("--socket")
        .arg(dir.path().join("s.sock"))
        .arg(&file)
        .stdout(Stdio::null())
        .spawn()
        .expect("arbor runs");

    // The flaky program's failures are counted under its DN.
    let page = eventually(|| {
        get(port, "/metrics")
            .filter(|page| page.contains(r#"arbor_failures_total{dn="root.flaky"}"#))
    })
    .await;
    let status = get(port, "/status").unwrap_or_default();
    let _ = Command::new("sh")
        .arg("-c")
        .arg(format!("kill -INT {}", arbor.id()))
        .status();
    let exit = arbor.wait().expect("arbor exits");

    let page = page.expect("a page with the flaky program's failures within 30 s");
    assert!(page.starts_with("HTTP/1.1 200"), "{page}");
    assert!(page.contains(r#"arbor_nodes{state="healthy"}"#), "{page}");
    assert!(status.starts_with("HTTP/1.1 200"), "{status}");
    let body = status.split("\r\n\r\n").nth(1).unwrap_or_default();
    let json: serde_json::Value = serde_json::from_str(body).expect("the status is JSON");
    let steady = json["nodes"]
        .as_array()
        .and_then(|nodes| nodes.iter().find(|n| n["dn"] == "root.steady"))
        .expect("the steady program is in the status");
    assert_eq!(steady["state"], "Healthy", "{json}");
    assert!(steady["pid"].as_u64().is_some(), "{json}");
    assert!(exit.success(), "arbor stopped cleanly: {exit}");
}

#[test]
fn a_metrics_address_off_loopback_is_refused_before_anything_starts() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let file = dir.path().join("arbor.toml");
    let marker = dir.path().join("started");
    std::fs::write(
        &file,
        format!(
            "[program.p]\ncommand = [\"sh\", \"-c\", \"touch {}; exec sleep 1000\"]\n",
            marker.display()
        ),
    )
    .expect("the file is written");
    let out = Command::new(env!("CARGO_BIN_EXE_arbor"))
        .args(["run", "--plain", "--metrics", "0.0.0.0:9"])
        .arg("--socket")
        .arg(dir.path().join("s.sock"))
        .arg(&file)
        .output()
        .expect("arbor runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("only a loopback address") && stderr.contains("nothing was started"),
        "{stderr}"
    );
    assert!(!marker.exists(), "no program was started");
}
