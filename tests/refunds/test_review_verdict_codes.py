"""The per-photo verdict codes a routing rule may name are the checks' verdicts
(``evidence.verdicts``, the one list): a verdict added there is a code a rule accepts,
and the stored codes stay as they were."""

from __future__ import annotations

import pytest

from evidence import verdicts
from refunds.models import PhotoVerdictCode, ReviewQueue, RoutingRule
from refunds.routing import rule_problems


def test_rule_verdict_codes_are_the_checks_verdicts():
    assert PhotoVerdictCode.values == list(verdicts.PRECEDENCE)
    # The stored values are unchanged (rules saved before keep matching).
    assert {
        "edited_copy",
        "copy",
        "screen_copy",
        "ai_labelled",
        "reused",
        "clean",
        "inconclusive",
    } == set(PhotoVerdictCode.values)
    assert PhotoVerdictCode.EDITED_COPY == verdicts.EDITED_COPY
    # Labelled for the rules' authors (the merchant's labels say "your photo").
    assert str(PhotoVerdictCode.EDITED_COPY.label) == "Edited copy of another photo"


@pytest.mark.django_db
def test_a_rule_accepts_every_verdict_and_refuses_others():
    queue = ReviewQueue.objects.get(slug="standard", tenant__slug="default")
    rule = RoutingRule(name="every verdict", queue=queue, photo_verdicts=list(verdicts.PRECEDENCE))
    assert "photo_verdicts" not in rule_problems(rule)
    rule.photo_verdicts = ["forged_by_hand"]
    assert "photo_verdicts" in rule_problems(rule)
