//! A real etcd on loopback for tests: own temporary data directory, free ports, killed on drop.
//!
//! The binary is `etcd` from `PATH` (Debian: `apt-get install etcd-server`), or `$ETCD_BIN`.
//! A member is ready when its log says it serves client requests; no polling.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use tempfile::TempDir;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;

/// How long a member may take to start serving.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// One etcd cluster of one or more members, all on 127.0.0.1.
pub struct Etcd {
    members: Vec<Member>,
    _dir: TempDir,
}

struct Member {
    name: String,
    client_url: String,
    args: Vec<String>,
    log: PathBuf,
    child: Option<Child>,
}

/// A port nobody listens on now: bind port 0, note what the kernel chose, let it go.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    listener.local_addr().expect("local address").port()
}

fn binary() -> String {
    std::env::var("ETCD_BIN").unwrap_or_else(|_| "etcd".to_owned())
}

impl Etcd {
    /// A single-member cluster.
    pub async fn single() -> Etcd {
        Self::cluster(1).await
    }

    /// A cluster of `n` members, started together; returns when every one serves.
    pub async fn cluster(n: usize) -> Etcd {
        let dir = tempfile::Builder::new()
            .prefix("arbor-etcd-test")
            .tempdir()
            .expect("create a temporary directory");
        let ports: Vec<(u16, u16)> = (0..n).map(|_| (free_port(), free_port())).collect();
        let initial_cluster = ports
            .iter()
            .enumerate()
            .map(|(i, (_, peer))| format!("m{i}=http://127.0.0.1:{peer}"))
            .collect::<Vec<_>>()
            .join(",");
        let token = format!("arbor-test-{}", ports[0].0);
        let mut members = Vec::with_capacity(n);
        for (i, (client, peer)) in ports.iter().enumerate() {
            let name = format!("m{i}");
            let client_url = format!("http://127.0.0.1:{client}");
            let peer_url = format!("http://127.0.0.1:{peer}");
            let data = dir.path().join(&name);
            let args = vec![
                "--name".into(),
                name.clone(),
                "--data-dir".into(),
                data.display().to_string(),
                "--listen-client-urls".into(),
                client_url.clone(),
                "--advertise-client-urls".into(),
                client_url.clone(),
                "--listen-peer-urls".into(),
                peer_url.clone(),
                "--initial-advertise-peer-urls".into(),
                peer_url,
                "--initial-cluster".into(),
                initial_cluster.clone(),
                "--initial-cluster-state".into(),
                "new".into(),
                "--initial-cluster-token".into(),
                token.clone(),
                // Fast elections keep failover tests short; leases still get >= 1 s.
                "--heartbeat-interval".into(),
                "50".into(),
                "--election-timeout".into(),
                "500".into(),
            ];
            members.push(Member {
                log: dir.path().join(format!("{name}.log")),
                name,
                client_url,
                args,
                child: None,
            });
        }
        let mut etcd = Etcd { members, _dir: dir };
        // Members of a new cluster wait for each other: start them all, then wait for each.
        let mut ready = Vec::new();
        for i in 0..n {
            ready.push(etcd.spawn(i));
        }
        for (i, rx) in ready.into_iter().enumerate() {
            etcd.wait_ready(i, rx).await;
        }
        etcd
    }

    /// The client URLs of every member, in member order.
    pub fn endpoints(&self) -> Vec<String> {
        self.members.iter().map(|m| m.client_url.clone()).collect()
    }

    /// The client URL of member `i`.
    pub fn endpoint(&self, i: usize) -> String {
        self.members[i].client_url.clone()
    }

    /// Kills member `i` (SIGKILL) and waits until it is gone.
    pub async fn kill(&mut self, i: usize) {
        if let Some(mut child) = self.members[i].child.take() {
            child.start_kill().expect("kill etcd");
            child.wait().await.expect("reap etcd");
        }
    }

    /// Starts member `i` again with the same data directory and ports; returns when it serves.
    pub async fn restart(&mut self, i: usize) {
        let rx = self.spawn(i);
        self.wait_ready(i, rx).await;
    }

    fn spawn(&mut self, i: usize) -> mpsc::UnboundedReceiver<()> {
        let member = &mut self.members[i];
        let mut child = match Command::new(binary())
            .args(&member.args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
        {
            Ok(child) => child,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => panic!(
                "the `etcd` binary was not found on PATH (set ETCD_BIN, or install it: \
                 `apt-get install etcd-server` on Debian): {err}"
            ),
            Err(err) => panic!("could not start `{}`: {err}", binary()),
        };
        let stderr = child.stderr.take().expect("stderr is piped");
        member.child = Some(child);
        let (tx, rx) = mpsc::unbounded_channel();
        let log = member.log.clone();
        // Drain the log for the whole life of the process (a full pipe would stall etcd), keep
        // it in a file for post-mortems, and report the line that says it serves.
        tokio::spawn(async move {
            use tokio::io::AsyncWriteExt;
            let mut file = tokio::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&log)
                .await
                .ok();
            let mut lines = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                if line.contains("serving insecure client requests") {
                    let _ = tx.send(());
                }
                if let Some(file) = file.as_mut() {
                    let _ = file.write_all(line.as_bytes()).await;
                    let _ = file.write_all(b"\n").await;
                }
            }
        });
        rx
    }

    async fn wait_ready(&mut self, i: usize, mut rx: mpsc::UnboundedReceiver<()>) {
        let member = &self.members[i];
        match tokio::time::timeout(START_TIMEOUT, rx.recv()).await {
            Ok(Some(())) => {}
            Ok(None) | Err(_) => {
                let log = std::fs::read_to_string(&member.log).unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(30).collect();
                panic!(
                    "etcd member {} did not start serving on {} within {START_TIMEOUT:?}; log tail:\n{}",
                    member.name,
                    member.client_url,
                    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                );
            }
        }
    }
}
