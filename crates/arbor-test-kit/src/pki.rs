//! Certificates for TLS tests, made fresh by each test with `rcgen`: a CA, server certificates
//! for 127.0.0.1 and `localhost`, client certificates (valid or expired). A second [`Ca`] is a
//! CA nobody trusts.

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};
use tempfile::TempDir;

/// A certificate and its key, as PEM.
#[derive(Debug, Clone)]
pub struct Pair {
    /// The certificate.
    pub cert: String,
    /// Its private key (PKCS#8).
    pub key: String,
}

/// A certificate authority, with a directory for the files servers read.
pub struct Ca {
    /// The CA's own certificate: what clients and servers are told to trust.
    pub pem: String,
    issuer: Issuer<'static, KeyPair>,
    dir: TempDir,
}

impl Ca {
    /// A new CA named `name`.
    pub fn new(name: &str) -> Ca {
        let mut params = CertificateParams::new(Vec::new()).expect("no names");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let key = KeyPair::generate().expect("a key");
        let cert = params.self_signed(&key).expect("a CA certificate");
        Ca {
            pem: cert.pem(),
            issuer: Issuer::new(params, key),
            dir: tempfile::Builder::new()
                .prefix("arbor-etcd-pki")
                .tempdir()
                .expect("a temporary directory"),
        }
    }

    /// A server certificate for 127.0.0.1 and `localhost`.
    pub fn server(&self) -> Pair {
        let mut params = CertificateParams::new(vec!["localhost".to_owned()]).expect("a name");
        params
            .subject_alt_names
            .push(SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)));
        params.distinguished_name.push(DnType::CommonName, "etcd");
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            // etcd's members also dial one another with it.
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        self.sign(params)
    }

    /// A client certificate for `name`; one that expired in 2001 if `expired`.
    pub fn client(&self, name: &str, expired: bool) -> Pair {
        let mut params = CertificateParams::new(Vec::new()).expect("no names");
        params.distinguished_name.push(DnType::CommonName, name);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        if expired {
            params.not_before = rcgen::date_time_ymd(2000, 1, 1);
            params.not_after = rcgen::date_time_ymd(2001, 1, 1);
        }
        self.sign(params)
    }

    fn sign(&self, mut params: CertificateParams) -> Pair {
        params.use_authority_key_identifier_extension = true;
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        let key = KeyPair::generate().expect("a key");
        let cert = params.signed_by(&key, &self.issuer).expect("a certificate");
        Pair {
            cert: cert.pem(),
            key: key.serialize_pem(),
        }
    }

    /// Writes `text` to file `name` in this CA's directory; returns its path.
    pub fn file(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, text).expect("write a certificate file");
        path
    }
}

impl std::fmt::Debug for Ca {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ca")
            .field("dir", &self.dir.path())
            .finish_non_exhaustive()
    }
}
