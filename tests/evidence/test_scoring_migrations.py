"""Data migration 0004: the new default weight of ``reuse_same_buyer``."""

import importlib

import pytest
from django.apps import apps

from evidence.checks.reuse import ReuseCheck
from evidence.models import ScoringThreshold, ScoringWeight

migration = importlib.import_module("evidence.migrations.0004_reuse_same_buyer_weight")


def test_the_checks_default_is_the_migrations_new_weight():
    assert ReuseCheck.codes["reuse_same_buyer"][0] == migration.NEW_DEFAULT == 50
    assert migration.OLD_DEFAULT == 30


@pytest.mark.django_db
def test_weight_still_at_the_old_default_is_raised():
    ScoringWeight.objects.filter(code="reuse_same_buyer").update(weight=migration.OLD_DEFAULT)

    migration.seed_and_raise(apps, None)

    assert ScoringWeight.objects.get(code="reuse_same_buyer").weight == migration.NEW_DEFAULT


@pytest.mark.django_db
def test_an_administrators_weight_is_kept():
    ScoringWeight.objects.filter(code="reuse_same_buyer").update(weight=35, is_active=False)

    migration.seed_and_raise(apps, None)

    row = ScoringWeight.objects.get(code="reuse_same_buyer")
    assert (row.weight, row.is_active) == (35, False)


@pytest.mark.django_db
def test_missing_rows_are_created_with_the_current_defaults():
    ScoringWeight.objects.all().delete()
    ScoringThreshold.objects.all().delete()

    migration.seed_and_raise(apps, None)

    assert ScoringWeight.objects.get(code="reuse_same_buyer").weight == migration.NEW_DEFAULT
    assert ScoringWeight.objects.filter(code="reuse_other_buyer", weight=60).exists()
    assert ScoringThreshold.objects.filter(name="suspicious").exists()


@pytest.mark.django_db
def test_reverse_lowers_only_the_new_default():
    ScoringWeight.objects.filter(code="reuse_same_buyer").update(weight=migration.NEW_DEFAULT)

    migration.lower_back(apps, None)

    assert ScoringWeight.objects.get(code="reuse_same_buyer").weight == migration.OLD_DEFAULT


def test_same_buyer_reuse_alone_is_suspicious_but_not_high_risk():
    from evidence.scoring import DEFAULT_THRESHOLDS, combine

    score = combine([ReuseCheck.codes["reuse_same_buyer"][0]])

    assert DEFAULT_THRESHOLDS["suspicious"][0] <= score < DEFAULT_THRESHOLDS["high-risk"][0]
