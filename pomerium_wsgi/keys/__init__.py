"""Pomerium's signing keys: parse, fetch, share, refresh (this package re-exports them).

* :mod:`.keyset`: key objects and parsing (JWKS, PEM), static keys;
* :mod:`.fetch`: one JWKS document over HTTP, bounded in time and size;
* :mod:`.stores`: the cache shared by workers, read as text, never unpickled;
* :mod:`.fleet`: what workers write to it (the JWKS entry, "refreshing" markers);
* :mod:`.refresh`: :class:`RemoteJWKS`, the policy of when to fetch and what to keep.

Keys come only from configuration: a static JWKS / PEM, or the JWKS URL the operator
configured. Nothing in a token (``jku``, ``x5u``, ``jwk``, ``iss``) ever decides where
keys are fetched from.
"""

from ..errors import FetchRequired
from .fetch import HTTPFetcher, Response, check_jwks_url, is_loopback
from .keyset import (
    MAX_KEYS,
    MAX_KID_LENGTH,
    MAX_RSA_EXPONENT,
    MIN_RSA_BITS,
    MIN_RSA_EXPONENT,
    SUPPORTED_ALGORITHMS,
    JWKSError,
    KeySource,
    StaticKeys,
    VerificationKey,
    log,
    parse_jwks,
    parse_pem,
    pomerium_kid,
)
from .nofetch import no_fetch
from .refresh import Fetcher, RemoteJWKS
from .stores import SUPPORTED_BACKENDS, SharedStore, store_for

__all__ = [
    "MAX_KEYS",
    "MAX_KID_LENGTH",
    "MAX_RSA_EXPONENT",
    "MIN_RSA_BITS",
    "MIN_RSA_EXPONENT",
    "SUPPORTED_ALGORITHMS",
    "SUPPORTED_BACKENDS",
    "FetchRequired",
    "Fetcher",
    "HTTPFetcher",
    "JWKSError",
    "KeySource",
    "RemoteJWKS",
    "Response",
    "SharedStore",
    "StaticKeys",
    "VerificationKey",
    "check_jwks_url",
    "is_loopback",
    "log",
    "no_fetch",
    "parse_jwks",
    "parse_pem",
    "pomerium_kid",
    "store_for",
]
