"""The API's shapes. Serializers parse and present; the services hold the rules."""

from __future__ import annotations

import copy
import functools

from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from api import signing
from evidence import verdicts
from evidence.models import EvidenceFile, Finding, SubmittedBy
from merchants.models import Merchant, Product
from refunds.models import ClaimReason, Decision, Order, Outcome, RefundClaim, WebhookEndpoint
from refunds.services import MAX_INGEST_ENTRIES
from refunds.webhooks import EVENT_TYPES

MONEY = {"max_digits": 12, "decimal_places": 2}
MAX_FILES_PER_REQUEST = 10
MAX_BATCH_ITEMS = MAX_INGEST_ENTRIES


class FieldsBuiltOnce:
    """A ModelSerializer builds its fields from the model's metadata on every instance
    (≈2 ms of CPU for a claim, per created claim answered); they depend on the class
    alone, so they are built once per class and each instance gets a copy."""

    def get_fields(self):
        built = type(self).__dict__.get("_built_fields")
        if built is None:
            built = super().get_fields()
            type(self)._built_fields = built
        return copy.deepcopy(built)


@extend_schema_field(OpenApiTypes.INT)
class ScopedPrimaryKeyField(serializers.PrimaryKeyRelatedField):
    """A reference to one of the *client's* objects; others do not exist for it."""

    def __init__(self, selector, **kwargs):
        self.selector = selector
        super().__init__(**kwargs)

    def get_queryset(self):
        return self.selector(client=self.context["request"].auth)


def _client_merchants(*, client):
    from api.selectors import merchants_for_client

    return merchants_for_client(client=client)


def _client_products(*, client):
    from api.selectors import products_for_client

    return products_for_client(client=client)


def _client_orders(*, client):
    """The client's orders, for a claim's ``order``: with the shop joined (the claim takes
    its platform from it), without the items a claim does not read."""
    from api.selectors import orders_for_client

    return orders_for_client(client=client).prefetch_related(None)


# --- Problems ----------------------------------------------------------------------------


class FieldErrorSerializer(serializers.Serializer):
    field = serializers.CharField(help_text="Dotted path of the field; empty for the body.")
    message = serializers.CharField()
    code = serializers.CharField()


class ProblemSerializer(serializers.Serializer):
    """RFC 9457 problem document."""

    type = serializers.CharField(help_text="`urn:claimlens:problem:<code>`")
    title = serializers.CharField()
    status = serializers.IntegerField()
    detail = serializers.CharField()
    code = serializers.CharField(help_text="Stable machine-readable code.")
    instance = serializers.CharField(required=False)
    errors = FieldErrorSerializer(many=True, required=False)


# --- Merchants and products --------------------------------------------------------------


class MerchantSerializer(serializers.ModelSerializer):
    class Meta:
        model = Merchant
        fields = ["id", "platform_id", "name", "contact_email", "is_active", "created_at"]
        read_only_fields = ["id", "is_active", "created_at"]
        extra_kwargs = {"platform_id": {"validators": []}}  # the service reports duplicates


class ProductSerializer(serializers.ModelSerializer):
    merchant = ScopedPrimaryKeyField(_client_merchants)
    photo_count = serializers.IntegerField(read_only=True, default=0)

    class Meta:
        model = Product
        fields = ["id", "merchant", "platform_id", "title", "photo_count", "created_at"]
        read_only_fields = ["id", "photo_count", "created_at"]
        validators = []  # the service reports duplicates


class VerdictReasonSerializer(serializers.Serializer):
    code = serializers.CharField()
    verdict = serializers.CharField(help_text="The verdict this finding points at.")
    weight = serializers.IntegerField()
    message = serializers.CharField(help_text="In the language of Accept-Language.")
    msgid = serializers.CharField(help_text="The untranslated message (stable).")


class VerdictSerializer(serializers.Serializer):
    code = serializers.ChoiceField(choices=verdicts.PRECEDENCE)
    label = serializers.CharField(help_text="In the language of Accept-Language.")
    reasons = VerdictReasonSerializer(many=True, help_text="Strongest verdict first.")
    statement = serializers.CharField(help_text="What this verdict can and cannot prove.")


