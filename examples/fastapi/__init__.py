"""FastAPI example API protected by fastapi_pomerium."""
