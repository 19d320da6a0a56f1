from django.urls import path

from merchants import views

urlpatterns = [
    path("products/", views.products, name="merchant_products"),
    path(
        "products/<int:product_id>/photos/",
        views.product_photos_add,
        name="merchant_product_photos",
    ),
    path(
        "products/<int:product_id>/retire/",
        views.product_photos_retire,
        name="merchant_product_retire",
    ),
    path(
        "products/photos/<int:photo_id>/replace/",
        views.product_photo_replace,
        name="merchant_product_photo_replace",
    ),
    path("shipments/", views.shipments, name="merchant_shipments"),
    path("shipments/<int:shipment_id>/", views.shipment_page, name="merchant_shipment"),
    path(
        "shipments/<int:shipment_id>/evidence/",
        views.shipment_evidence_add,
        name="merchant_shipment_evidence",
    ),
]
