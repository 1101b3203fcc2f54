"""A middleware that reads ``request.headers`` before django_pomerium's runs."""

from __future__ import annotations

import typing as t

from django.http import HttpRequest


class ReadHeadersFirst:
    def __init__(self, get_response: t.Callable[[HttpRequest], t.Any]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> t.Any:
        assert request.headers is not None  # builds and caches request.headers
        return self.get_response(request)
