"""The upload limits a page states before anybody picks a file (templates/merchants/
partials/upload.html), for pages whose views do not pass them."""

from django import template

from merchants.forms import upload_limits as limits_of

register = template.Library()


@register.simple_tag
def upload_limits(*, videos: bool = False, counter_evidence: bool = False) -> dict:
    """The limits; ``counter_evidence``: those of the claim page's answer form."""
    limits = limits_of(videos=videos)
    if counter_evidence:
        from refunds.forms import MAX_COUNTER_EVIDENCE_FILES

        limits["max_files"] = MAX_COUNTER_EVIDENCE_FILES
    return limits
