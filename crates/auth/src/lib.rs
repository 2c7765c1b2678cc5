//! # ferrokube-auth
//!
//! Cluster identity for ferrokube: the PKI on disk, the admin kubeconfig, the API server's TLS
//! config, request authentication, and authorization ([`rbac`]: upstream's RBAC decisions,
//! bootstrap policy, escalation checks and impersonation as pure logic over a [`rbac::Policy`]).
//!
//! - [`Pki::load_or_create`]`(data_dir, &`[`PkiOptions`]`)` creates or loads `<data_dir>/pki/`:
//!   `ca.crt/ca.key` (ECDSA P-256, 10 years, CN=ferrokube-ca), `server.crt/key` (SANs: localhost,
//!   127.0.0.1, ::1, host name, `kubernetes.default.svc...`, the server URL's host, `tls_sans`),
//!   `admin.crt/key` (CN=admin, O=system:masters), `service-account.key/pub` (token signing)
//!   and `join-token` (bootstrap token). Keys and the token are 0600. Leaf certificates are
//!   re-issued by the same CA when expiring, mis-signed, or (serving) missing a wanted SAN.
//! - [`Pki::write_kubeconfig`] / [`Pki::kubeconfig_yaml`] render the admin kubeconfig
//!   (cluster/context `ferrokube`, user `admin`, all data embedded); [`Kubeconfig`] is the
//!   document type.
//! - [`Pki::server_tls_config`] is the rustls serving config (optional client certificates,
//!   ALPN h2 + http/1.1); [`Pki::admin_client_tls_config`] serves in-process clients.
//! - [`Authenticator::authenticate`]`(peer_certs, authorization_header)` → [`UserInfo`] or
//!   [`AuthError`] (answer 401 with [`unauthorized_status`]). [`Authenticator::from_pki`] wires
//!   client certs and `<data_dir>/tokens.csv`
//!   ([`StaticTokens`]) and service-account JWTs; [`TokenAuthenticator`] is the hook for more.
//! - [`node_credentials`]: a node's key and CSR for TLS bootstrap, certificate validity and
//!   the jittered renewal deadline.
//! - [`bootstrap_token`] decides `<id>.<secret>` tokens against their `kube-system`
//!   `bootstrap-token-<id>` Secret (`system:bootstrap:<id>`, `system:bootstrappers`).
//! - [`ServiceAccountTokens`] signs TokenRequest tokens (ES256 with `service-account.key`) and
//!   authenticates them as `system:serviceaccount:<ns>:<name>`;
//!   [`Authenticator::service_account_tokens`] hands the issuer to the `token` subresource.

#![warn(missing_docs)]

mod authn;
pub mod bootstrap_token;
mod certs;
mod cluster_secrets;
mod error;
mod files;
mod insecure;
mod kubeconfig;
pub mod node_credentials;
pub mod oidc_discovery;
mod pki;
pub mod rbac;
mod service_account;
pub mod signer;
mod tls;
mod tokenfile;

pub use authn::{
    bearer_token, client_cert_user, unauthorized_status, Authenticator, TokenAuthenticator,
    UserInfo, ALL_AUTHENTICATED, ALL_UNAUTHENTICATED, ANONYMOUS_USER, CREDENTIAL_ID_KEY,
};
pub use certs::{IssuedCertificate, San, CA_COMMON_NAME, SERVING_COMMON_NAME};
pub use cluster_secrets::{installed_ca_fingerprint, ClusterSecrets, PEER_GROUP, PEER_USER_PREFIX};
pub use error::{AuthError, PkiError};
pub use insecure::{insecure_client_config, insecure_client_config_with};
pub use kubeconfig::{
    Cluster, Context, Kubeconfig, NamedCluster, NamedContext, NamedUser, UserCredentials,
    CLUSTER_NAME, KUBECONFIG_USER,
};
pub use pki::{seed_bootstrap_token, Pki, PkiOptions, ADMIN_GROUP, ADMIN_USER};
pub use service_account::{
    IssuedToken, ObjectRef, ServiceAccountTokens, TokenGrant, ALL_SERVICE_ACCOUNTS,
    SERVICE_ACCOUNT_ISSUER, SERVICE_ACCOUNT_USER_PREFIX,
};
pub use tls::{client_config, client_config_from_pem, server_config, ALPN_PROTOCOLS};
pub use tokenfile::StaticTokens;

/// Re-export so callers name certificate types from the same rustls version we use.
pub use rustls::pki_types;
