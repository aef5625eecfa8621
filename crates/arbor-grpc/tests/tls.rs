//! Serving over TLS: the router is built with tonic's own `Server::tls_config`, and the
//! adapter's listener hands tonic the raw connections, which tonic wraps in TLS; the health
//! service shares the port and the TLS. Certificates are made by the test.

mod common;

use std::net::SocketAddr;

use arbor_grpc::{GrpcServer, Supervised};
use arbor_test_kit::pki::Ca;
use arbor_test_kit::{loopback, DEADLINE};
use common::*;
use tokio::time::timeout;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Identity, Server, ServerTlsConfig};
use tonic_health::pb::health_check_response::ServingStatus;

/// A server with the test service on a loopback port, its certificate signed by `ca`; it
/// requires client certificates signed by `clients` if given.
fn tls_server(ca: &Ca, clients: Option<&Ca>) -> (Supervised<GrpcServer>, SlowControl) {
    let pair = ca.server();
    let mut tls = ServerTlsConfig::new().identity(Identity::from_pem(pair.cert, pair.key));
    if let Some(clients) = clients {
        tls = tls.client_ca_root(Certificate::from_pem(&clients.pem));
    }
    let (slow, control) = slow_service();
    let router = Server::builder()
        .tls_config(tls)
        .expect("a valid TLS configuration")
        .add_service(slow);
    let server = GrpcServer::new(router).health_for(SLOW).listen(loopback());
    (server, control)
}

/// Connects to `addr` over TLS with `tls`.
async fn dial_tls(
    addr: SocketAddr,
    tls: ClientTlsConfig,
) -> Result<Channel, tonic::transport::Error> {
    let endpoint = Channel::from_shared(format!("https://{addr}"))
        .expect("a valid URI")
        .tls_config(tls)?;
    timeout(DEADLINE, endpoint.connect())
        .await
        .expect("connect timed out")
}

/// Connects to `addr` without TLS.
async fn dial_plain(addr: SocketAddr) -> Result<Channel, tonic::transport::Error> {
    let endpoint = Channel::from_shared(format!("http://{addr}")).expect("a valid URI");
    timeout(DEADLINE, endpoint.connect())
        .await
        .expect("connect timed out")
}

/// A health check on a channel that may not work: the status, or the error's text.
async fn try_check(channel: Channel) -> Result<ServingStatus, String> {
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel);
    let request = tonic_health::pb::HealthCheckRequest {
        service: String::new(),
    };
    let reply = timeout(DEADLINE, health.check(request))
        .await
        .expect("no health answer before the deadline");
    reply
        .map(|r| r.into_inner().status())
        .map_err(|status| format!("{status:?}"))
}

fn trusting(ca: &Ca) -> ClientTlsConfig {
    ClientTlsConfig::new().ca_certificate(Certificate::from_pem(&ca.pem))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_with_the_ca_reaches_the_service_and_the_health_check_over_tls() {
    let ca = Ca::new("arbor test CA");
    let (server, control) = tls_server(&ca, None);
    let sup = supervise(server.clone());
    let mut events = sup.events();
    let addr = serving(&mut events, &server).await;

    let channel = dial_tls(addr, trusting(&ca))
        .await
        .expect("a TLS connection");
    assert_eq!(check(channel.clone(), "").await, Ok(ServingStatus::Serving));
    assert_eq!(
        check(channel.clone(), SLOW).await,
        Ok(ServingStatus::Serving)
    );
    control.release();
    assert_eq!(hold(channel).await, Ok(()), "the service answers over TLS");
    arbor_test_kit::shutdown(&sup).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_without_the_ca_fails_the_handshake_and_a_plaintext_client_is_refused() {
    let ca = Ca::new("arbor test CA");
    let (server, _control) = tls_server(&ca, None);
    let sup = supervise(server.clone());
    let mut events = sup.events();
    let addr = serving(&mut events, &server).await;

    let stranger = Ca::new("some other CA");
    let err = dial_tls(addr, trusting(&stranger))
        .await
        .expect_err("a server certificate of a CA the client does not trust");
    let text = format!("{err:?}");
    assert!(text.contains("UnknownIssuer"), "{text}");

    // A plaintext HTTP/2 client: the server reads its preface as a TLS record and hangs up.
    match dial_plain(addr).await {
        Err(err) => eprintln!("plaintext connect refused: {err:?}"),
        Ok(channel) => {
            let refused = try_check(channel).await.expect_err("plaintext is refused");
            eprintln!("plaintext call refused: {refused}");
        }
    }
    // The server is unharmed.
    let channel = dial_tls(addr, trusting(&ca))
        .await
        .expect("a TLS connection");
    assert_eq!(check(channel, "").await, Ok(ServingStatus::Serving));
    arbor_test_kit::shutdown(&sup).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls_admits_a_client_certificate_of_the_clients_ca_only() {
    let ca = Ca::new("arbor test CA");
    let clients = Ca::new("arbor clients CA");
    let (server, _control) = tls_server(&ca, Some(&clients));
    let sup = supervise(server.clone());
    let mut events = sup.events();
    let addr = serving(&mut events, &server).await;

    let pair = clients.client("client-a", false);
    let with_cert = trusting(&ca).identity(Identity::from_pem(pair.cert, pair.key));
    let channel = dial_tls(addr, with_cert)
        .await
        .expect("a mutual TLS connection");
    assert_eq!(try_check(channel).await, Ok(ServingStatus::Serving));

    let foreign = ca.client("client-b", false); // signed by the server's CA, not the clients'
    let cases = [
        (
            "no client certificate",
            trusting(&ca),
            "CertificateRequired",
        ),
        (
            "a client certificate of another CA",
            trusting(&ca).identity(Identity::from_pem(foreign.cert, foreign.key)),
            "UnknownCA",
        ),
    ];
    for (case, tls, alert) in cases {
        // TLS 1.3: the handshake may complete on the client's side before the server refuses.
        let refused = match dial_tls(addr, tls).await {
            Err(err) => format!("{err:?}"),
            Ok(channel) => try_check(channel).await.expect_err(case),
        };
        // The server sends its alert and closes; the client reads the alert, or, when the close
        // wins the race, finds the connection gone (hyper's "connection was not ready" when it
        // is gone before the request could be sent). Either way the call failed at the TLS layer.
        let closed = [
            "broken pipe",
            "connection closed",
            "reset by peer",
            "connection was not ready",
        ]
        .iter()
        .any(|gone| refused.contains(gone));
        assert!(refused.contains(alert) || closed, "{case}: {refused}");
    }
    arbor_test_kit::shutdown(&sup).await;
}
