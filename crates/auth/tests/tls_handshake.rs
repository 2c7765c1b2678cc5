//! In-process rustls handshakes against the serving config, with and without the admin client
//! certificate, feeding the resulting peer certificates to the authenticator.

use std::sync::Arc;

use ferrokube_auth::pki_types::ServerName;
use ferrokube_auth::{AuthError, Authenticator, Pki, PkiOptions, ADMIN_GROUP, ALL_AUTHENTICATED};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::{TlsAcceptor, TlsConnector};

fn new_pki(dir: &std::path::Path) -> Pki {
    let options = PkiOptions {
        tls_sans: vec![],
        server_url: "https://127.0.0.1:6443".into(),
    };
    Pki::load_or_create(dir, &options).expect("pki")
}

/// Handshakes over a duplex pipe and returns (server-side peer certs, negotiated ALPN).
async fn handshake(
    server: Arc<rustls::ServerConfig>,
    client: Arc<rustls::ClientConfig>,
    server_name: &str,
) -> Result<
    (
        Option<Vec<ferrokube_auth::pki_types::CertificateDer<'static>>>,
        Option<Vec<u8>>,
    ),
    String,
> {
    let (client_io, server_io) = tokio::io::duplex(64 * 1024);
    let name = ServerName::try_from(server_name.to_string()).map_err(|e| e.to_string())?;
    let accept = tokio::spawn(async move {
        let mut tls = TlsAcceptor::from(server)
            .accept(server_io)
            .await
            .map_err(|e| e.to_string())?;
        // Drive one round trip so TLS 1.3 client-auth failures surface on this side too.
        let mut byte = [0u8; 1];
        tls.read_exact(&mut byte).await.map_err(|e| e.to_string())?;
        tls.write_all(b"!").await.map_err(|e| e.to_string())?;
        tls.flush().await.map_err(|e| e.to_string())?;
        let conn = tls.get_ref().1;
        Ok::<_, String>((
            conn.peer_certificates().map(<[_]>::to_vec),
            conn.alpn_protocol().map(<[_]>::to_vec),
        ))
    });
    let mut tls = TlsConnector::from(client)
        .connect(name, client_io)
        .await
        .map_err(|e| e.to_string())?;
    tls.write_all(b"?").await.map_err(|e| e.to_string())?;
    tls.flush().await.map_err(|e| e.to_string())?;
    let mut byte = [0u8; 1];
    let read = tls.read_exact(&mut byte).await.map_err(|e| e.to_string());
    let server_side = accept.await.map_err(|e| e.to_string())??;
    read?;
    Ok(server_side)
}

#[tokio::test]
async fn admin_client_certificate_authenticates_as_admin() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pki = new_pki(dir.path());
    let client = pki.admin_client_tls_config().expect("client");
    let (peer, alpn) = handshake(pki.server_tls_config(), client, "localhost")
        .await
        .expect("handshake");
    assert_eq!(alpn.as_deref(), Some(&b"h2"[..]));
    let peer = peer.expect("client certificate presented");
    let user = Authenticator::new()
        .authenticate(Some(&peer), None)
        .expect("authenticated");
    assert_eq!(user.name, "admin");
    assert_eq!(user.groups, vec![ADMIN_GROUP, ALL_AUTHENTICATED]);
}

#[tokio::test]
async fn no_client_certificate_is_allowed_and_falls_back_to_tokens() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pki = new_pki(dir.path());
    let client = pki.anonymous_client_tls_config().expect("client");
    let (peer, _) = handshake(pki.server_tls_config(), client, "127.0.0.1")
        .await
        .expect("handshake");
    assert!(peer.is_none());
    let auth = Authenticator::from_pki(&pki).expect("auth");
    assert_eq!(
        auth.authenticate(peer.as_deref(), None),
        Err(AuthError::NoCredentials)
    );
    let header = format!("Bearer {}", pki.bootstrap_token());
    let tokens = ferrokube_auth::StaticTokens::parse("tok,alice,uid-a\n").expect("tokens");
    let auth = auth.with_token_authenticator(std::sync::Arc::new(tokens));
    let alice = auth
        .authenticate(peer.as_deref(), Some("Bearer tok"))
        .expect("alice");
    assert_eq!(alice.name, "alice");
    // The join token is checked against its Secret by the server, not by this chain.
    assert!(auth.authenticate(peer.as_deref(), Some(&header)).is_err());
}

#[tokio::test]
async fn foreign_client_certificate_and_unknown_server_name_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let other_dir = tempfile::tempdir().expect("tempdir");
    let pki = new_pki(dir.path());
    let other = new_pki(other_dir.path());

    // A client certificate from another cluster's CA fails the handshake.
    let foreign = ferrokube_auth::client_config(pki.ca_cert_der(), Some(other.admin_credentials()))
        .expect("client");
    assert!(handshake(pki.server_tls_config(), foreign, "localhost")
        .await
        .is_err());

    // A name not in the serving certificate fails client-side verification.
    let client = pki.anonymous_client_tls_config().expect("client");
    assert!(
        handshake(pki.server_tls_config(), client, "not-a-san.example")
            .await
            .is_err()
    );
}
