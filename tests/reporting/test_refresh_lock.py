"""Two refreshes at once on PostgreSQL: the second skips instead of counting twice, and
a rebuild waits for the refresh holding the lock."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, transaction

from reporting.models import RollupState
from reporting.services import STATE_KEY, rollups_refresh

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_a_refresh_skips_while_another_holds_the_lock():
    RollupState.objects.create(key=STATE_KEY)
    locked, release, results = threading.Event(), threading.Event(), []

    def other_beat():
        with transaction.atomic():
            RollupState.objects.select_for_update().get(key=STATE_KEY)
            locked.set()
            release.wait(10)
        connection.close()

    holder = threading.Thread(target=other_beat)
    holder.start()
    assert locked.wait(10)
    try:
        results.append(rollups_refresh())
    finally:
        release.set()
        holder.join()

    assert results[0].skipped
    assert RollupState.objects.get(key=STATE_KEY).watermark is None  # nothing was written
    assert rollups_refresh().skipped is False
