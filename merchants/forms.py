"""Forms of the merchant portal's pages: they parse input; the rules live in the services."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from evidence import imaging, video

MAX_FILES_PER_UPLOAD = 10
PHOTO_ACCEPT = "image/jpeg,image/png,image/webp,image/heic,image/heif,image/avif"
VIDEO_ACCEPT = "video/mp4,video/quicktime,video/webm"


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """Several files in one input (at most ``MAX_FILES_PER_UPLOAD``); each file is then
    validated by ``evidence.services.evidence_validate``, the batch attached all or none."""

    def __init__(self, *args, accept: str = PHOTO_ACCEPT, **kwargs):
        kwargs.setdefault("widget", MultipleFileInput(attrs={"accept": accept, "multiple": True}))
        super().__init__(*args, **kwargs)

    def clean(self, data, initial=None):
        single = super().clean
        if isinstance(data, list | tuple):
            files = [single(item, initial) for item in data if item]
        else:
            files = [single(data, initial)] if data else []
        if self.required and not files:
            raise forms.ValidationError(self.error_messages["required"], code="required")
        if len(files) > MAX_FILES_PER_UPLOAD:
            raise forms.ValidationError(
                _("Send at most %(count)s files at a time.") % {"count": MAX_FILES_PER_UPLOAD}
            )
        return files


class ProductPhotosForm(forms.Form):
    files = MultipleFileField(label=_("Add listing photos"))


class ReplacePhotoForm(forms.Form):
    file = forms.FileField(
        label=_("Replace with"), widget=forms.ClearableFileInput(attrs={"accept": PHOTO_ACCEPT})
    )


class PackingEvidenceForm(forms.Form):
    files = MultipleFileField(
        label=_("Add packing photos or videos"), accept=f"{PHOTO_ACCEPT},{VIDEO_ACCEPT}"
    )


def upload_limits(*, videos: bool = False) -> dict:
    """The limits stated on the page before anybody uploads (and given to upload.js)."""
    limits = {
        "max_files": MAX_FILES_PER_UPLOAD,
        "photo_mb": imaging.MAX_BYTES // 2**20,
        "photo_megapixels": imaging.MAX_PIXELS // 1_000_000,
        "max_bytes": imaging.MAX_BYTES,
        "accept": PHOTO_ACCEPT,
    }
    if videos:
        limits.update(
            video_mb=video.MAX_BYTES // 2**20,
            video_seconds=video.MAX_DURATION_SECONDS,
            video_long_side=video.MAX_LONG_SIDE,
            video_short_side=video.MAX_SHORT_SIDE,
            video_codecs=", ".join(sorted(video.CODECS)),
            max_bytes=video.MAX_BYTES,
            accept=f"{PHOTO_ACCEPT},{VIDEO_ACCEPT}",
        )
    return limits


def uploads_of(files) -> list[tuple]:
    """``(file, name)`` pairs for ``evidence_add_batch``."""
    return [(upload, upload.name or "") for upload in files]
