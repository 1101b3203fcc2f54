"""The error an adapter raises when its web framework is not installed.

The adapters ship in the same distribution as the core, and each framework is an
optional extra (``pip install 'pomerium-wsgi[flask]'``). Without this, importing
``bottle_pomerium`` where Bottle is missing fails with a bare "No module named 'bottle'",
which says nothing about how to fix it. Each adapter imports its framework first and
turns that one failure into a message naming the extra; any other missing module (a
broken install of the framework's own dependencies, say) is left as it was.
"""

from __future__ import annotations


def missing_extra(error: ModuleNotFoundError, framework: str, extra: str,
                  adapter: str) -> ModuleNotFoundError:
    """The error to raise for *error*, met while *adapter* imports *framework*.

    If *error* is about *framework* itself, a new ``ModuleNotFoundError`` (same ``name``)
    that says which extra to install; otherwise *error* unchanged. Use it as
    ``raise missing_extra(exc, "bottle", "bottle", "bottle_pomerium") from exc``.
    """
    missing = error.name or ""
    if missing.partition(".")[0] != framework.partition(".")[0]:
        return error
    return ModuleNotFoundError(
        f"{adapter} needs {framework}, which is not installed: "
        f"pip install 'pomerium-wsgi[{extra}]'",
        name=error.name,
        path=error.path,
    )
