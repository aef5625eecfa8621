//! A real etcd on loopback for tests: own temporary data directory, reserved ports, killed on
//! drop.
//!
//! The binary is `etcd` from `PATH` (Debian: `apt-get install etcd-server`), or `$ETCD_BIN`.
//! A member is ready when its log says it serves client requests; no polling.
//!
//! Its ports must be known before it starts (every member lists every peer), so they are
//! reserved with the kit's [`free_port`]: held for the life of the cluster, and etcd (a Go
//! program, binding with `SO_REUSEADDR`) binds them through the reservation. A member killed by
//! a test restarts on ports nobody could take meanwhile. What a reservation cannot exclude (a
//! stranger binding the same number on purpose) makes a member fail with "address already in
//! use"; a new cluster then starts again on fresh ports, up to [`ATTEMPTS`] times.

use std::path::PathBuf;
use std::process::Stdio;

use arbor_test_kit::{free_port, PortReservation, DEADLINE};
use tempfile::TempDir;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;

/// How many times a new cluster is started, on fresh ports each time, when a member finds one
/// of its ports in use.
const ATTEMPTS: usize = 3;

/// One etcd cluster of one or more members, all on 127.0.0.1.
pub struct Etcd {
    members: Vec<Member>,
    _dir: TempDir,
}

struct Member {
    name: String,
    client_url: String,
    /// The network namespace it runs in (a path for `nsenter --net=`), if not this one.
    netns: Option<String>,
    args: Vec<String>,
    log: PathBuf,
    child: Option<Child>,
    /// The client and peer ports, reserved while the cluster lives (none in a namespace of
    /// its own, where nobody else binds).
    _ports: Vec<PortReservation>,
}

/// Where the members of a cluster listen.
enum Layout {
    /// On 127.0.0.1 here, on reserved ports.
    Loopback,
    /// In network namespace `netns`: member `j` serves clients on `client_ip(j):2379` and its
    /// peers on its namespace's loopback.
    Netns { netns: String },
    /// As `Loopback`, but clients talk TLS (`https://`), with these extra arguments (the
    /// certificate files, and `--client-cert-auth` where client certificates are required).
    Tls { args: Vec<String> },
}

