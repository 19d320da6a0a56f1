"""Uploaded files, check runs, findings and their artifacts, and scoring weights."""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from evidence import verdicts


def _original_path(instance: "EvidenceFile", filename: str) -> str:
    # Never reuse the client's file name on disk: it is kept only as data.
    return f"evidence/original/{instance.uuid.hex[:2]}/{instance.uuid.hex}"


def _display_path(instance: "EvidenceFile", filename: str) -> str:
    return f"evidence/display/{instance.uuid.hex[:2]}/{instance.uuid.hex}.jpg"


def _artifact_path(instance: "FindingArtifact", filename: str) -> str:
    return f"evidence/artifacts/{uuid.uuid4().hex}.png"


def translated(msgid: str, params) -> str:
    """A stored msgid in the active language, with its parameters filled in."""
    text = gettext(msgid) if msgid else ""
    try:
        return text % params if params else text
    except (KeyError, TypeError, ValueError):
        return text


class SubmittedBy(models.TextChoices):
    BUYER = "buyer", _("Buyer")
    MERCHANT = "merchant", _("Merchant")
    PLATFORM = "platform", _("Platform")


class AttachedTo(models.TextChoices):
    CLAIM = "claim", _("Claim")
    PRODUCT = "product", _("Product (listing photo)")
    SHIPMENT = "shipment", _("Shipment (packing evidence)")


