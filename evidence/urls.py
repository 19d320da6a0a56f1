from django.urls import path

from evidence import views

app_name = "evidence"

urlpatterns = [
    path("<uuid:file_uuid>/display.jpg", views.display_copy, name="display"),
    path("<uuid:file_uuid>/original", views.original_file, name="original"),
    path("artifacts/<int:artifact_id>.png", views.artifact_image, name="artifact"),
]
