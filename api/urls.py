from csp.decorators import csp_update
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.routers import DefaultRouter

from api import views

app_name = "api"

router = DefaultRouter(trailing_slash=True)
router.include_root_view = False
# One format, JSON: no ``.json`` suffix routes (their ``format`` argument crashed every
# @action and every create), so a suffixed path is a plain 404 problem document.
router.include_format_suffixes = False
router.register("merchants", views.MerchantViewSet, basename="merchant")
router.register("products", views.ProductViewSet, basename="product")
router.register("orders", views.OrderViewSet, basename="order")
router.register("claims", views.ClaimViewSet, basename="claim")
router.register("webhook-endpoints", views.WebhookEndpointViewSet, basename="webhook-endpoint")

urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    # The split view serves its start script as a file (?script): no inline script. Swagger
    # UI draws its icons as data: images, allowed on this page alone.
    path(
        "docs/",
        csp_update({"img-src": ["data:"]})(
            SpectacularSwaggerSplitView.as_view(
                url_name="api:schema", template_name="api/swagger_ui.html"
            )
        ),
        name="docs",
    ),
    path("v1/", include(router.urls)),
    path("v1/artifacts/<str:token>/", views.ArtifactView.as_view(), name="artifact"),
]
