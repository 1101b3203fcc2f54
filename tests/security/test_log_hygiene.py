"""Log hygiene: no token, and no token's signature, ever reaches a log, message or body.

A token in a log line is a credential in a log line: anyone who reads the logs within
the token's lifetime can replay it. This runs the whole attack corpus (the same inputs
as ``test_attacks.py``) plus genuine tokens through the verifier and the middleware with
every ``pomerium_wsgi`` logger at DEBUG, and checks each captured record (message,
arguments, exception text), each exception (``str``, ``repr``, ``detail``, its chained
causes), each signal payload's error, and each response (status, headers, body).
"""

from __future__ import annotations

import logging
import typing as t

import pytest

from pomerium_wsgi import VerificationError
from pomerium_wsgi.signals import verification_failed

from ._corpus import CASES, World
from ._support import as_header_value, call_middleware, secrets_of


def _texts_of_error(error: BaseException) -> list[str]:
    texts: list[str] = []
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        texts += [str(current), repr(current), str(getattr(current, "detail", "") or "")]
        texts += [str(a) for a in current.args]
        current = current.__cause__ or current.__context__
    return texts


def _texts_of_record(record: logging.LogRecord) -> list[str]:
    texts = [record.getMessage(), str(record.msg), repr(record.args), record.exc_text or ""]
    if record.exc_info and record.exc_info[1] is not None:
        texts += _texts_of_error(record.exc_info[1])
    return texts


def test_no_token_in_logs_errors_or_responses(world: World,
                                              caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="pomerium_wsgi")
    signalled: list[VerificationError] = []

    def on_failure(sender: object, error: VerificationError, **extra: t.Any) -> None:
        signalled.append(error)

    verification_failed.connect(on_failure)
    checked: list[tuple[str, list[str], list[str]]] = []  # (case, secrets, texts)
    refusals = 0
    try:
        inputs = [(c.id, c.build) for c in CASES]
        inputs.append(("genuine", lambda w: (w.verifier(), w.valid_token())))
        for case_id, build in inputs:
            verifier, token = build(world)
            secrets = secrets_of(token)  # empty for "" and "..": nothing to leak
            texts: list[str] = []
            try:
                identity = verifier.verify(token)
                texts.append(repr(identity))
            except VerificationError as error:
                texts += _texts_of_error(error)
            response = call_middleware(verifier, as_header_value(token))
            refusals += response.status.startswith("401 ")
            texts += [response.status, repr(response.headers),
                      response.body.decode("utf-8", "replace")]
            checked.append((case_id, secrets, texts))
    finally:
        verification_failed.disconnect(on_failure)

    records = caplog.records
    log_texts = [text for record in records for text in _texts_of_record(record)]
    signal_texts = [text for error in signalled for text in _texts_of_error(error)]
    assert refusals and len(signalled) == refusals  # every refusal sent the signal
    leaks: list[str] = []
    for case_id, secrets, texts in checked:
        for secret in secrets:
            for where, pool in (("error/response", texts), ("log", log_texts),
                                ("signal", signal_texts)):
                if any(secret in text for text in pool):
                    leaks.append(f"{case_id}: {where}")
    assert leaks == []
    assert sum(1 for _, secrets, _ in checked if secrets) >= len(CASES) - 5
    # The capture did capture: the JWKS-side cases log why each key was skipped.
    assert any(r.name.startswith("pomerium_wsgi") for r in records)
