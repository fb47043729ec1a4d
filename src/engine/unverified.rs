//! A TLS engine whose certificate is not checked: what a docker context with `SkipTLSVerify`
//! asks for (the docker CLI's `--tlsverify=false` with TLS). The connection is still encrypted
//! and still presents the context's client certificate; only the engine's identity is taken on
//! trust, which the header says on every frame (`TLS NOT VERIFIED`).

use bollard::{BollardRequest, Docker};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use std::path::Path;
use std::sync::Arc;

/// Accepts any certificate; signatures are still checked (the handshake stays sound).
#[derive(Debug)]
struct AnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// Connect to `addr` (`tcp://host:port` or `https://...`) with TLS, presenting `cert.pem` and
/// `key.pem` from `tls` when there, without verifying the engine's certificate.
pub fn connect(addr: &str, tls: Option<&Path>, timeout_secs: u64) -> Result<Docker, String> {
    let provider = crate::http::tls_provider();
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS set-up: {e}"))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)));
    let pair = tls.map(|d| (d.join("cert.pem"), d.join("key.pem"))).filter(|(c, k)| c.exists() && k.exists());
    let config = match pair {
        Some((cert, key)) => {
            let certs = CertificateDer::pem_file_iter(&cert)
                .and_then(|i| i.collect::<Result<Vec<_>, _>>())
                .map_err(|e| format!("{}: {e}", cert.display()))?;
            let key = PrivateKeyDer::from_pem_file(&key).map_err(|e| format!("{}: {e}", key.display()))?;
            builder.with_client_auth_cert(certs, key).map_err(|e| format!("client certificate: {e}"))?
        }
        None => builder.with_no_client_auth(),
    };
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    let https: HttpsConnector<HttpConnector> = HttpsConnector::from((http, config));
    let client = Client::builder(TokioExecutor::new()).build(https);
    let host = addr.split_once("://").map_or(addr, |(_, h)| h);
    Docker::connect_with_custom_transport(
        move |req: BollardRequest| {
            let client = client.clone();
            async move { client.request(req).await.map_err(bollard::errors::Error::from) }
        },
        Some(format!("https://{host}")),
        timeout_secs,
        bollard::API_DEFAULT_VERSION,
    )
    .map_err(|e| e.to_string())
}