class EvidenceFileSerializer(serializers.ModelSerializer):
    """An uploaded file as the platform sees it: no bytes, no metadata (no GPS)."""

    verdict = serializers.SerializerMethodField(
        help_text="The file's verdict from its checks; null until they finish."
    )

    class Meta:
        model = EvidenceFile
        fields = [
            "id",
            "submitted_by",
            "original_name",
            "content_type",
            "size",
            "width",
            "height",
            "sha256",
            "status",
            "rejection_code",
            "rejection_message",
            "created_at",
            "checked_at",
            "verdict",
        ]
        read_only_fields = fields

    @extend_schema_field(VerdictSerializer(allow_null=True))
    def get_verdict(self, evidence: EvidenceFile) -> dict | None:
        verdict = evidence.current_verdict
        if verdict is None:
            return None
        return {
            "code": verdict.verdict,
            "label": verdict.label,
            "reasons": [
                {
                    "code": r.get("code", ""),
                    "verdict": r.get("verdict", ""),
                    "weight": int(r.get("weight") or 0),
                    "message": text,
                    "msgid": r.get("message", ""),
                }
                for r, text in zip(verdict.reasons, verdict.display_reasons, strict=True)
            ],
            "statement": verdict.statement,
        }


class UploadSerializer(serializers.Serializer):
    file = serializers.ListField(
        child=serializers.FileField(allow_empty_file=True),
        min_length=1,
        max_length=MAX_FILES_PER_REQUEST,
        help_text=f"One or several (up to {MAX_FILES_PER_REQUEST}) image files.",
    )


class ProductPhotoUploadSerializer(UploadSerializer):
    submitted_by = serializers.ChoiceField(
        choices=[SubmittedBy.MERCHANT, SubmittedBy.PLATFORM], default=SubmittedBy.MERCHANT
    )


class ClaimEvidenceUploadSerializer(UploadSerializer):
    submitted_by = serializers.ChoiceField(choices=SubmittedBy.choices)


class RejectedFileSerializer(serializers.Serializer):
    index = serializers.IntegerField()
    name = serializers.CharField()
    code = serializers.CharField()
    message = serializers.CharField()


class UploadResultSerializer(serializers.Serializer):
    files = EvidenceFileSerializer(many=True, help_text="Files accepted; checks run on them.")
    rejected = RejectedFileSerializer(many=True, help_text="Files refused, with the reason.")


# --- Orders ------------------------------------------------------------------------------


class BuyerInputSerializer(serializers.Serializer):
    platform_id = serializers.CharField(max_length=64)
    display_name = serializers.CharField(max_length=100)
    phone = serializers.CharField(max_length=32, required=False, allow_blank=True, default="")
    account_created_at = serializers.DateTimeField(required=False, allow_null=True, default=None)


class BuyerSerializer(serializers.Serializer):
    platform_id = serializers.CharField()
    display_name = serializers.CharField()


class OrderItemInputSerializer(serializers.Serializer):
    title = serializers.CharField(max_length=300)
    quantity = serializers.IntegerField(min_value=1, max_value=1_000_000, default=1)
    unit_price = serializers.DecimalField(min_value=0, **MONEY)
    product = ScopedPrimaryKeyField(_client_products, required=False, allow_null=True)


class OrderItemSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    title = serializers.CharField()
    quantity = serializers.IntegerField()
    unit_price = serializers.DecimalField(**MONEY)
    product = serializers.IntegerField(source="product_id", allow_null=True)


class OrderInputSerializer(serializers.Serializer):
    merchant = ScopedPrimaryKeyField(_client_merchants)
    platform_id = serializers.CharField(max_length=64)
    buyer = BuyerInputSerializer()
    items = OrderItemInputSerializer(many=True, min_length=1, max_length=500)
    paid_at = serializers.DateTimeField()
    shipped_at = serializers.DateTimeField(required=False, allow_null=True, default=None)
    delivered_at = serializers.DateTimeField(required=False, allow_null=True, default=None)
    total_amount = serializers.DecimalField(
        min_value=0,
        required=False,
        allow_null=True,
        default=None,
        help_text="Defaults to the sum of the items; may not be less than it.",
        **MONEY,
    )
    shipping_address = serializers.CharField(
        max_length=2000, required=False, allow_blank=True, default=""
    )


