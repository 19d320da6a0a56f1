from rest_framework.throttling import SimpleRateThrottle

from merchants.models import PlatformClient


class PlatformClientRateThrottle(SimpleRateThrottle):
    """One request budget per platform client (``API_RATE``); anonymous calls by address."""

    scope = "platform_client"

    def get_cache_key(self, request, view):
        if isinstance(request.auth, PlatformClient):
            ident = f"client-{request.auth.pk}"
        else:
            ident = f"anon-{self.get_ident(request)}"
        return self.cache_format % {"scope": self.scope, "ident": ident}
