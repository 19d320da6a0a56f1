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


class ClaimBatchRateThrottle(PlatformClientRateThrottle):
    """Batches of claims per platform client (``API_BATCH_RATE``), on top of ``API_RATE``
    (where a batch counts as one request): a batch carries up to 100 claims."""

    scope = "platform_client_batch"