class OrderBuyerSerializer(serializers.Serializer):
    """The buyer as the order was placed: the name given with it, not today's."""

    platform_id = serializers.CharField(source="buyer.platform_id")
    display_name = serializers.CharField(source="buyer_name")


class OrderSerializer(FieldsBuiltOnce, serializers.ModelSerializer):
    buyer = OrderBuyerSerializer(source="*")
    items = OrderItemSerializer(many=True)

    class Meta:
        model = Order
        fields = [
            "id",
            "merchant",
            "platform_id",
            "buyer",
            "items",
            "total_amount",
            "shipping_address",
            "paid_at",
            "shipped_at",
            "delivered_at",
            "created_at",
        ]
        read_only_fields = fields


# --- Claims ------------------------------------------------------------------------------


class ClaimInputSerializer(serializers.Serializer):
    order = ScopedPrimaryKeyField(_client_orders)
    amount = serializers.DecimalField(min_value=0, **MONEY)
    reason = serializers.ChoiceField(choices=ClaimReason.choices)
    description = serializers.CharField(
        max_length=5000, required=False, allow_blank=True, default=""
    )
    platform_id = serializers.CharField(
        max_length=64,
        required=False,
        allow_blank=True,
        default="",
        help_text="The platform's own id of the claim (unique per merchant).",
    )


# --- Batches of orders with their claims ----------------------------------------------


class BatchOrderItemInputSerializer(OrderItemInputSerializer):
    product = serializers.IntegerField(
        min_value=1, required=False, allow_null=True, help_text="Product id of the shop."
    )


class BatchOrderInputSerializer(OrderInputSerializer):
    """As for ``POST /orders/``; the shop and products are ids, looked up for the whole
    batch at once among the client's."""

    merchant = serializers.IntegerField(
        min_value=1, help_text="Merchant id (one this client acts for)."
    )
    items = BatchOrderItemInputSerializer(many=True, min_length=1, max_length=500)


class BatchClaimInputSerializer(ClaimInputSerializer):
    """As for ``POST /claims/``: on the order given with it, or on one recorded before."""

    order = serializers.IntegerField(
        min_value=1,
        required=False,
        help_text=(
            "An order recorded before (its id, as in `POST /claims/`), for an item without "
            "an `order` of its own."
        ),
    )


class ClaimBatchItemSerializer(serializers.Serializer):
    order = BatchOrderInputSerializer(
        required=False,
        help_text="A new order with the claim; leave it out to name one recorded before "
        "as `claim.order`.",
    )
    claim = BatchClaimInputSerializer()

    def validate(self, attrs):
        if "order" in attrs and "order" in attrs["claim"]:
            raise serializers.ValidationError(
                {"order": [_("Give a new order or claim.order (one recorded before), not both.")]}
            )
        if "order" not in attrs and "order" not in attrs["claim"]:
            raise serializers.ValidationError(
                {"order": [_("Each claim needs its order: a new one, or claim.order.")]}
            )
        return attrs


class ClaimBatchSerializer(serializers.Serializer):
    items = ClaimBatchItemSerializer(
        many=True,
        min_length=1,
        max_length=MAX_BATCH_ITEMS,
        help_text=(
            f"1 to {MAX_BATCH_ITEMS} orders, each with its claim; each is checked and "
            "answered on its own."
        ),
    )


class ClaimBatchResultSerializer(serializers.Serializer):
    index = serializers.IntegerField(help_text="Place of the item in `items`.")
    status = serializers.IntegerField(
        help_text="201 written; 400 invalid; 409 the order or claim id is already recorded."
    )
    order = serializers.IntegerField(
        allow_null=True, help_text="The order written, or the one already recorded (409)."
    )
    claim = serializers.IntegerField(
        allow_null=True, help_text="The claim written, or the one already recorded (409)."
    )
    claim_status = serializers.CharField(required=False, help_text="201 only: `received`.")
    code = serializers.CharField(required=False, help_text="Refused only, as in problems.")
    detail = serializers.CharField(required=False)
    errors = FieldErrorSerializer(many=True, required=False)


