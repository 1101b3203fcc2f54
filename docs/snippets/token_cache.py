"""The verified-token cache: off by default, on for clients that repeat a token.

Pomerium mints a new token for every request, so behind Pomerium a cache of verified
tokens never answers. Turn it on only where the same token arrives again and again
(a service calling the app with one token, a test suite, a load test replaying tokens).
"""

from __future__ import annotations

import typing as t

from pomerium_wsgi import Verifier


def behind_pomerium(jwks: t.Any) -> Verifier:
    """The default: every token is verified in full."""
    return Verifier("app.example.com", jwks=jwks)


def for_repeated_tokens(jwks: t.Any) -> Verifier:
    """Remember the last 256 verified tokens; a repeat is answered without checking it
    again, until its ``exp`` or until the keys change."""
    return Verifier("app.example.com", jwks=jwks, token_cache_size=256)
