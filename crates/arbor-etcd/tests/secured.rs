//! Against an etcd that requires TLS (its certificate made by the test's CA, client certificates
//! required where the test says so) and authentication (a root user, a role that may read and
//! write one namespace, a host user with that role): the work runs and fails over; every wrong
//! credential is a death of the `member` node with an error naming the endpoint and the cause,
//! and the work never runs.

mod common;

use std::time::Duration;

use arbor::NodeState;
use arbor_etcd::{Alphabetical, Client, Options, Tls};
use arbor_test_kit::pki::{Ca, Pair};
use arbor_test_kit::DEADLINE;
use common::etcd::Etcd;
use common::{start_host_on, Host, HostTracker};
use etcd_client::Permission;

/// The namespace the host user may use.
const NS: &str = "/test/secured";
/// A namespace nobody but root may use.
const OTHER_NS: &str = "/test/forbidden";
const ROOT_PASSWORD: &str = "root-secret";
const HOST_PASSWORD: &str = "host-secret";
const TTL: Duration = Duration::from_secs(2);

/// An etcd with TLS and authentication, and the CA of its certificates.
struct Secured {
    ca: Ca,
    etcd: Etcd,
}

impl Secured {
    /// Starts it and sets up the users: `root`; `host`, with role `hosts` (read and write under
    /// `NS/`); `stranger`, with no role. Requires client certificates if `client_certs`.
    async fn start(client_certs: bool) -> Secured {
        Self::start_with(client_certs, &[]).await
    }

    /// As [`start`](Self::start), with more arguments for etcd.
    async fn start_with(client_certs: bool, extra: &[&str]) -> Secured {
        let ca = Ca::new("arbor test CA");
        let etcd = Etcd::single_tls(&ca, client_certs, extra).await;
        let admin = ca.client("root", false);
        let mut tls = etcd_client::TlsOptions::new()
            .ca_certificate(etcd_client::Certificate::from_pem(&ca.pem));
        if client_certs {
            tls = tls.identity(etcd_client::Identity::from_pem(&admin.cert, &admin.key));
        }
        let options = etcd_client::ConnectOptions::new().with_tls(tls.clone());
        let mut raw = etcd_client::Client::connect([etcd.endpoint(0)], Some(options))
            .await
            .expect("an admin client");
        let setup = async {
            raw.user_add("root", ROOT_PASSWORD, None).await?;
            raw.user_grant_role("root", "root").await?;
            raw.role_add("hosts").await?;
            let prefix = Permission::read_write(format!("{NS}/")).with_prefix();
            raw.role_grant_permission("hosts", prefix).await?;
            raw.user_add("host", HOST_PASSWORD, None).await?;
            raw.user_grant_role("host", "hosts").await?;
            raw.user_add("stranger", "stranger-secret", None).await?;
            // etcd may drop this very connection as it turns authentication on, before the
            // answer: that it is on shows below.
            let _ = raw.auth_enable().await;
            Ok::<_, etcd_client::Error>(())
        };
        tokio::time::timeout(DEADLINE, setup)
            .await
            .expect("etcd answers")
            .expect("set up users and roles");
        let root = etcd_client::ConnectOptions::new()
            .with_tls(tls)
            .with_user("root", ROOT_PASSWORD);
        let mut raw = etcd_client::Client::connect([etcd.endpoint(0)], Some(root))
            .await
            .expect("root authenticates: authentication is on");
        tokio::time::timeout(DEADLINE, raw.user_list())
            .await
            .expect("etcd answers")
            .expect("root lists the users");
        Secured { ca, etcd }
    }

    fn endpoint(&self) -> String {
        self.etcd.endpoint(0)
    }

    /// A client with `tls`, as user `user` (with `password`) if given.
    async fn client(&self, tls: Tls, user: Option<(&str, &str)>) -> Client {
        let mut builder = Client::builder([self.endpoint()])
            .connect_timeout(Duration::from_millis(500))
            .request_timeout(Duration::from_secs(2))
            .tls(tls);
        if let Some((name, password)) = user {
            builder = builder.user(name, password);
        }
        builder.connect().await.expect("a client")
    }