class ClaimBatchResponseSerializer(serializers.Serializer):
    created = serializers.IntegerField()
    refused = serializers.IntegerField()
    results = ClaimBatchResultSerializer(many=True, help_text="One per item, in order.")


class DeadlinesSerializer(serializers.Serializer):
    merchant = serializers.DateTimeField(source="merchant_deadline", allow_null=True)
    buyer = serializers.DateTimeField(source="buyer_deadline", allow_null=True)
    review = serializers.DateTimeField(source="review_deadline", allow_null=True)
    appeal = serializers.DateTimeField(source="appeal_deadline", allow_null=True)


class RiskReasonSerializer(serializers.Serializer):
    code = serializers.CharField()
    weight = serializers.IntegerField()
    severity = serializers.CharField()
    message = serializers.CharField(help_text="In the language of Accept-Language.")
    msgid = serializers.CharField(help_text="The untranslated message (stable).")
    evidence = serializers.IntegerField(allow_null=True)
    finding = serializers.IntegerField(allow_null=True)
    verdict = serializers.CharField(
        allow_blank=True, help_text="The verdict of its file this reason supports."
    )


def _translate(msgid: str, params) -> str:
    text = gettext(msgid) if msgid else ""
    try:
        return text % params if params else text
    except (KeyError, TypeError, ValueError):
        return text


class BlankAsNullChoiceField(serializers.ChoiceField):
    def to_representation(self, value):
        return None if value in ("", None) else super().to_representation(value)


class RoutingSerializer(serializers.Serializer):
    """Which routing rule fired and the inputs it saw (``docs/review-workflow.md``)."""

    rule = serializers.CharField(
        source="rule_name", allow_null=True, help_text="Null: none, the default queue."
    )
    rule_id = serializers.IntegerField(allow_null=True)
    queue = serializers.CharField(source="queue.slug")
    stage = serializers.ChoiceField(choices=["checks", "review"])
    conditions = serializers.ListField(source="matched", child=serializers.CharField())
    auto_outcome = BlankAsNullChoiceField(choices=Outcome.choices, allow_null=True)
    inputs = serializers.DictField(
        help_text=(
            "Risk score, finding codes, amount, reason, shop, the buyer's figures, photo "
            "verdicts, whether the merchant answered."
        )
    )
    routed_at = serializers.DateTimeField(source="created_at")

    def to_representation(self, instance):
        data = super().to_representation(instance)
        data["rule"] = data["rule"] or None
        return data


class ClaimSerializer(FieldsBuiltOnce, serializers.ModelSerializer):
    outcome = BlankAsNullChoiceField(
        choices=Outcome.choices,
        allow_null=True,
        read_only=True,
        help_text="Null until decided.",
    )
    merchant_response = BlankAsNullChoiceField(
        choices=["accept", "contest", "offer_return", "offer_partial"],
        allow_null=True,
        read_only=True,
        help_text="Null until the merchant answers.",
    )
    order_platform_id = serializers.CharField(source="order.platform_id", read_only=True)
    queue = serializers.SlugRelatedField(slug_field="slug", read_only=True, allow_null=True)
    risk_score = serializers.IntegerField(
        allow_null=True,
        min_value=0,
        max_value=100,
        read_only=True,
        help_text="0–100, null until the evidence is checked.",
    )
    risk_reasons = serializers.SerializerMethodField()
    deadlines = DeadlinesSerializer(source="*", read_only=True)
    routing = serializers.SerializerMethodField()

    class Meta:
        model = RefundClaim
        fields = [
            "id",
            "platform_id",
            "merchant",
            "order",
            "order_platform_id",
            "amount",
            "reason",
            "description",
            "status",
            "risk_score",
            "risk_reasons",
            "queue",
            "routing",
            "deadlines",
            "merchant_response",
            "merchant_offer_amount",
            "outcome",
            "refund_amount",
            "created_at",
            "updated_at",
            "decided_at",
        ]
        read_only_fields = fields

    @extend_schema_field(RoutingSerializer(allow_null=True))
    def get_routing(self, claim: RefundClaim) -> dict | None:
        history = getattr(claim, "routing_history", None)
        if history is None:
            history = list(claim.routing_records.select_related("queue").order_by("-id")[:1])
        return self._routing.to_representation(history[0]) if history else None

    @functools.cached_property
    def _routing(self) -> RoutingSerializer:
        # One for the whole list (a list's claims share this serializer): a serializer per
        # claim copied its fields each time, a quarter of a 50-claim page's CPU.
        return RoutingSerializer(context=self.context)

    @extend_schema_field(RiskReasonSerializer(many=True))
    def get_risk_reasons(self, claim: RefundClaim) -> list[dict]:
        reasons = claim.risk_reasons if isinstance(claim.risk_reasons, list) else []
        return [
            {
                "code": str(r.get("code", "")),
                "weight": int(r.get("weight") or 0),
                "severity": str(r.get("severity", "")),
                "message": _translate(str(r.get("message", "")), r.get("params")),
                "msgid": str(r.get("message", "")),
                "evidence": r.get("evidence_id"),
                "finding": r.get("finding_id"),
                "verdict": str(r.get("verdict", "")),
            }
            for r in reasons
            if isinstance(r, dict)
        ]


class WithdrawSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")


class ArtifactSerializer(serializers.Serializer):
    name = serializers.CharField()
    caption = serializers.CharField()
    url = serializers.URLField(help_text=f"Signed; valid {signing.MAX_AGE_SECONDS // 60} minutes.")


class FindingSerializer(serializers.ModelSerializer):
    message = serializers.CharField(source="display_message", read_only=True)
    msgid = serializers.CharField(source="message", read_only=True)
    check = serializers.CharField(source="check_run.check_name", read_only=True)
    evidence = serializers.IntegerField(source="evidence_id", read_only=True)
    related_evidence = serializers.IntegerField(
        source="related_evidence_id", read_only=True, allow_null=True
    )
    artifacts = serializers.SerializerMethodField()

    class Meta:
        model = Finding
        fields = [
            "id",
            "code",
            "severity",
            "weight",
            "message",
            "msgid",
            "params",
            "check",
            "evidence",
            "related_evidence",
            "artifacts",
            "created_at",
        ]
        read_only_fields = fields

    @extend_schema_field(ArtifactSerializer(many=True))
    def get_artifacts(self, finding: Finding) -> list[dict]:
        request = self.context.get("request")
        client_id = request.auth.pk
        return [
            {
                "name": artifact.name,
                "caption": artifact.display_caption,
                "url": signing.artifact_url(request, artifact_id=artifact.pk, client_id=client_id),
            }
            for artifact in finding.artifacts.all()
        ]


class DecisionSerializer(serializers.ModelSerializer):
    decided_by = serializers.SerializerMethodField()

    class Meta:
        model = Decision
        fields = [
            "id",
            "outcome",
            "refund_amount",
            "rationale",
            "decided_by",
            "on_appeal",
            "confirmed_forgery",
            "created_at",
        ]
        read_only_fields = fields

    @extend_schema_field(serializers.ChoiceField(choices=["merchant", "reviewer"]))
    def get_decided_by(self, decision: Decision) -> str:
        return "merchant" if decision.decided_by_merchant else "reviewer"


# --- Webhook endpoints --------------------------------------------------------------------


class WebhookEndpointSerializer(serializers.ModelSerializer):
    url = serializers.URLField(
        max_length=500,
        help_text=_(
            "Where events are POSTed. It must be reachable from the internet (https in "
            "production; no loopback, private or link-local address), checked when saved "
            "and before every send."
        ),
    )
    event_types = serializers.ListField(
        child=serializers.ChoiceField(choices=EVENT_TYPES),
        required=False,
        max_length=10,
        help_text=_("Empty means every event."),
    )

    class Meta:
        model = WebhookEndpoint
        fields = ["id", "url", "event_types", "is_active", "created_at"]
        read_only_fields = ["id", "created_at"]


class WebhookEndpointCreatedSerializer(WebhookEndpointSerializer):
    secret = serializers.CharField(
        read_only=True,
        help_text=(
            "The signing secret (Standard Webhooks format, whsec_ and base64); shown only "
            "in this response."
        ),
    )

    class Meta(WebhookEndpointSerializer.Meta):
        fields = [*WebhookEndpointSerializer.Meta.fields, "secret"]
        read_only_fields = [*WebhookEndpointSerializer.Meta.read_only_fields, "secret"]
