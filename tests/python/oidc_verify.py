"""Verifies a service-account token the way an OIDC relying party does, from the issuer's
discovery document and key set alone: the issuer and audience claims, the header's `alg`
among the advertised ones, the key named by `kid`, and the ES256 signature (cryptography)."""
import base64
import json

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature


def b64url(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def verify(token, doc, keys, audience):
    header_b64, payload_b64, sig_b64 = token.strip().split(".")
    header = json.loads(b64url(header_b64))
    claims = json.loads(b64url(payload_b64))
    assert claims["iss"] == doc["issuer"], (claims, doc)
    assert audience in claims["aud"], claims
    assert header["alg"] in doc["id_token_signing_alg_values_supported"], (header, doc)
    [jwk] = [k for k in keys["keys"] if k["kid"] == header["kid"]]
    assert (jwk["kty"], jwk["crv"], jwk["alg"], jwk["use"]) == ("EC", "P-256", "ES256", "sig"), jwk
    key = ec.EllipticCurvePublicNumbers(
        int.from_bytes(b64url(jwk["x"]), "big"),
        int.from_bytes(b64url(jwk["y"]), "big"),
        ec.SECP256R1(),
    ).public_key()
    raw = b64url(sig_b64)
    signature = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    key.verify(signature, f"{header_b64}.{payload_b64}".encode(), ec.ECDSA(hashes.SHA256()))
    forged = payload_b64[:-2] + ("AA" if payload_b64[-2:] != "AA" else "BB")
    try:
        key.verify(signature, f"{header_b64}.{forged}".encode(), ec.ECDSA(hashes.SHA256()))
        raise AssertionError("a forged payload verified")
    except InvalidSignature:
        pass

