"""Integration tests: real redis-server, real JWKS servers, real gunicorn workers."""
