//! Bad input gets a clear error at once; an unreachable cluster is a death, not a hang.

mod common;

use std::time::Duration;

use arbor::NodeState;
use arbor_etcd::{Alphabetical, Client, Error, MaxCount, Options, Scheduled};
use arbor_test_kit::{entered, expect, free_port, listener, shutdown, PortReservation};
use common::{supervise_job, HostTracker};

/// The bound of the tests below that a dead endpoint is "not a hang": far above the client's
/// timeouts (200 ms to connect, 500 ms a request), and tighter than the kit's generic deadline.
const NO_HANG: Duration = Duration::from_secs(30);

/// A client of a port where nobody listens, reserved while the client is used.
async fn unused_client() -> (Client, PortReservation) {
    // Connecting does no I/O, so nothing needs to listen here for the checks below.
    let port = free_port();
    let client = Client::connect([format!("http://{}", port.addr())])
        .await
        .expect("a well-formed endpoint");
    (client, port)
}

fn schedule(client: Client, ns: &str, host: &str, options: Options) -> Result<Scheduled, Error> {
    Scheduled::new(client, ns, host, options, HostTracker::new().inner(host))
}

#[tokio::test]
async fn malformed_namespaces_are_refused_with_the_rule_they_break() {
    let (client, _port) = unused_client().await;
    for (ns, says) in [
        ("", "must not be empty"),
        ("jobs", "must start with '/'"),
        ("/jobs/", "must not end with '/'"),
        ("/", "must not end with '/'"),
        ("/a//b", "empty segment"),
        ("/a b", "may only hold"),
    ] {
        let err = schedule(client.clone(), ns, "h1", Options::new()).expect_err(ns);
        assert!(
            matches!(err, Error::InvalidNamespace { .. }),
            "{ns:?}: {err:?}"
        );
        let msg = err.to_string();
        assert!(
            msg.contains(says) && msg.contains(&format!("{ns:?}")),
            "{ns:?}: {msg}"
        );
    }
}

#[tokio::test]
async fn malformed_host_names_are_refused_with_the_rule_they_break() {
    let (client, _port) = unused_client().await;
    let long = "h".repeat(254);
    for (host, says) in [
        ("", "must not be empty"),
        ("a,b", "may only hold"),
        ("a/b", "may only hold"),
        ("a b", "may only hold"),
        (long.as_str(), "at most 253 bytes"),
    ] {
        let err = schedule(client.clone(), "/ns", host, Options::new()).expect_err(host);
        assert!(
            matches!(err, Error::InvalidHost { .. }),
            "{host:?}: {err:?}"
        );
        assert!(err.to_string().contains(says), "{host:?}: {err}");
    }
}

#[tokio::test]
async fn strategies_for_zero_hosts_are_refused() {
    let (client, _port) = unused_client().await;
    let err = schedule(
        client.clone(),
        "/ns",
        "h1",
        Options::new().strategy(MaxCount(0)),
    )
    .expect_err("MaxCount(0)");
    assert!(matches!(err, Error::InvalidStrategy { .. }), "{err:?}");
    assert!(err.to_string().contains("MaxCount(0)"), "{err}");
    let err = schedule(
        client,
        "/ns",
        "h1",
        Options::new().strategy(Alphabetical(0)),
    )
    .expect_err("Alphabetical(0)");
    assert!(matches!(err, Error::InvalidStrategy { .. }), "{err:?}");
}

#[tokio::test]
async fn zero_or_fractional_ttls_late_fencing_and_slow_renewals_are_refused() {
    let (client, _port) = unused_client().await;
    let cases = [
        (Options::new().session_ttl(Duration::ZERO), "session_ttl"),
        (
            Options::new().session_ttl(Duration::from_millis(1500)),
            "session_ttl",
        ),
        (
            Options::new()
                .session_ttl(Duration::from_secs(2))
                .fence_after(Duration::from_secs(2)),
            "fence_after",
        ),
        (Options::new().fence_after(Duration::ZERO), "fence_after"),
        (Options::new().renew_every(Duration::ZERO), "renew_every"),
        // Half the default fencing delay (5 s of a 10 s TTL): no room for a renewal to go
        // unanswered and another to be confirmed in time.
        (
            Options::new().renew_every(Duration::from_millis(2500)),
            "renew_every",
        ),
        (
            Options::new()
                .fence_after(Duration::from_secs(2))
                .renew_every(Duration::from_secs(1)),
            "renew_every",
        ),
    ];
    for (options, option) in cases {
        let err = schedule(client.clone(), "/ns", "h1", options).expect_err(option);
        match &err {
            Error::InvalidOption { option: got, .. } => assert_eq!(*got, option, "{err}"),
            other => panic!("{option}: expected InvalidOption, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn bad_endpoints_are_refused_when_connecting() {
    let err = Client::connect(Vec::<String>::new())
        .await
        .expect_err("no endpoints");
    assert!(matches!(err, Error::NoEndpoints), "{err:?}");
    let err = Client::connect(["http://bad host:2379"])
        .await
        .expect_err("space in host");
    assert!(matches!(err, Error::InvalidEndpoint { .. }), "{err:?}");
    assert!(err.to_string().contains("bad host"), "{err}");
    let err = Client::builder(["http://127.0.0.1:2379"])
        .request_timeout(Duration::ZERO)
        .connect()
        .await
        .expect_err("zero timeout");
    assert!(
        matches!(
            err,
            Error::InvalidOption {
                option: "request_timeout",
                ..
            }
        ),
        "{err:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endpoint_refusing_connections_at_start_is_a_death_not_a_hang() {
    arbor_test_kit::init_tracing();
    // Nothing listens on this port while it is reserved: connections are refused.
    let port = free_port();
    let endpoint = format!("http://{}", port.addr());
    let error = member_death(endpoint).await;
    assert!(error.contains("grant lease"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endpoint_that_never_answers_at_start_is_a_death_by_timeout() {
    arbor_test_kit::init_tracing();
    // This listener accepts TCP connections (the kernel does, into its backlog) but never
    // speaks: without a timeout the first call would wait for ever.
    let silent = listener();
    let endpoint = format!("http://{}", silent.local_addr().expect("address"));
    let error = member_death(endpoint).await;
    assert!(
        error.contains("grant lease") && error.contains("timed out"),
        "{error}"
    );
    drop(silent);
}

/// Runs a job against `endpoint` and returns the error of the member's first death. Checks
/// that nothing else got going, and that the supervisor shuts down promptly.
async fn member_death(endpoint: String) -> String {
    let client = Client::builder([endpoint])
        .connect_timeout(Duration::from_millis(200))
        .request_timeout(Duration::from_millis(500))
        .connect()
        .await
        .expect("client");
    let job = schedule(client, "/test/unreachable", "h1", Options::new()).expect("valid job");
    let sup = supervise_job(job);
    let mut events = sup.events();
    let member_dead = expect(&mut events, entered("root.job.member", NodeState::Dead));
    let died = tokio::time::timeout(NO_HANG, member_dead)
        .await
        .expect("the member died instead of hanging");
    let error = died.error.expect("a death carries its error").to_string();

    // Not joined, so not Healthy; and the work never started.
    let status = sup.status().await;
    assert_eq!(
        status.get("root.job").expect("job node").state,
        NodeState::New
    );
    assert_eq!(
        status.get("root.job.placed").expect("placed node").state,
        NodeState::New
    );
    assert!(status.get("root.job.placed.work").is_none());

    tokio::time::timeout(NO_HANG, shutdown(&sup))
        .await
        .expect("shutdown does not hang");
    error
}
