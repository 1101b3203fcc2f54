"""A class-based-view mixin with the same behaviour as the decorators.

Put it first among the bases, as with Django's ``LoginRequiredMixin``::

    class AdminView(PomeriumRequiredMixin, TemplateView):
        pomerium_requirement = require_group("admins") | require_email("root@example.com")

401 without an identity (the core's body), ``PermissionDenied`` (the project's 403 page)
when the identity fails the requirement. Works for sync and ``async def`` handlers.
"""

from __future__ import annotations

import typing as t

from django.http import HttpRequest

from pomerium_wsgi import Requirement, authz

from .decorators import check_request


class PomeriumRequiredMixin:
    """Verify that the request's identity meets :attr:`pomerium_requirement`."""

    #: Any core requirement (``require_group("admins")``, combined with ``&`` / ``|``).
    pomerium_requirement: Requirement = authz.require_identity()

    def get_pomerium_requirement(self) -> Requirement:
        """Hook: the requirement for this request (default :attr:`pomerium_requirement`)."""
        requirement = self.pomerium_requirement
        if not isinstance(requirement, Requirement):
            raise TypeError(f"{type(self).__name__}.pomerium_requirement must be a "
                            "Requirement, e.g. require_group('admins')")
        return requirement

    def dispatch(self, request: HttpRequest, *args: t.Any, **kwargs: t.Any) -> t.Any:
        refused = check_request(request, self.get_pomerium_requirement(), type(self))
        if refused is None:
            return super().dispatch(request, *args, **kwargs)  # type: ignore[misc]
        if getattr(self, "view_is_async", False):
            # An async view's dispatch must return an awaitable.

            async def answer() -> t.Any:
                return refused

            return answer()
        return refused
