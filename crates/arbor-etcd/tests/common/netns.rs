//! A small network of namespaces for partition tests: hosts, a router, and etcd.
//!
//! ```text
//!   host 0  10.99.1.2 ─┐                         ┌─ etcd ns 10.99.0.2, members on
//!   host 1  10.99.2.2 ─┼── router (forwards) ────┘   10.99.0.11, .12, .13 (peers on its
//!   host 2  10.99.3.2 ─┘   10.99.{1,2,3}.1, 10.99.0.1  own loopback)
//! ```
//!
//! A cut drops packets in the router, silently and both ways, with blackhole routes (one for
//! the packets towards the cut side, one through a policy rule for the packets from it): the
//! ends see nothing, no reset and no ICMP, as with a pulled cable or a dead switch. A member
//! cut off from the hosts still reaches its peers over the etcd namespace's loopback. Traffic
//! stays inside the namespaces: nothing listens or sends outside them.
//!
//! Needs root and `ip` (Debian: iproute2) and `nsenter` (util-linux); [`Lab::new`] says why not
//! and returns `None` where they are missing. Namespaces are named after this process, and a
//! lab left by a process that died (killed in the middle of a test) is removed by the next.

use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

const PREFIX: &str = "arbor-pt-";

/// The namespaces of one test. Dropping it kills what still runs inside them and deletes them.
pub struct Lab {
    names: Vec<String>,
    hosts: usize,
}

/// Where etcd member `j` listens for clients.
pub fn member_ip(j: usize) -> String {
    format!("10.99.0.{}", 11 + j)
}

impl Lab {
    /// A lab with `hosts` host namespaces, or `None` (with the reason on stderr) where this
    /// machine cannot make one.
    pub fn new(hosts: usize, members: usize) -> Option<Lab> {
        if let Some(why) = unavailable() {
            eprintln!("SKIPPED: partition tests need network namespaces: {why}");
            return None;
        }
        remove_stale();
        static SEQ: AtomicUsize = AtomicUsize::new(0);
        let seq = SEQ.fetch_add(1, Ordering::Relaxed);
        let base = format!("{PREFIX}{}-{seq}-", std::process::id());
        let mut names = vec![format!("{base}r"), format!("{base}e")];
        names.extend((0..hosts).map(|i| format!("{base}h{i}")));
        let lab = Lab { names, hosts };
        for name in &lab.names {
            ip(&["netns", "add", name]);
            ipn(name, &["link", "set", "lo", "up"]);
        }
        let (router, etcd) = (lab.names[0].clone(), lab.names[1].clone());
        lab.link(&etcd, "r", "10.99.0.2/24", &router, "e", "10.99.0.1/24");
        for j in 0..members {
            let address = format!("{}/32", member_ip(j));
            ipn(&etcd, &["addr", "add", &address, "dev", "r"]);
        }
        ipn(&etcd, &["route", "add", "default", "via", "10.99.0.1"]);
        for i in 0..hosts {
            let host = lab.names[2 + i].clone();
            let subnet = i + 1;
            lab.link(
                &host,
                "r",
                &format!("10.99.{subnet}.2/24"),
                &router,
                &format!("h{i}"),
                &format!("10.99.{subnet}.1/24"),
            );
            let gateway = format!("10.99.{subnet}.1");
            ipn(&host, &["route", "add", "default", "via", &gateway]);
        }
        // The members' addresses sit on the etcd side's link, behind the router's /24.
        run(
            "nsenter",
            &[
                &format!("--net={}", lab.path_of(&router)),
                "--",
                "sh",
                "-c",
                "echo 1 > /proc/sys/net/ipv4/ip_forward",
            ],
        );
        Some(lab)
    }

    /// A veth pair between namespaces `a` and `b`, named and addressed on each side, up.
    fn link(&self, a: &str, a_dev: &str, a_addr: &str, b: &str, b_dev: &str, b_addr: &str) {
        ip(&[
            "link", "add", a_dev, "netns", a, "type", "veth", "peer", "name", b_dev, "netns", b,
        ]);
        ipn(a, &["addr", "add", a_addr, "dev", a_dev]);
        ipn(b, &["addr", "add", b_addr, "dev", b_dev]);
        ipn(a, &["link", "set", a_dev, "up"]);
        ipn(b, &["link", "set", b_dev, "up"]);
    }

    fn path_of(&self, name: &str) -> String {
        format!("/run/netns/{name}")
    }

    /// The path of the etcd namespace, for `nsenter --net=`.
    pub fn etcd_ns(&self) -> String {
        self.path_of(&self.names[1])
    }

    /// The path of host `i`'s namespace.
    pub fn host_ns(&self, i: usize) -> String {
        assert!(i < self.hosts, "no host {i}");
        self.path_of(&self.names[2 + i])
    }

    /// Drops every packet between host `i` and everything else.
    pub fn cut_host(&self, i: usize) {
        self.host_blackhole("add", i);
    }

