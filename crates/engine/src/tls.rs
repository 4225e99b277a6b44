//! One TLS configuration for every HTTPS client of the process (Tableau, dbt
//! Cloud, and the AWS SDK through the function's `aws_http`): rustls with the ring
//! provider and the system's root certificates, read once, on the first
//! handshake rather than at init. Each reqwest client built the usual way
//! reads the whole certificate directory itself (rustls-platform-verifier),
//! and a cold start built three of them before its first event.

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// Under the 60 s after which load balancers commonly drop idle connections.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(55);

/// Installs ring as the process's rustls crypto provider (reqwest is built with
/// `rustls-no-provider`); a no-op when one is installed already.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// The process's TLS configuration: built once, each caller gets a copy that
/// shares the verifier (and so the roots).
pub fn client_config() -> ClientConfig {
    static CONFIG: OnceLock<ClientConfig> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let verifier = Arc::new(SystemRoots {
                provider: Arc::clone(&provider),
                verifier: OnceLock::new(),
            });
            let mut config = ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .expect("ring supports TLS 1.2 and 1.3")
                .dangerous()
                .with_custom_certificate_verifier(verifier)
                .with_no_client_auth();
            // reqwest takes a preconfigured configuration as it is: offer both.
            config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
            config
        })
        .clone()
}

/// A reqwest client on [`client_config`]: a connect timeout and our user agent.
/// Cheap (no certificate is read); still, one per tokio runtime and shared by
/// clones, since its connection pool belongs to the runtime it first ran on.
pub fn http() -> Result<reqwest::Client, String> {
    install_crypto_provider();
    reqwest::Client::builder()
        .tls_backend_preconfigured(client_config())
        .connect_timeout(CONNECT_TIMEOUT)
        .pool_idle_timeout(POOL_IDLE_TIMEOUT)
        .user_agent(concat!("dbt-tableau-refresh/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| format!("cannot build the HTTP client: {}", crate::error_chain(&e)))
}

/// WebPKI verification against the system's roots, read on the first
/// certificate to verify. Signatures need no roots: checked at once.
#[derive(Debug)]
struct SystemRoots {
    provider: Arc<CryptoProvider>,
    verifier: OnceLock<Result<Arc<WebPkiServerVerifier>, rustls::Error>>,
}

impl SystemRoots {
    fn verifier(&self) -> Result<&Arc<WebPkiServerVerifier>, rustls::Error> {
        self.verifier
            .get_or_init(|| {
                // SSL_CERT_FILE and SSL_CERT_DIR are honoured, like OpenSSL.
                let loaded = rustls_native_certs::load_native_certs();
                for error in &loaded.errors {
                    tracing::warn!(%error, "a system root certificate could not be read");
                }
                let mut roots = RootCertStore::empty();
                let (added, ignored) = roots.add_parsable_certificates(loaded.certs);
                tracing::debug!(added, ignored, "system root certificates read");
                WebPkiServerVerifier::builder_with_provider(
                    Arc::new(roots),
                    Arc::clone(&self.provider),
                )
                .build()
                .map_err(|e| {
                    rustls::Error::General(format!("no usable system root certificates: {e}"))
                })
            })
            .as_ref()
            .map_err(Clone::clone)
    }
}

impl ServerCertVerifier for SystemRoots {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.verifier()?.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        )
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_configuration_whose_roots_wait_for_the_first_handshake() {
        let (a, b) = (client_config(), client_config());
        assert!(Arc::ptr_eq(
            &a.crypto_provider().clone(),
            b.crypto_provider()
        ));
        assert_eq!(a.alpn_protocols, [b"h2".to_vec(), b"http/1.1".to_vec()]);
        assert!(http().is_ok());
    }
}
