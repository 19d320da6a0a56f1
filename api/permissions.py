from django.utils.translation import gettext_lazy as _
from rest_framework.permissions import BasePermission

from merchants.models import PlatformClient


class IsPlatformClient(BasePermission):
    message = _("Authenticate with a platform client token.")

    def has_permission(self, request, view) -> bool:
        return isinstance(request.auth, PlatformClient)


class CanCreateMerchants(BasePermission):
    message = _("This client may not create merchants.")

    def has_permission(self, request, view) -> bool:
        if request.method != "POST":
            return True
        return isinstance(request.auth, PlatformClient) and request.auth.can_create_merchants
