//! TLS settings for the connections to etcd.

use std::fmt;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// How to talk TLS to etcd: the CA bundle that signed the members' certificates, and, for
/// clusters that require client certificates (`--client-cert-auth`), this host's certificate
/// and key. Given to [`ClientBuilder::tls`](crate::ClientBuilder::tls); every endpoint must then
/// be an `https://` URL.
///
/// Certificates are read as PEM. Nothing is checked here: PEM that does not parse is refused
/// by [`ClientBuilder::connect`](crate::ClientBuilder::connect), and a certificate that does
/// not verify fails the first call, naming the endpoint.
///
/// # Examples
///
/// ```no_run
/// # fn main() -> std::io::Result<()> {
/// use arbor_etcd::Tls;
///
/// let tls = Tls::ca_pem(std::fs::read("/etc/etcd/ca.pem")?)
///     .identity_pem(std::fs::read("/etc/etcd/host.pem")?, std::fs::read("/etc/etcd/host-key.pem")?)
///     .server_name("etcd.internal");
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Tls {
    pub(crate) ca: Vec<u8>,
    pub(crate) identity: Option<(Vec<u8>, Vec<u8>)>,
    pub(crate) server_name: Option<String>,
}

impl Tls {
    /// Trust the members whose certificates this CA bundle (PEM, one or more certificates)
    /// signed, and no one else: the system's roots are not used.
    pub fn ca_pem(ca: impl Into<Vec<u8>>) -> Tls {
        Tls {
            ca: ca.into(),
            identity: None,
            server_name: None,
        }
    }

    /// Present this certificate (PEM, with its chain) and private key (PEM) to the members:
    /// for clusters started with `--client-cert-auth`.
    pub fn identity_pem(mut self, cert: impl Into<Vec<u8>>, key: impl Into<Vec<u8>>) -> Tls {
        self.identity = Some((cert.into(), key.into()));
        self
    }

    /// Verify the members' certificates for this name rather than for the endpoint's host:
    /// for endpoints given by IP address, or through a proxy.
    pub fn server_name(mut self, name: impl Into<String>) -> Tls {
        self.server_name = Some(name.into());
        self
    }

    /// Checks that the PEM parses: the TLS stack under the etcd client would only say so on
    /// the first handshake, as a bare "transport error".
    pub(crate) fn check(&self) -> Result<(), String> {
        fn certificates(what: &str, pem: &[u8]) -> Result<(), String> {
            let mut count = 0;
            for cert in CertificateDer::pem_slice_iter(pem) {
                cert.map_err(|err| format!("{what}: {err}"))?;
                count += 1;
            }
            if count == 0 {
                return Err(format!("{what} holds no PEM certificate"));
            }
            Ok(())
        }
        certificates("the CA bundle", &self.ca)?;
        if let Some((cert, key)) = &self.identity {
            certificates("the client certificate", cert)?;
            PrivateKeyDer::from_pem_slice(key).map_err(|err| format!("the client key: {err}"))?;
        }
        Ok(())
    }

    pub(crate) fn options(&self) -> etcd_client::TlsOptions {
        let mut options = etcd_client::TlsOptions::new()
            .ca_certificate(etcd_client::Certificate::from_pem(&self.ca));
        if let Some((cert, key)) = &self.identity {
            options = options.identity(etcd_client::Identity::from_pem(cert, key));
        }
        if let Some(name) = &self.server_name {
            options = options.domain_name(name.clone());
        }
        options
    }
}

impl fmt::Debug for Tls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the key.
        f.debug_struct("Tls")
            .field("ca_bytes", &self.ca.len())
            .field("client_certificate", &self.identity.is_some())
            .field("server_name", &self.server_name)
            .finish()
    }
}
