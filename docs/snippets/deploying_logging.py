"""Route the library's log lines: warnings and up from pomerium_wsgi and the adapters."""

import logging.config

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "loggers": {
        "pomerium_wsgi": {"handlers": ["stderr"], "level": "WARNING"},
        "bottle_pomerium": {"handlers": ["stderr"], "level": "WARNING"},
    },
}
logging.config.dictConfig(LOGGING)