/// Why a member did not start serving.
struct NotServing {
    /// It exited because one of its ports was in use: fresh ports may do.
    port_in_use: bool,
    message: String,
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
        let mut attempt = 1;
        loop {
            match Self::start(n, Layout::Loopback).await {
                Ok(etcd) => return etcd,
                Err(failed) if failed.port_in_use && attempt < ATTEMPTS => {
                    eprintln!(
                        "{}\nstarting the cluster again, on fresh ports",
                        failed.message
                    );
                    attempt += 1;
                }
                Err(failed) => panic!("{}", failed.message),
            }
        }
    }

    /// A cluster of `n` members in network namespace `netns` (see `netns.rs`): member `j`
    /// serves clients at `http://<netns::member_ip(j)>:2379`.
    pub async fn cluster_in(netns: &str, n: usize) -> Etcd {
        let layout = Layout::Netns {
            netns: netns.to_owned(),
        };
        match Self::start(n, layout).await {
            Ok(etcd) => etcd,
            Err(failed) => panic!("{}", failed.message),
        }
    }

    /// A single member serving clients over TLS with a certificate of `ca` for 127.0.0.1, and
    /// requiring client certificates of `ca` if `client_certs`; `extra` are more arguments.
    pub async fn single_tls(
        ca: &arbor_test_kit::pki::Ca,
        client_certs: bool,
        extra: &[&str],
    ) -> Etcd {
        let server = ca.server();
        let mut args = vec![
            "--cert-file".to_owned(),
            ca.file("server.pem", &server.cert).display().to_string(),
            "--key-file".to_owned(),
            ca.file("server-key.pem", &server.key).display().to_string(),
        ];
        args.extend(extra.iter().map(|arg| (*arg).to_owned()));
        if client_certs {
            args.extend([
                "--trusted-ca-file".to_owned(),
                ca.file("ca.pem", &ca.pem).display().to_string(),
                "--client-cert-auth".to_owned(),
            ]);
        }
        let mut attempt = 1;
        loop {
            let layout = Layout::Tls { args: args.clone() };
            match Self::start(1, layout).await {
                Ok(etcd) => return etcd,
                Err(failed) if failed.port_in_use && attempt < ATTEMPTS => attempt += 1,
                Err(failed) => panic!("{}", failed.message),
            }
        }
    }

    /// One attempt of [`cluster`](Self::cluster).
    async fn start(n: usize, layout: Layout) -> Result<Etcd, NotServing> {
        let dir = tempfile::Builder::new()
            .prefix("arbor-etcd-test")
            .tempdir()
            .expect("create a temporary directory");
        // Per member: client URL, peer URL, reservations.
        let places: Vec<(String, String, Vec<PortReservation>)> = (0..n)
            .map(|j| match &layout {
                Layout::Loopback | Layout::Tls { .. } => {
                    let scheme = match &layout {
                        Layout::Tls { .. } => "https",
                        _ => "http",
                    };
                    let (client, peer) = (free_port(), free_port());
                    (
                        format!("{scheme}://127.0.0.1:{}", client.port()),
                        format!("http://127.0.0.1:{}", peer.port()),
                        vec![client, peer],
                    )
                }
                Layout::Netns { .. } => (
                    format!("http://{}:2379", super::netns::member_ip(j)),
                    format!("http://127.0.0.1:{}", 2380 + j),
                    Vec::new(),
                ),
            })
            .collect();
        let (netns, extra) = match &layout {
            Layout::Loopback => (None, Vec::new()),
            Layout::Netns { netns } => (Some(netns.clone()), Vec::new()),
            Layout::Tls { args } => (None, args.clone()),
        };
        let initial_cluster = places
            .iter()
            .enumerate()
            .map(|(i, (_, peer, _))| format!("m{i}={peer}"))
            .collect::<Vec<_>>()
            .join(",");
        let token = format!("arbor-test-{}-{}", std::process::id(), places[0].0);
        let mut members = Vec::with_capacity(n);
        for (i, (client_url, peer_url, reserved)) in places.into_iter().enumerate() {
            let name = format!("m{i}");
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
            let args = [args, extra.clone()].concat();
            members.push(Member {
                log: dir.path().join(format!("{name}.log")),
                name,
                client_url,
                netns: netns.clone(),
                args,
                child: None,
                _ports: reserved,
            });
        }
        let mut etcd = Etcd { members, _dir: dir };
        // Members of a new cluster wait for each other: start them all, then wait for each.
        let mut ready = Vec::new();
        for i in 0..n {
            ready.push(etcd.spawn(i));
        }
        for (i, rx) in ready.into_iter().enumerate() {
            etcd.wait_ready(i, rx).await?;
        }
        Ok(etcd)
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
        if let Err(failed) = self.wait_ready(i, rx).await {
            panic!("{}", failed.message);
        }
    }

    fn spawn(&mut self, i: usize) -> mpsc::UnboundedReceiver<()> {
        let member = &mut self.members[i];
        let mut command = match &member.netns {
            Some(path) => {
                let mut command = Command::new("nsenter");
                command.arg(format!("--net={path}")).arg("--").arg(binary());
                command
            }
            None => Command::new(binary()),
        };
        let mut child = match command
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
                // "serving insecure client requests on …", or with TLS "serving client
                // requests on …".
                if line.contains("client requests on") {
                    let _ = tx.send(());
                }
                if let Some(file) = file.as_mut() {
                    let _ = file.write_all(line.as_bytes()).await;
                    let _ = file.write_all(b"\n").await;
                }
            }
            // The log is complete on disk before `rx` ends (with this task).
            if let Some(file) = file.as_mut() {
                let _ = file.flush().await;
            }
        });
        rx
    }

    async fn wait_ready(
        &mut self,
        i: usize,
        mut rx: mpsc::UnboundedReceiver<()>,
    ) -> Result<(), NotServing> {
        let member = &self.members[i];
        match tokio::time::timeout(DEADLINE, rx.recv()).await {
            Ok(Some(())) => Ok(()),
            outcome => {
                let exited = matches!(outcome, Ok(None));
                let log = std::fs::read_to_string(&member.log).unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(30).collect();
                Err(NotServing {
                    port_in_use: exited && log.contains("address already in use"),
                    message: format!(
                        "etcd member {} did not start serving on {} within {DEADLINE:?}; log tail:\n{}",
                        member.name,
                        member.client_url,
                        tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                    ),
                })
            }
        }
    }
}
