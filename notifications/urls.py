from django.urls import path

from notifications import views

urlpatterns = [
    path("", views.notification_list, name="notifications_list"),
    path("bell/", views.bell, name="notifications_bell"),
    path("read-all/", views.notifications_read_all, name="notifications_read_all"),
    path("preferences/", views.preferences, name="notification_preferences"),
    path("<int:notification_id>/open/", views.notification_open, name="notification_open"),
]
