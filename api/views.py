"""Platform API v1. Views are thin: parse with a serializer, call the same service the
browser and the admin call, present with a serializer. Every object is fetched through
a client-scoped selector, so another tenant's id is a 404."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist
from django.http import FileResponse, Http404
from django.utils.translation import gettext as _
from django_filters import rest_framework as filters
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.filters import OrderingFilter
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.parsers import JSONParser, MultiPartParser
from rest_framework.permissions import AllowAny
from rest_framework.relations import PrimaryKeyRelatedField
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from api import selectors, signing
from api import serializers as s
from api.exceptions import ProblemError, flatten_errors, translate_domain_exception
from api.idempotency import HEADER as IDEMPOTENCY_HEADER
from api.idempotency import idempotent
from api.pagination import ApiCursorPagination, ApiPagination
from api.permissions import CanCreateMerchants
from api.throttling import ClaimBatchRateThrottle, PlatformClientRateThrottle
from evidence.services import BatchRejected, EvidenceRejected, evidence_add
from merchants.models import Merchant, Product
from merchants.services import merchant_create, product_create, product_photos_add
from refunds import services
from refunds.audit import Actor
from refunds.models import ClaimStatus, Order, RefundClaim, WebhookEndpoint
from refunds.services import ItemInput, buyer_upsert, claim_submit, claim_withdraw

IDEMPOTENCY_PARAMETER = OpenApiParameter(
    IDEMPOTENCY_HEADER,
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    required=False,
    pattern=r"^[\x21-\x7e]{1,255}$",
    description=(
        "Optional. The same key with the same body replays the first response (header "
        "`Idempotent-Replayed: true`); with a different body it is a 409. Kept 24 hours."
    ),
)
LANGUAGE_PARAMETER = OpenApiParameter(
    "Accept-Language",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    required=False,
    description="Language of messages: `zh-hans` (default) or `en`; others fall back.",
)


class JSONOnlyNegotiation(BaseContentNegotiation):
    """Always JSON: the API never answers HTML and never fails on an Accept header."""

    def select_parser(self, request, parsers):
        for parser in parsers:
            if request.content_type and request.content_type.split(";")[0].strip() == (
                parser.media_type
            ):
                return parser
        return None

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


class ApiView:
    """What every API view shares: JSON in and out, a body-size limit."""

    renderer_classes = [JSONRenderer]
    parser_classes = [JSONParser]
    content_negotiation_class = JSONOnlyNegotiation
    pagination_class = ApiPagination

    @property
    def client(self):
        return self.request.auth

    def scoped(self, selector, model):
        """``selector(client=…)``: the client's rows; none while drf-spectacular builds the
        schema (no client then: it only needs the model)."""
        if getattr(self, "swagger_fake_view", False):
            return model.objects.none()
        return selector(client=self.client)

    def get_object(self):
        # Scoped queryset only: list filters in the query string never apply to one object.
        try:
            obj = self.get_queryset().get(pk=int(self.kwargs["pk"]))
        except (ObjectDoesNotExist, ValueError, OverflowError) as exc:
            raise Http404 from exc
        self.check_object_permissions(self.request, obj)
        return obj

    def _allowed_query_parameters(self) -> set[str]:
        if getattr(self, "action", None) != "list":
            return set()
        paginator = getattr(self, "pagination_class", None)
        cursor = paginator is not None and issubclass(paginator, ApiCursorPagination)
        allowed = {"cursor", "page_size"} if cursor else {"page", "page_size"}
        if getattr(self, "filterset_class", None) is not None:
            allowed |= set(self.filterset_class.base_filters)
        if OrderingFilter in getattr(self, "filter_backends", ()):
            allowed.add(OrderingFilter.ordering_param)
        return allowed

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        # Unknown query parameters are refused: a typo must not silently widen a list.
        unknown = sorted(set(request.query_params) - self._allowed_query_parameters())
        if unknown and getattr(self, request.method.lower(), None) is not None:
            raise ValidationError({name: [_("Unknown query parameter.")] for name in unknown[:10]})
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        # The web forms' limits (config/settings.py): one number for photos, one for JSON.
        limit = (
            settings.UPLOAD_MAX_REQUEST_BYTES
            if request.content_type.startswith("multipart/")
            else settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        )
        if length > limit:
            raise ProblemError(
                _("The request body is larger than %(limit)s MB.") % {"limit": limit // 2**20},
                code="request_too_large",
                status_code=413,
            )


def _upload(request, serializer_class, **target) -> Response:
    """Add each file through ``evidence_add``; 201 with what was accepted and refused,
    or the first refusal as a problem when nothing was accepted."""
    serializer = serializer_class(data=request.data, context={"request": request})
    serializer.is_valid(raise_exception=True)
    accepted, rejected, errors = [], [], []
    for index, upload in enumerate(serializer.validated_data["file"]):
        try:
            accepted.append(
                evidence_add(
                    upload=upload,
                    original_name=upload.name or "",
                    submitted_by=serializer.validated_data["submitted_by"],
                    actor=Actor.platform(request.user.client.name),
                    **target,
                )
            )
        except EvidenceRejected as exc:
            rejected.append(
                {
                    "index": index,
                    "name": upload.name or "",
                    "code": exc.code,
                    "message": exc.message,
                }
            )
            errors.append(exc)
    if not accepted:
        raise errors[0]
    body = {"files": s.EvidenceFileSerializer(accepted, many=True).data, "rejected": rejected}
    return Response(body, status=status.HTTP_201_CREATED)


UPLOAD_REQUEST = {"multipart/form-data": s.ClaimEvidenceUploadSerializer}


# --- Filters -----------------------------------------------------------------------------


MAX_ID = 2**63 - 1


class IdFilter(filters.NumberFilter):
    field_class = forms.IntegerField


class MerchantFilter(filters.FilterSet):
    merchant = IdFilter(method="filter_merchant", label="Merchant id.")

    def filter_merchant(self, queryset, name, value):
        # An id that cannot exist (out of range) matches nothing: it is no error.
        if value is None:
            return queryset
        if not 0 < value <= MAX_ID:
            return queryset.none()
        return queryset.filter(merchant_id=value)

    def is_valid(self) -> bool:
        # A parameter given empty is a mistake, not "no filter".
        valid = super().is_valid()
        for name in self.filters:
            if name in self.data and not any(self.data.getlist(name)):
                self.form.add_error(name, _("This value may not be empty."))
                valid = False
        return valid


class ClaimFilter(MerchantFilter):
    # No DISTINCT: the scoped queryset has one row per claim already, and DISTINCT over
    # every column made PostgreSQL sort the whole filtered set (issue 13).
    status = filters.MultipleChoiceFilter(choices=ClaimStatus.choices, distinct=False)
    updated_since = filters.IsoDateTimeFilter(
        field_name="updated_at",
        lookup_expr="gte",
        label="Only claims changed at or after this time (ISO 8601).",
    )


# --- Merchants -----------------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(summary="Merchants this client acts for"),
    retrieve=extend_schema(summary="One merchant"),
    create=extend_schema(
        summary="Create a merchant (clients allowed to) and bind it to this client",
        parameters=[IDEMPOTENCY_PARAMETER],
        examples=[
            OpenApiExample(
                "shop",
                value={
                    "platform_id": "shop-42",
                    "name": "Shop 42 家居",
                    "contact_email": "ops@shop42.example",
                },
                request_only=True,
            )
        ],
    ),
)
class MerchantViewSet(
    ApiView, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    serializer_class = s.MerchantSerializer
    permission_classes = [*viewsets.GenericViewSet.permission_classes, CanCreateMerchants]
    lookup_value_regex = r"[0-9]+"

    def get_queryset(self):
        return self.scoped(selectors.merchants_for_client, Merchant)

    @idempotent
    def create(self, request):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        merchant = merchant_create(client=self.client, **serializer.validated_data)
        return Response(self.get_serializer(merchant).data, status=status.HTTP_201_CREATED)


# --- Products ------------------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(summary="Products of this client's merchants"),
    retrieve=extend_schema(summary="One product"),
    create=extend_schema(summary="Create a product", parameters=[IDEMPOTENCY_PARAMETER]),
)
class ProductViewSet(
    ApiView, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    serializer_class = s.ProductSerializer
    lookup_value_regex = r"[0-9]+"
    filter_backends = [filters.DjangoFilterBackend]
    filterset_class = MerchantFilter

    def get_queryset(self):
        return self.scoped(selectors.products_for_client, Product)

    @idempotent
    def create(self, request):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        product = product_create(**serializer.validated_data)
        product.photo_count = 0
        return Response(self.get_serializer(product).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Add listing (reference) photos to a product",
        request={"multipart/form-data": s.ProductPhotoUploadSerializer},
        responses={201: s.UploadResultSerializer},
        parameters=[IDEMPOTENCY_PARAMETER],
    )
    @action(detail=True, methods=["post"], parser_classes=[MultiPartParser], filter_backends=[])
    @idempotent
    def photos(self, request, pk=None):
        # The one service the products page uses too; the API keeps the accepted files
        # of a batch and lists the refused ones (docs/api.md).
        product = self.get_object()
        serializer = s.ProductPhotoUploadSerializer(data=request.data, context={"request": request})
        serializer.is_valid(raise_exception=True)
        try:
            result = product_photos_add(
                product=product,
                uploads=[
                    (upload, upload.name or "") for upload in serializer.validated_data["file"]
                ],
                submitted_by=serializer.validated_data["submitted_by"],
                actor=Actor.platform(request.user.client.name),
                all_or_nothing=False,
            )
        except BatchRejected as exc:
            first = exc.refusals[0]
            raise EvidenceRejected(first.code, first.message) from exc
        rejected = [
            {"index": r.index, "name": r.name, "code": r.code, "message": r.message}
            for r in result.refused
        ]
        body = {
            "files": s.EvidenceFileSerializer(result.files, many=True).data,
            "rejected": rejected,
        }
        return Response(body, status=status.HTTP_201_CREATED)


# --- Orders --------------------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(summary="Orders of this client's merchants"),
    retrieve=extend_schema(summary="One order"),
)
class OrderViewSet(
    ApiView, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    serializer_class = s.OrderSerializer
    lookup_value_regex = r"[0-9]+"
    filter_backends = [filters.DjangoFilterBackend]
    filterset_class = MerchantFilter

    def get_queryset(self):
        return self.scoped(selectors.orders_for_client, Order)

    @extend_schema(
        summary="Record an order, with its buyer inline",
        request=s.OrderInputSerializer,
        responses={201: s.OrderSerializer},
        parameters=[IDEMPOTENCY_PARAMETER],
        examples=[
            OpenApiExample(
                "order",
                request_only=True,
                value={
                    "merchant": 1,
                    "platform_id": "order-1001",
                    "buyer": {
                        "platform_id": "buyer-9",
                        "display_name": "张三",
                        "phone": "13800000000",
                        "account_created_at": "2024-01-05T10:00:00+08:00",
                    },
                    "items": [
                        {
                            "title": "陶瓷杯 Ceramic mug",
                            "quantity": 1,
                            "unit_price": "199.00",
                            "product": 1,
                        }
                    ],
                    "paid_at": "2025-11-01T10:00:00+08:00",
                    "shipped_at": "2025-11-02T09:00:00+08:00",
                    "delivered_at": "2025-11-04T15:00:00+08:00",
                    "shipping_address": "上海市浦东新区 XX 路 1 号",
                },
            )
        ],
    )
    @idempotent
    def create(self, request):
        serializer = s.OrderInputSerializer(data=request.data, context={"request": request})
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        buyer = buyer_upsert(**data["buyer"], tenant=self.client.tenant_id)
        order = _order_create_from(data, buyer)
        # The order as created (its shop is the client's, checked by the serializer; its
        # buyer the one just written): no read back, only its items (issue 13, ingestion).
        return Response(s.OrderSerializer(order).data, status=status.HTTP_201_CREATED)


def _order_create_from(data, buyer):
    from refunds.services import order_create

    return order_create(
        merchant=data["merchant"],
        buyer=buyer,
        platform_id=data["platform_id"],
        items=_item_inputs(data["items"]),
        paid_at=data["paid_at"],
        shipped_at=data["shipped_at"],
        delivered_at=data["delivered_at"],
        total_amount=data["total_amount"],
        shipping_address=data["shipping_address"],
    )


def _item_inputs(items, products: dict | None = None) -> list[ItemInput]:
    """Parsed order lines as the services take them; ``products``: ids to products (the
    batch's lines name products by id), else the lines hold the products."""
    return [
        ItemInput(
            title=i["title"],
            unit_price=i["unit_price"],
            quantity=i["quantity"],
            product=i.get("product") if products is None else products.get(i.get("product")),
        )
        for i in items
    ]


# --- Claims --------------------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(
        summary="Claims of this client's merchants", parameters=[LANGUAGE_PARAMETER]
    ),
    retrieve=extend_schema(
        summary="One claim: status, risk, queue, deadlines, outcome",
        parameters=[LANGUAGE_PARAMETER],
    ),
)
class ClaimViewSet(
    ApiView, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    serializer_class = s.ClaimSerializer
    lookup_value_regex = r"[0-9]+"
    filter_backends = [filters.DjangoFilterBackend, OrderingFilter]
    filterset_class = ClaimFilter
    # Keyset pages (``?cursor=``): a deep page costs what the first does, no COUNT(*).
    pagination_class = ApiCursorPagination
    cursor_ordering_fields = ("created_at", "updated_at", "amount", "id")
    ordering_fields = list(cursor_ordering_fields)
    ordering = ["-created_at", "-id"]

    def get_queryset(self):
        return self.scoped(selectors.claims_for_client, RefundClaim)

    @extend_schema(
        summary="Submit a refund-only claim",
        request=s.ClaimInputSerializer,
        responses={201: s.ClaimSerializer},
        parameters=[IDEMPOTENCY_PARAMETER],
        examples=[
            OpenApiExample(
                "claim",
                request_only=True,
                value={
                    "order": 1,
                    "amount": "199.00",
                    "reason": "damaged",
                    "description": "杯子到货有裂痕",
                    "platform_id": "claim-77",
                },
            )
        ],
    )
    @idempotent
    def create(self, request):
        serializer = s.ClaimInputSerializer(data=request.data, context={"request": request})
        serializer.is_valid(raise_exception=True)
        claim = claim_submit(actor=Actor.platform(self.client.name), **serializer.validated_data)
        # The claim as created, not read back (issue 13, ingestion): a new claim has no
        # queue and no routing yet; its order and shop are the ones it was created from.
        claim.routing_history = []
        return Response(s.ClaimSerializer(claim).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Submit many claims, with their new orders or on orders sent before",
        description=(
            "Up to 100 items, each an order (as for `POST /orders/`, the shop and products "
            "by id) with its claim (as for `POST /claims/`), or a claim alone whose "
            "`order` is the id of an order sent before. Each item is checked on its "
            "own and answered in `results` (same order): 201 with the ids written, 400 "
            "with its field errors, 409 when its order id or claim id is already recorded "
            "(with the ids recorded). The accepted items are written together; a refused "
            "item writes nothing and never stops the others. The batch answers 200 "
            "whatever its items' results; an `Idempotency-Key` replays the whole answer. "
            "More than 100 items: 413. Counts once against `API_RATE` and once against "
            "`API_BATCH_RATE`."
        ),
        request=s.ClaimBatchSerializer,
        responses={200: s.ClaimBatchResponseSerializer},
        parameters=[IDEMPOTENCY_PARAMETER],
        examples=[
            OpenApiExample(
                "batch",
                request_only=True,
                value={
                    "items": [
                        {
                            "order": {
                                "merchant": 1,
                                "platform_id": "order-1001",
                                "buyer": {"platform_id": "buyer-9", "display_name": "张三"},
                                "items": [{"title": "陶瓷杯 Ceramic mug", "unit_price": "199.00"}],
                                "paid_at": "2025-11-01T10:00:00+08:00",
                            },
                            "claim": {
                                "amount": "199.00",
                                "reason": "damaged",
                                "platform_id": "claim-77",
                            },
                        },
                        {"claim": {"order": 5007, "amount": "59.00", "reason": "damaged"}},
                    ]
                },
            )
        ],
    )
    @action(
        detail=False,
        methods=["post"],
        url_path="batch",
        filter_backends=[],
        pagination_class=None,
        throttle_classes=[PlatformClientRateThrottle, ClaimBatchRateThrottle],
    )
    @idempotent
    def batch(self, request):
        return Response(_claim_batch(request, self.client), status=status.HTTP_200_OK)

    @extend_schema(
        methods=["GET"],
        summary="Evidence files of a claim, with their check status",
        responses={200: s.EvidenceFileSerializer(many=True)},
    )
    @extend_schema(
        methods=["POST"],
        summary="Add evidence files to a claim (multipart `file`)",
        request={"multipart/form-data": s.ClaimEvidenceUploadSerializer},
        responses={201: s.UploadResultSerializer},
        parameters=[IDEMPOTENCY_PARAMETER],
    )
    @action(
        detail=True,
        methods=["get", "post"],
        pagination_class=None,
        parser_classes=[MultiPartParser],
        filter_backends=[],
    )
    def evidence(self, request, pk=None):
        if request.method == "POST":
            return self._add_evidence(request)
        claim = self.get_object()
        files = selectors.evidence_for_claim(claim=claim)
        return Response(s.EvidenceFileSerializer(files, many=True).data)

    @idempotent
    def _add_evidence(self, request):
        claim = self.get_object()
        return _upload(request, s.ClaimEvidenceUploadSerializer, claim=claim)

    @extend_schema(
        summary="What the checks found (messages in the Accept-Language language)",
        responses={200: s.FindingSerializer(many=True)},
        parameters=[LANGUAGE_PARAMETER],
    )
    @action(detail=True, methods=["get"], pagination_class=None, filter_backends=[])
    def findings(self, request, pk=None):
        claim = self.get_object()
        findings = selectors.findings_for_claim(claim=claim)
        return Response(s.FindingSerializer(findings, many=True, context={"request": request}).data)

    @extend_schema(summary="Decisions on a claim", responses={200: s.DecisionSerializer(many=True)})
    @action(detail=True, methods=["get"], pagination_class=None, filter_backends=[])
    def decisions(self, request, pk=None):
        claim = self.get_object()
        return Response(
            s.DecisionSerializer(selectors.decisions_for_claim(claim=claim), many=True).data
        )

    @extend_schema(
        summary="Withdraw a claim (the buyer gave up)",
        request=s.WithdrawSerializer,
        responses={200: s.ClaimSerializer},
        parameters=[IDEMPOTENCY_PARAMETER],
    )
    @action(detail=True, methods=["post"], filter_backends=[])
    @idempotent
    def withdraw(self, request, pk=None):
        claim = self.get_object()
        serializer = s.WithdrawSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        claim_withdraw(
            claim=claim,
            actor=Actor.platform(self.client.name),
            reason=serializer.validated_data["reason"],
        )
        claim = self.get_queryset().get(pk=claim.pk)
        return Response(s.ClaimSerializer(claim).data)


def _claim_batch(request, client) -> dict:
    """Parse each item on its own, look the shops and products of all up at once among
    the client's, hand the valid ones to ``claims_ingest`` (the services of the single
    endpoints), and answer one result per item."""
    items = request.data.get("items") if isinstance(request.data, dict) else None
    if not isinstance(items, list) or not items:
        raise ValidationError(
            {"items": [_("A list of 1 to %(count)s items.") % {"count": s.MAX_BATCH_ITEMS}]}
        )
    if len(items) > s.MAX_BATCH_ITEMS:
        raise ProblemError(
            _("At most %(count)s items per batch; this one has %(given)s.")
            % {"count": s.MAX_BATCH_ITEMS, "given": len(items)},
            code="batch_too_large",
            status_code=413,
        )
    results: list[dict | None] = [None] * len(items)
    parser = s.ClaimBatchItemSerializer(context={"request": request})
    parsed = []
    for index, item in enumerate(items):
        try:
            parsed.append((index, parser.run_validation(item)))
        except ValidationError as exc:
            results[index] = _refused(index, 400, "validation_error", exc.detail)
    new = [d["order"] for _i, d in parsed if "order" in d]
    shops = selectors.merchants_by_id(client=client, ids=(order["merchant"] for order in new))
    products = selectors.products_by_id(
        client=client,
        ids=(i["product"] for order in new for i in order["items"] if i.get("product")),
    )
    recorded = selectors.orders_by_id(
        client=client, ids=(d["claim"]["order"] for _i, d in parsed if "order" in d["claim"])
    )
    entries, places = [], []
    for index, data in parsed:
        claim = data["claim"]
        if "order" in claim:  # an order recorded before
            order_id = claim.pop("order")
            if order_id not in recorded:
                results[index] = _refused(
                    index, 400, "validation_error", {"claim": {"order": [_unknown(order_id)]}}
                )
                continue
            entries.append((recorded[order_id], services.ClaimInput(**claim)))
            places.append(index)
            continue
        order = data["order"]
        missing = {}
        if order["merchant"] not in shops:
            missing["merchant"] = [_unknown(order["merchant"])]
        for n, item in enumerate(order["items"]):
            if item.get("product") and item["product"] not in products:
                missing.setdefault("items", {})[n] = {"product": [_unknown(item["product"])]}
        if missing:
            results[index] = _refused(index, 400, "validation_error", {"order": missing})
            continue
        entries.append(
            (
                services.OrderInput(
                    merchant=shops[order["merchant"]],
                    platform_id=order["platform_id"],
                    buyer=services.BuyerInput(**order["buyer"]),
                    items=_item_inputs(order["items"], products),
                    paid_at=order["paid_at"],
                    shipped_at=order["shipped_at"],
                    delivered_at=order["delivered_at"],
                    total_amount=order["total_amount"],
                    shipping_address=order["shipping_address"],
                ),
                services.ClaimInput(**claim),
            )
        )
        places.append(index)
    outcomes = services.claims_ingest(
        entries=entries, tenant=client.tenant_id, actor=Actor.platform(client.name)
    )
    for index, outcome in zip(places, outcomes, strict=True):
        if outcome.error is None:
            results[index] = {
                "index": index,
                "status": 201,
                "order": outcome.order.pk,
                "claim": outcome.claim.pk,
                "claim_status": outcome.claim.status,
            }
            continue
        problem = translate_domain_exception(outcome.error)
        results[index] = {
            **_refused(index, problem.status_code, str(problem.detail.code), problem.detail),
            "order": outcome.existing_order_id,
            "claim": outcome.existing_claim_id,
        }
    created = sum(1 for r in results if r["status"] == 201)
    return {"created": created, "refused": len(results) - created, "results": results}


def _unknown(pk) -> str:
    return PrimaryKeyRelatedField.default_error_messages["does_not_exist"].format(pk_value=pk)


def _refused(index: int, status_code: int, code: str, detail) -> dict:
    if isinstance(detail, dict | list):
        return {
            "index": index,
            "status": status_code,
            "order": None,
            "claim": None,
            "code": code,
            "detail": _("The item has invalid fields; see “errors”."),
            "errors": flatten_errors(detail),
        }
    return {
        "index": index,
        "status": status_code,
        "order": None,
        "claim": None,
        "code": code,
        "detail": str(detail),
    }


# --- Webhook endpoints --------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(summary="This client's webhook endpoints"),
    retrieve=extend_schema(summary="One webhook endpoint"),
    update=extend_schema(summary="Replace a webhook endpoint"),
    partial_update=extend_schema(summary="Change a webhook endpoint"),
    destroy=extend_schema(summary="Delete a webhook endpoint"),
)
class WebhookEndpointViewSet(
    ApiView,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    serializer_class = s.WebhookEndpointSerializer
    lookup_value_regex = r"[0-9]+"

    def get_queryset(self):
        return self.scoped(selectors.webhook_endpoints_for_client, WebhookEndpoint)

    @extend_schema(
        summary="Register a webhook endpoint; the signing secret is returned only here",
        request=s.WebhookEndpointSerializer,
        responses={201: s.WebhookEndpointCreatedSerializer},
        parameters=[IDEMPOTENCY_PARAMETER],
    )
    @idempotent
    def create(self, request):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        endpoint, secret = services.webhook_endpoint_create(
            client=self.client, **serializer.validated_data
        )
        body = {**s.WebhookEndpointSerializer(endpoint).data, "secret": secret}
        return Response(body, status=status.HTTP_201_CREATED)

    def perform_update(self, serializer):
        services.webhook_endpoint_update(endpoint=serializer.instance, **serializer.validated_data)

    def perform_destroy(self, instance):
        services.webhook_endpoint_delete(endpoint=instance)


# --- Artifacts ----------------------------------------------------------------------------


class ArtifactView(ApiView, APIView):
    """A finding's artifact image behind a signed, 10-minute, client-bound URL."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    schema_public = True

    @extend_schema(
        summary="Download an artifact image (signed URL from the findings)",
        auth=[],
        responses={
            (200, "image/png"): OpenApiResponse(
                OpenApiTypes.BINARY, description="The image, streamed."
            )
        },
    )
    def get(self, request, token: str):
        found = signing.read_artifact_token(token)
        if found is None:
            raise Http404
        artifact = selectors.artifact_for_client(artifact_id=found[0], client_id=found[1])
        if artifact is None or not artifact.image:
            raise Http404
        response = FileResponse(artifact.image.open("rb"), content_type="image/png")
        response["Cache-Control"] = f"private, max-age={signing.MAX_AGE_SECONDS}"
        response["X-Content-Type-Options"] = "nosniff"
        return response
