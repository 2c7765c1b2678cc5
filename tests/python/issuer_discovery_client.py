"""Service-account issuer discovery through the official `kubernetes` client, checked the way an
OIDC relying party (upstream's conformance pod, go-oidc) checks it: the discovery document names
the issuer the tokens carry and a key-set URL under it; the key set holds the key whose `kid`
the token header names; the token's ES256 signature verifies with that key (cryptography).
A service account may read both documents (RBAC's system:service-account-issuer-discovery);
an anonymous client gets 403 until that role is bound to system:unauthenticated, as upstream."""
import json
import sys

from kubernetes import client, config

from oidc_verify import verify

NS = sys.argv[1]
AUDIENCE = "oidc-discovery-test"


def fetch(api_client, path, content_type):
    """One discovery document through the client's own WellKnownApi / OpenidApi."""
    if path == "/.well-known/openid-configuration":
        call = client.WellKnownApi(api_client).get_service_account_issuer_open_id_configuration
    else:
        call = client.OpenidApi(api_client).get_service_account_issuer_open_id_keyset
    resp = call(_preload_content=False)
    assert resp.status == 200, (path, resp.status)
    got = resp.headers.get("Content-Type")
    assert got == content_type, (path, got)
    return json.loads(resp.data)


def token_for(core, audiences):
    req = client.AuthenticationV1TokenRequest(
        spec=client.V1TokenRequestSpec(audiences=audiences, expiration_seconds=3600)
    )
    return core.create_namespaced_service_account_token("oidc", NS, req).status.token


config.load_kube_config()
admin = client.ApiClient()
core = client.CoreV1Api(admin)
core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=NS)))
core.create_namespaced_service_account(NS, client.V1ServiceAccount(metadata=client.V1ObjectMeta(name="oidc")))

doc = fetch(admin, "/.well-known/openid-configuration", "application/json")
assert doc["jwks_uri"] == doc["issuer"] + "/openid/v1/jwks", doc
assert doc["response_types_supported"] == ["id_token"], doc
assert doc["subject_types_supported"] == ["public"], doc
keys = fetch(admin, "/openid/v1/jwks", "application/jwk-set+json")
verify(token_for(core, [AUDIENCE]), doc, keys, AUDIENCE)

# The service account itself (what the conformance pod authenticates as) may read both.
sa_config = client.Configuration.get_default_copy()
sa_config.cert_file = sa_config.key_file = None
sa_config.api_key = {"authorization": "Bearer " + token_for(core, None)}
sa_client = client.ApiClient(sa_config)
assert fetch(sa_client, "/.well-known/openid-configuration", "application/json") == doc
assert fetch(sa_client, "/openid/v1/jwks", "application/jwk-set+json") == keys
# ...but nothing more than that.
try:
    client.CoreV1Api(sa_client).list_namespaced_secret(NS)
    raise AssertionError("the service account listed secrets")
except client.exceptions.ApiException as e:
    assert e.status == 403, e.status

# Anonymous: RBAC refuses (403, not 401) until the role is bound to system:unauthenticated.
anon_config = client.Configuration.get_default_copy()
anon_config.cert_file = anon_config.key_file = None
anon_config.api_key = {}
anon_client = client.ApiClient(anon_config)
try:
    fetch(anon_client, "/.well-known/openid-configuration", "application/json")
    raise AssertionError("an anonymous client read the discovery document")
except client.exceptions.ApiException as e:
    assert e.status == 403, e.status
client.RbacAuthorizationV1Api(admin).create_cluster_role_binding(
    client.V1ClusterRoleBinding(
        metadata=client.V1ObjectMeta(name=NS + "-public-oidc"),
        role_ref=client.V1RoleRef(
            api_group="rbac.authorization.k8s.io",
            kind="ClusterRole",
            name="system:service-account-issuer-discovery",
        ),
        subjects=[client.RbacV1Subject(
            kind="Group", name="system:unauthenticated", api_group="rbac.authorization.k8s.io")],
    )
)
assert fetch(anon_client, "/.well-known/openid-configuration", "application/json") == doc
assert fetch(anon_client, "/openid/v1/jwks", "application/jwk-set+json") == keys
# ...and still nothing more.
try:
    client.CoreV1Api(anon_client).list_namespace()
    raise AssertionError("an anonymous client listed namespaces")
except client.exceptions.ApiException as e:
    assert e.status == 401, e.status

print("ok")
