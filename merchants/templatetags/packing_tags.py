"""The packing frames shown to a reviewer beside a claim's photos."""

from django import template

from merchants.selectors import packing_frames_for_claim

register = template.Library()


@register.inclusion_tag("merchants/partials/packing_frames.html")
def packing_frames(claim):
    """The frames of the order's packing videos that the reference match found in the
    claim's photos (the item filmed intact before shipment), with their time."""
    return {"frames": packing_frames_for_claim(claim=claim)}
