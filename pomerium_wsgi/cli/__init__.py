"""The ``pomerium-wsgi`` command: check a token by hand, make keys and tokens, run an app.

One module per subcommand: :mod:`.verify` (with :mod:`.report`, its check-by-check
report), :mod:`.keygen` (``keygen`` and ``mint``) and :mod:`.dev` (with the app loader,
the servers, the per-request session and the reloader); :mod:`.main` holds the parser and
the entry point, :mod:`.terminal` the escaping every line of output goes through.
"""

from .main import build_parser, main
from .report import CHECK_NAMES, Check, Report, examine

__all__ = ["CHECK_NAMES", "Check", "Report", "build_parser", "examine", "main"]
