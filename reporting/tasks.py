"""Thin Celery tasks: the beat's incremental refresh of the daily rollups."""

from celery import shared_task

from reporting import services


# A refresh reads only the days touched since the last one (seconds at 1M claims); the
# limits leave room for the first run, which rebuilds everything when nothing was built.
@shared_task(soft_time_limit=600, time_limit=660)
def rollups_refresh_task() -> dict[str, int]:
    result = services.rollups_refresh()
    return {"days": result.days, "skipped": int(result.skipped)}