    /// Undoes [`cut_host`](Self::cut_host).
    pub fn heal_host(&self, i: usize) {
        self.host_blackhole("del", i);
    }

    /// Adds or deletes (`op`) the blackhole around host `i`.
    fn host_blackhole(&self, op: &str, i: usize) {
        let iface = format!("h{i}");
        self.blackhole(op, &format!("10.99.{}.2", i + 1), &["iif", &iface], 100 + i);
    }

    /// Drops every packet between etcd member `j` and the hosts; its peers still reach it.
    pub fn cut_member(&self, j: usize) {
        let ip = member_ip(j);
        self.blackhole("add", &ip, &["from", &ip], 200 + j);
    }

    /// Undoes [`cut_member`](Self::cut_member).
    pub fn heal_member(&self, j: usize) {
        let ip = member_ip(j);
        self.blackhole("del", &ip, &["from", &ip], 200 + j);
    }

    /// In the router: packets to `to` go nowhere, and so do packets matching `from` (through a
    /// rule into a table of their own, `table`, that holds only a blackhole).
    fn blackhole(&self, op: &str, to: &str, from: &[&str], table: usize) {
        let router = &self.names[0];
        let table = table.to_string();
        ipn(router, &["route", op, "blackhole", &format!("{to}/32")]);
        let mut rule = vec!["rule", op];
        rule.extend_from_slice(from);
        rule.extend_from_slice(&["lookup", &table, "priority", "100"]);
        ipn(router, &rule);
        ipn(
            router,
            &["route", op, "blackhole", "default", "table", &table],
        );
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for name in &self.names {
            remove(name);
        }
        // `ip netns add` made /run/netns a mount point; with no namespace left in it, unmount
        // it, so that nothing of the tests stays mounted (in a chroot, it would keep the
        // chroot's directory busy).
        let empty = std::fs::read_dir("/run/netns").is_ok_and(|mut dir| dir.next().is_none());
        if empty {
            let _ = Command::new("umount").arg("/run/netns").output();
        }
    }
}

/// Why this machine cannot make a lab, if it cannot.
fn unavailable() -> Option<String> {
    for tool in ["ip", "nsenter"] {
        let found = Command::new(tool).arg("-V").output();
        if found.is_err() {
            return Some(format!(
                "`{tool}` is not installed (Debian: iproute2, util-linux)"
            ));
        }
    }
    let probe = format!("{PREFIX}probe-{}", std::process::id());
    let made = Command::new("ip").args(["netns", "add", &probe]).output();
    match made {
        Ok(out) if out.status.success() => {
            let entered = Command::new("nsenter")
                .arg(format!("--net=/run/netns/{probe}"))
                .args(["--", "ip", "link", "set", "lo", "up"])
                .output();
            remove(&probe);
            match entered {
                Ok(out) if out.status.success() => None,
                Ok(out) => Some(format!(
                    "`nsenter` into a namespace failed: {}",
                    String::from_utf8_lossy(&out.stderr).trim()
                )),
                Err(err) => Some(format!("`nsenter` did not run: {err}")),
            }
        }
        Ok(out) => Some(format!(
            "`ip netns add` failed (it needs root): {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )),
        Err(err) => Some(format!("`ip netns add` did not run: {err}")),
    }
}

/// Removes the labs of processes that are gone.
fn remove_stale() {
    let Ok(out) = Command::new("ip").args(["netns", "list"]).output() else {
        return;
    };
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Some(name) = line.split_whitespace().next() else {
            continue;
        };
        let Some(rest) = name.strip_prefix(PREFIX) else {
            continue;
        };
        let owner = rest.split('-').next().unwrap_or_default();
        if owner.parse::<u32>().is_ok() && !std::path::Path::new(&format!("/proc/{owner}")).exists()
        {
            remove(name);
        }
    }
}

/// Kills the processes inside namespace `name`, then deletes it.
fn remove(name: &str) {
    if let Ok(out) = Command::new("ip").args(["netns", "pids", name]).output() {
        for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
            if let Ok(pid) = pid.parse::<i32>() {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
        }
    }
    let _ = Command::new("ip").args(["netns", "del", name]).output();
}

fn ip(args: &[&str]) {
    run("ip", args);
}

/// `ip` inside namespace `name`. Through `nsenter`, not `ip -n`: that remounts `/` as a
/// slave first, which fails in a chroot (where `/` is no mount point), as on CI.
fn ipn(name: &str, args: &[&str]) {
    let net = format!("--net=/run/netns/{name}");
    let mut full = vec![net.as_str(), "--", "ip"];
    full.extend_from_slice(args);
    run("nsenter", &full);
}

fn run(program: &str, args: &[&str]) {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|err| panic!("{program} {}: {err}", args.join(" ")));
    assert!(
        out.status.success(),
        "{program} {} failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr).trim()
    );
}
