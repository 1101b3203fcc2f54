# conftest.py
pytest_plugins = ["pomerium_wsgi.testing"]
