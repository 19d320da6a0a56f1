"""Thin Celery tasks: the beat's incremental refresh of the daily rollups, and the nightly
rebuild of the last days."""

from celery import shared_task
from django.conf import settings

from reporting import services


# A refresh reads only the days touched since the last one (seconds at 1M claims); the
# limits leave room for the first run, which rebuilds everything when nothing was built.
@shared_task(soft_time_limit=600, time_limit=660)
def rollups_refresh_task() -> dict[str, int]:
    result = services.rollups_refresh()
    return {"days": result.days, "skipped": int(result.skipped)}


# The last ROLLUPS_REBUILD_DAYS days rebuilt (≈1 s a day at 1M claims): the changes no
# refresh sees (docs/statistics.md, "Freshness").
@shared_task(soft_time_limit=1800, time_limit=1860)
def rollups_rebuild_recent_task() -> dict[str, int]:
    return {"days": services.rollups_rebuild_recent(days=settings.ROLLUPS_REBUILD_DAYS)}
