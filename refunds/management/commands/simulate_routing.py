"""Backtest a changed routing rule set on the last N days' claims (nothing is written)."""

import dataclasses
import json
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from merchants.models import DEFAULT_PLATFORM_SLUG, Platform
from refunds import routing, simulator
from refunds.models import RoutingRule


def _value(field_name: str, text: str):
    """A --change value as the rule's field wants it: JSON (numbers, lists, true/false,
    null) where it parses, else the text; amounts as decimals."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        value = text
    if field_name in {"min_amount", "max_amount"} and value is not None:
        value = Decimal(str(value))
    return value


class Command(BaseCommand):
    help = (
        "Replay the routing rules, with changes, on the routing inputs recorded for the "
        "claims of the last N days, beside the live rules: claims per queue, how many "
        "would be decided automatically and how many of those a reviewer (or an appeal) "
        "later decided otherwise."
    )

    def add_arguments(self, parser):
        parser.add_argument("--days", type=int, default=30)
        parser.add_argument(
            "--platform",
            default=DEFAULT_PLATFORM_SLUG,
            metavar="SLUG",
            help="The platform whose claims and rules are replayed (default: %(default)s).",
        )
        parser.add_argument(
            "--change",
            action="append",
            default=[],
            metavar="RULE_ID:FIELD=VALUE",
            help="Change one condition of a live rule, e.g. 4:min_amount=500 (repeatable). "
            "is_active=false switches the rule off.",
        )
        parser.add_argument(
            "--json", action="store_true", dest="as_json", help="Print the report as JSON."
        )

    def handle(self, *args, days, change, platform, as_json: bool, **options):
        tenant = Platform.objects.filter(slug=platform).first()
        if tenant is None:
            raise CommandError(f"no platform {platform!r}")
        rules = {
            rule.pk: rule
            for rule in RoutingRule.objects.select_related("queue").prefetch_related("merchants")
        }
        changed: dict[int, RoutingRule] = {}
        for spec in change:
            try:
                rule_id, assignment = spec.split(":", 1)
                field_name, text = assignment.split("=", 1)
                rule = changed.get(int(rule_id)) or rules[int(rule_id)]
            except (ValueError, KeyError) as exc:
                raise CommandError(f"bad --change {spec!r}: RULE_ID:FIELD=VALUE") from exc
            if rule.queue.tenant_id != tenant.pk:
                raise CommandError(f"rule {rule.pk} belongs to another platform than {platform!r}")
            if not hasattr(rule, field_name) or field_name in {"id", "pk", "queue", "queue_id"}:
                raise CommandError(f"routing rules have no field {field_name!r} to change here")
            setattr(rule, field_name, _value(field_name, text))
            changed[rule.pk] = rule
        proposed = routing.live_rules(tenant_id=tenant.pk)
        for rule in changed.values():
            problems = routing.rule_problems(rule) if rule.is_active else {}
            if problems:
                raise CommandError(str(ValidationError(problems).message_dict))
            proposed = simulator.with_rule_changed(
                proposed, routing.RuleSpec.from_rule(rule), active=rule.is_active
            )
        report = simulator.simulate(proposed=proposed, days=days, tenant_id=tenant.pk)
        if as_json:
            self.stdout.write(_as_json(report, platform=tenant.slug))
            return
        self.stdout.write(
            f"{tenant.slug}: {report.claims} claims routed in the last {days} days; "
            f"{report.moved} would go to another queue."
        )
        self.stdout.write(f"{'queue':<24}{'live':>8}{'proposed':>10}{'change':>8}")
        for row in report.rows:
            self.stdout.write(
                f"{row.queue.slug:<24}{row.live:>8}{row.proposed:>10}{row.change:>+8}"
            )
        for label, side in (("live", report.live), ("proposed", report.proposed)):
            self.stdout.write(
                f"{label}: {side.auto_decided} decided automatically, "
                f"{side.auto_overturned} of them later decided otherwise"
            )


def _as_json(report, *, platform: str) -> str:
    return json.dumps(
        {
            "platform": platform,
            "days": report.days,
            "claims": report.claims,
            "moved": report.moved,
            "queues": {
                row.queue.slug: {"live": row.live, "proposed": row.proposed} for row in report.rows
            },
            "live": {k: v for k, v in dataclasses.asdict(report.live).items() if k != "per_queue"},
            "proposed": {
                k: v for k, v in dataclasses.asdict(report.proposed).items() if k != "per_queue"
            },
        },
        indent=2,
    )