    /// The host user's client: the right CA, a client certificate, the right password.
    async fn host_client(&self, name: &str) -> Client {
        let cert = self.ca.client(name, false);
        self.client(
            with_identity(Tls::ca_pem(self.ca.pem.clone()), &cert),
            Some(("host", HOST_PASSWORD)),
        )
        .await
    }
}

fn with_identity(tls: Tls, pair: &Pair) -> Tls {
    tls.identity_pem(pair.cert.clone(), pair.key.clone())
}

fn options() -> Options {
    Options::new().session_ttl(TTL)
}

/// Waits until the host's `member` node has died with an error containing every one of
/// `words`, and checks that the work never ran.
async fn dies_with(host: &Host, tracker: &HostTracker, words: &[&str]) -> String {
    let status = host
        .wait_status(&format!("member dies with {words:?}"), DEADLINE, |s| {
            s.get("root.job.member").is_some_and(|m| {
                m.last_error
                    .as_deref()
                    .is_some_and(|e| words.iter().all(|w| e.contains(w)))
            })
        })
        .await;
    let member = status.get("root.job.member").expect("a member node");
    assert_ne!(member.state, NodeState::Healthy, "{status}");
    assert!(
        tracker.now().starts.is_empty(),
        "the work ran: {:?}",
        tracker.now()
    );
    member.last_error.as_deref().unwrap_or_default().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_singleton_runs_and_fails_over_with_mutual_tls_and_a_password() {
    arbor_test_kit::init_tracing();
    let etcd = Secured::start(true).await;
    let tracker = HostTracker::new();
    let h1 = start_host_on(
        etcd.host_client("h1").await,
        NS,
        "h1",
        options(),
        tracker.inner("h1"),
    );
    tracker
        .wait("h1 runs the work", DEADLINE, |r| r.running.contains("h1"))
        .await;
    let h2 = start_host_on(
        etcd.host_client("h2").await,
        NS,
        "h2",
        options(),
        tracker.inner("h2"),
    );
    let mut h2 = h2;
    h2.wait_view("h2 joined and sees h1 placed", DEADLINE, |v| {
        v.hosts.len() == 2 && v.placement.hosts == ["h1"]
    })
    .await;
    h1.stop().await;
    let runs = tracker
        .wait("the work moves to h2", DEADLINE, |r| {
            r.running.contains("h2")
        })
        .await;
    assert_eq!(runs.max_at_once, 1, "{runs:?}");
    h2.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_auth_token_is_fetched_again_and_the_leader_still_writes_the_placement() {
    arbor_test_kit::init_tracing();
    // etcd's tokens live one second here (300 s by default), from their last use.
    let etcd = Secured::start_with(false, &["--auth-token-ttl", "1"]).await;
    let tracker = HostTracker::new();
    let password = Some(("host", HOST_PASSWORD));
    let options = options().strategy(Alphabetical(1));
    let tls = || Tls::ca_pem(etcd.ca.pem.clone());
    let h1 = start_host_on(
        etcd.client(tls(), password).await,
        NS,
        "h1",
        options.clone(),
        tracker.inner("h1"),
    );
    tracker
        .wait("h1 runs the work", DEADLINE, |r| r.running.contains("h1"))
        .await;
    // Let h1's token expire: nothing h1 does meanwhile (renewals on an open stream, a quiet
    // watch) uses it. Time is what is under test here, not a state to wait for.
    tokio::time::sleep(Duration::from_secs(3)).await;
    // a0 sorts first: h1, the leader, must write the placement with its expired token.
    let a0 = start_host_on(
        etcd.client(tls(), password).await,
        NS,
        "a0",
        options,
        tracker.inner("a0"),
    );
    let runs = tracker
        .wait("the work moves to a0", DEADLINE, |r| {
            r.running.contains("a0")
        })
        .await;
    assert_eq!(runs.max_at_once, 1, "{runs:?}");
    a0.stop().await;
    h1.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_ca_is_a_death_naming_the_endpoint_and_the_certificate() {
    arbor_test_kit::init_tracing();
    let etcd = Secured::start(false).await;
    let stranger_ca = Ca::new("some other CA");
    let client = etcd
        .client(
            Tls::ca_pem(stranger_ca.pem.clone()),
            Some(("host", HOST_PASSWORD)),
        )
        .await;
    let tracker = HostTracker::new();
    let host = start_host_on(client, NS, "h1", options(), tracker.inner("h1"));
    let error = dies_with(&host, &tracker, &[&etcd.endpoint()]).await;
    eprintln!("a wrong CA: {error}");
    assert!(
        error.to_lowercase().contains("certificate"),
        "the error does not name the certificate: {error}"
    );
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_or_expired_client_certificate_is_refused() {
    arbor_test_kit::init_tracing();
    let etcd = Secured::start(true).await;
    let expired = etcd.ca.client("h1", true);
    let cases = [
        ("no client certificate", Tls::ca_pem(etcd.ca.pem.clone())),
        (
            "an expired client certificate",
            with_identity(Tls::ca_pem(etcd.ca.pem.clone()), &expired),
        ),
    ];
    for (case, tls) in cases {
        let client = etcd.client(tls, Some(("host", HOST_PASSWORD))).await;
        let tracker = HostTracker::new();
        let host = start_host_on(client, NS, "h1", options(), tracker.inner("h1"));
        let error = dies_with(
            &host,
            &tracker,
            &[&etcd.endpoint(), "refused or closed the TLS connection"],
        )
        .await;
        eprintln!("{case}: {error}");
        host.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_is_a_death_that_says_so() {
    arbor_test_kit::init_tracing();
    let etcd = Secured::start(false).await;
    let client = etcd
        .client(
            Tls::ca_pem(etcd.ca.pem.clone()),
            Some(("host", "not-the-password")),
        )
        .await;
    let tracker = HostTracker::new();
    let host = start_host_on(client, NS, "h1", options(), tracker.inner("h1"));
    dies_with(
        &host,
        &tracker,
        &[&etcd.endpoint(), "authentication failed"],
    )
    .await;
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_without_permission_on_the_namespace_is_refused() {
    arbor_test_kit::init_tracing();
    let etcd = Secured::start(false).await;
    let cases = [
        // A user with no role at all, in the hosts' namespace.
        ("stranger", "stranger-secret", NS),
        // The host user, in a namespace its role does not cover.
        ("host", HOST_PASSWORD, OTHER_NS),
    ];
    for (user, password, ns) in cases {
        let client = etcd
            .client(Tls::ca_pem(etcd.ca.pem.clone()), Some((user, password)))
            .await;
        let tracker = HostTracker::new();
        let host = start_host_on(client, ns, "h1", options(), tracker.inner("h1"));
        dies_with(&host, &tracker, &[&etcd.endpoint(), "permission denied"]).await;
        host.stop().await;
    }
}

#[tokio::test]
async fn tls_and_endpoint_schemes_must_agree() {
    let ca = Ca::new("arbor test CA");
    let cases = [
        ("http://127.0.0.1:1", Some(Tls::ca_pem(ca.pem.clone()))),
        ("https://127.0.0.1:1", None),
    ];
    for (endpoint, tls) in cases {
        let mut builder = Client::builder([endpoint]);
        if let Some(tls) = tls {
            builder = builder.tls(tls);
        }
        let err = builder.connect().await.expect_err(endpoint);
        assert!(
            matches!(&err, arbor_etcd::Error::InvalidOption { option: "tls", .. }),
            "{endpoint}: {err:?}"
        );
    }
    let err = Client::builder(["https://127.0.0.1:1"])
        .tls(Tls::ca_pem("not a certificate"))
        .connect()
        .await
        .expect_err("a CA that does not parse");
    assert!(
        matches!(&err, arbor_etcd::Error::InvalidOption { option: "tls", .. }),
        "{err:?}"
    );
}