class EvidenceFile(models.Model):
    """One uploaded file. The original is kept byte for byte; only a metadata-free
    display copy is ever shown to a merchant."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Waiting for checks")
        CHECKING = "checking", _("Checking")
        CHECKED = "checked", _("Checked")
        REJECTED = "rejected", _("Rejected")
        FAILED = "failed", _("Checks failed")

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    attached_to = models.CharField(_("attached to"), max_length=10, choices=AttachedTo.choices)
    claim = models.ForeignKey(
        "refunds.RefundClaim",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="evidence_files",
    )
    product = models.ForeignKey(
        "merchants.Product",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="photos",
    )
    shipment = models.ForeignKey(
        "merchants.Shipment",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="packing_evidence",
    )
    submitted_by = models.CharField(_("submitted by"), max_length=10, choices=SubmittedBy.choices)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    original = models.FileField(_("original file"), upload_to=_original_path, max_length=200)
    display = models.FileField(
        _("display copy"), upload_to=_display_path, max_length=200, blank=True
    )
    original_name = models.CharField(_("original file name"), max_length=255, blank=True)
    sha256 = models.CharField(_("SHA-256"), max_length=64)
    content_type = models.CharField(_("content type (from bytes)"), max_length=40)
    size = models.PositiveBigIntegerField(_("size (bytes)"))
    width = models.PositiveIntegerField(_("width"), null=True, blank=True)
    height = models.PositiveIntegerField(_("height"), null=True, blank=True)
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.PENDING
    )
    rejection_code = models.CharField(max_length=40, blank=True)
    rejection_message = models.TextField(_("rejection"), blank=True)
    # 64-bit pHash stored signed, and split in four 16-bit chunks for multi-index hashing.
    phash = models.BigIntegerField(null=True, blank=True)
    phash_0 = models.PositiveIntegerField(null=True, blank=True)
    phash_1 = models.PositiveIntegerField(null=True, blank=True)
    phash_2 = models.PositiveIntegerField(null=True, blank=True)
    phash_3 = models.PositiveIntegerField(null=True, blank=True)
    # Reference features (ORB descriptors, hashes) cached for listing and packing photos.
    features = models.BinaryField(null=True, blank=True, editable=False)
    # A listing or packing photo the shop no longer uses: kept (it is evidence), but no
    # longer a reference for new checks.
    retired_at = models.DateTimeField(_("retired at"), null=True, blank=True)
    # Packing videos: the length; their kept frames point back at them, with their time.
    duration = models.FloatField(_("duration (s)"), null=True, blank=True)
    source_video = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="frames",
        verbose_name=_("source video"),
    )
    frame_time = models.FloatField(_("frame time (s)"), null=True, blank=True)
    check_attempts = models.PositiveSmallIntegerField(default=0)
    checking_since = models.DateTimeField(null=True, blank=True)
    checked_at = models.DateTimeField(_("checked at"), null=True, blank=True)
    created_at = models.DateTimeField(_("uploaded at"), auto_now_add=True)

    class Meta:
        verbose_name = _("evidence file")
        verbose_name_plural = _("evidence files")
        ordering = ["created_at"]
        constraints = [
            models.CheckConstraint(
                condition=(
                    Q(
                        attached_to="claim",
                        claim__isnull=False,
                        product__isnull=True,
                        shipment__isnull=True,
                    )
                    | Q(
                        attached_to="product",
                        claim__isnull=True,
                        product__isnull=False,
                        shipment__isnull=True,
                    )
                    | Q(
                        attached_to="shipment",
                        claim__isnull=True,
                        product__isnull=True,
                        shipment__isnull=False,
                    )
                ),
                name="evidence_attached_to_exactly_one",
            ),
            models.CheckConstraint(
                condition=Q(submitted_by__in=SubmittedBy.values), name="evidence_submitter_valid"
            ),
            # The same bytes twice on one claim is a duplicate submission, not new evidence.
            models.UniqueConstraint(
                fields=["claim", "sha256"],
                condition=Q(claim__isnull=False),
                name="evidence_unique_file_per_claim",
            ),
        ]
        indexes = [
            models.Index(fields=["sha256"], name="evidence_by_sha256"),
            # The near-duplicate lookup's four chunk indexes (evidence.selectors
            # .near_duplicates): claim photos only, each carrying the full hash so that
            # PostgreSQL verifies a candidate from the index, never from the table.
            *(
                models.Index(
                    fields=[f"phash_{i}"],
                    include=["phash", "id"],
                    condition=Q(attached_to="claim", phash__isnull=False),
                    name=f"evidence_mih_{i}",
                )
                for i in range(4)
            ),
            # The reconciler looks only at files not yet settled.
            models.Index(
                fields=["created_at"],
                condition=Q(status__in=["pending", "checking"]),
                name="evidence_unsettled",
            ),
        ]

    def __str__(self) -> str:
        return self.original_name or str(self.uuid)

    @property
    def is_image(self) -> bool:
        return self.content_type.startswith("image/")

    @property
    def is_video(self) -> bool:
        return self.content_type.startswith("video/")

    @property
    def current_verdict(self) -> "EvidenceVerdict | None":
        """The verdict shown beside the file (prefetched by ``evidence_for_claim``)."""
        if hasattr(self, "current_verdicts"):
            return self.current_verdicts[0] if self.current_verdicts else None
        return self.verdicts.filter(is_current=True).first()


class CropHash(models.Model):
    """A claim photo's pHash after cutting ``top``, ``bottom``, ``left`` and ``right`` per
    cent off those sides (one of ``evidence.hashing.CROP_BOXES``): the near-duplicate
    index's further entries for it, so that a later photo cut from it is still found
    (``evidence.selectors.near_duplicates``). ``percent`` is the most cut off any one side
    (what the index reports: covered by its indexes). Written with the file's own hash,
    when it is checked."""

    evidence = models.ForeignKey(EvidenceFile, on_delete=models.CASCADE, related_name="crop_hashes")
    percent = models.PositiveSmallIntegerField()
    top = models.PositiveSmallIntegerField(default=0)
    bottom = models.PositiveSmallIntegerField(default=0)
    left = models.PositiveSmallIntegerField(default=0)
    right = models.PositiveSmallIntegerField(default=0)
    phash = models.BigIntegerField()
    # The multi-index keys of ``evidence.hashing.crop_hash_chunks`` (21, 21 and 22 bits),
    # not the whole pictures' four 16-bit chunks: see ``hashing.CROP_CHUNK_BITS``.
    chunk_0 = models.PositiveIntegerField()
    chunk_1 = models.PositiveIntegerField()
    chunk_2 = models.PositiveIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["evidence", "top", "bottom", "left", "right"], name="crophash_one_per_box"
            )
        ]
        indexes = [
            # As evidence_mih_<i>: the chunk, then what verifies a candidate in the index.
            models.Index(
                fields=[f"chunk_{i}"],
                include=["phash", "evidence", "percent"],
                name=f"crophash_chunk_{i}",
            )
            for i in range(3)
        ]

    def __str__(self) -> str:
        return f"{self.evidence_id} −{self.top}/{self.bottom}/{self.left}/{self.right} %"


class CheckRun(models.Model):
    """One check (name, version) run on one file. Unique: re-running is idempotent."""

    class Status(models.TextChoices):
        RUNNING = "running", _("Running")
        DONE = "done", _("Done")
        ERROR = "error", _("Error")
        SKIPPED = "skipped", _("Not applicable")

    evidence = models.ForeignKey(EvidenceFile, on_delete=models.CASCADE, related_name="check_runs")
    check_name = models.CharField(_("check"), max_length=40)
    check_version = models.PositiveIntegerField(_("version"))
    status = models.CharField(_("status"), max_length=10, choices=Status.choices)
    started_at = models.DateTimeField(_("started"))
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    duration_ms = models.FloatField(_("duration (ms)"), null=True, blank=True)
    error = models.TextField(_("error"), blank=True)

    class Meta:
        verbose_name = _("check run")
        verbose_name_plural = _("check runs")
        constraints = [
            models.UniqueConstraint(
                fields=["evidence", "check_name", "check_version"], name="check_run_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.check_name} v{self.check_version} on {self.evidence_id}"


class Finding(models.Model):
    """What a check found, in words a merchant understands (translated when shown)."""

    class Severity(models.TextChoices):
        INFO = "info", _("Information")
        LOW = "low", _("Low")
        MEDIUM = "medium", _("Medium")
        HIGH = "high", _("High")
        CRITICAL = "critical", _("Critical")
        ERROR = "error", _("Check error")

    check_run = models.ForeignKey(CheckRun, on_delete=models.CASCADE, related_name="findings")
    evidence = models.ForeignKey(EvidenceFile, on_delete=models.CASCADE, related_name="findings")
    claim = models.ForeignKey(
        "refunds.RefundClaim",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="findings",
    )
    code = models.CharField(_("code"), max_length=64)
    severity = models.CharField(_("severity"), max_length=10, choices=Severity.choices)
    weight = models.PositiveSmallIntegerField(_("weight"), default=0)
    message = models.TextField(_("message (msgid)"))
    params = models.JSONField(default=dict, blank=True)
    details = models.JSONField(_("details"), default=dict, blank=True)
    related_evidence = models.ForeignKey(
        EvidenceFile, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("finding")
        verbose_name_plural = _("findings")
        ordering = ["-weight", "id"]
        indexes = [
            models.Index(fields=["claim", "-weight"], name="finding_by_claim"),
            models.Index(fields=["code"], name="finding_by_code"),
        ]

    def __str__(self) -> str:
        return f"{self.code} ({self.severity})"

    @property
    def display_message(self) -> str:
        """The message in the active language, with its parameters filled in."""
        return translated(self.message, self.params)


class FindingArtifact(models.Model):
    """An image a check produced (difference map, side-by-side, ELA heatmap)."""

    finding = models.ForeignKey(Finding, on_delete=models.CASCADE, related_name="artifacts")
    name = models.CharField(_("name"), max_length=40)
    caption = models.TextField(_("caption (msgid)"), blank=True)
    image = models.FileField(_("image"), upload_to=_artifact_path, max_length=200)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("artifact")
        verbose_name_plural = _("artifacts")
        constraints = [
            models.UniqueConstraint(fields=["finding", "name"], name="artifact_unique_name"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def display_caption(self) -> str:
        return gettext(self.caption) if self.caption else ""


class ScoringWeight(models.Model):
    """How many risk points a finding code adds; editable by administrators."""

    code = models.CharField(_("finding code"), max_length=64, unique=True)
    weight = models.PositiveSmallIntegerField(_("weight (0–100)"))
    description = models.CharField(_("description"), max_length=300, blank=True)
    is_active = models.BooleanField(_("counts towards the score"), default=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("scoring weight")
        verbose_name_plural = _("scoring weights")
        ordering = ["code"]
        constraints = [
            models.CheckConstraint(condition=Q(weight__lte=100), name="scoring_weight_max_100"),
        ]

    def __str__(self) -> str:
        return f"{self.code}: {self.weight}"


class ScoringThreshold(models.Model):
    """Named thresholds (e.g. 'suspicious' score that extends the merchant's window)."""

    name = models.SlugField(_("name"), max_length=40, unique=True)
    value = models.PositiveSmallIntegerField(_("value"))
    description = models.CharField(_("description"), max_length=300, blank=True)

    class Meta:
        verbose_name = _("scoring threshold")
        verbose_name_plural = _("scoring thresholds")
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} = {self.value}"


