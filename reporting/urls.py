from django.urls import path

from reporting import views

urlpatterns = [
    path("review/stats/", views.statistics, name="review_stats"),
    path("review/stats/export.csv", views.statistics_csv, name="review_stats_csv"),
]