class EvidenceVerdict(models.Model):
    """The verdict on one file, computed from its findings by ``evidence.verdicts``, one
    row per rules-and-check-versions it was computed from; ``is_current`` marks the one
    shown (exactly one per file)."""

    evidence = models.ForeignKey(EvidenceFile, on_delete=models.CASCADE, related_name="verdicts")
    verdict = models.CharField(_("verdict"), max_length=20, choices=verdicts.CHOICES)
    # The findings it rests on, strongest first: code, verdict, weight, severity, message
    # (msgid), params, finding_id.
    reasons = models.JSONField(_("reasons"), default=list, blank=True)
    rules_version = models.PositiveSmallIntegerField(_("rules version"))
    check_versions = models.JSONField(_("check versions"), default=dict, blank=True)
    version_key = models.CharField(max_length=400)
    is_current = models.BooleanField(_("current"), default=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("verdict")
        verbose_name_plural = _("verdicts")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["evidence", "version_key"], name="verdict_unique_per_version"
            ),
            models.UniqueConstraint(
                fields=["evidence"],
                condition=Q(is_current=True),
                name="verdict_one_current_per_file",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.verdict} on {self.evidence_id}"

    @property
    def label(self) -> str:
        return str(verdicts.LABELS.get(self.verdict, self.verdict))

    @property
    def statement(self) -> str:
        return gettext(verdicts.STATEMENTS.get(self.verdict, ""))

    @property
    def tone(self) -> str:
        return verdicts.TONES.get(self.verdict, "info")

    @property
    def display_reasons(self) -> list[str]:
        """The reasons' messages in the active language, strongest first."""
        return [translated(r.get("message") or "", r.get("params")) for r in self.reasons]
