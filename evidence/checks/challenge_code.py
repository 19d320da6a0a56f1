"""The challenge photo: a one-time code the reviewer issued, written on paper by the buyer
and photographed beside the item. A photo made before the code existed, or a picture
found elsewhere, cannot show it.

Promises: runs only on a buyer's (or the platform's) photo for a claim whose reviewer
asked for a challenge code (``CheckContext.challenge_code``); OCR with Debian's
``tesseract-ocr`` through pytesseract on a few binarised versions of the working copy;
reports what it read (the reviewer confirms: handwriting is hard), or that the code was
not found, and a capture time (EXIF) earlier than the code was issued. No database, no
network.
"""

from __future__ import annotations

import re
import secrets

import cv2
import numpy as np
from django.utils.translation import gettext_noop

from evidence.checks.base import Check, CheckContext, FindingData, Severity
from evidence.checks.metadata import (
    IFD_EXIF,
    TAG_DATETIME_ORIGINAL,
    TAG_OFFSET_TIME_ORIGINAL,
    exif_text,
    parse_exif_datetime,
)
from evidence.imaging import DecodedImage

# No 0/O, 1/I/L, 2/Z, 5/S, 8/B, 6/G: characters a buyer's hand or the OCR confuses.
ALPHABET = "ACDEFHJKMNPRTUVWXY3479"
CODE_LENGTH = 6
# What a character read may stand for besides itself, matched at no cost: a character the
# alphabet leaves out (a 9 or a D blurred into an O, a T or a 7 into a 1), and the one pair
# of the alphabet the OCR mixes up (7 and T: measured, 1 code in 300).
READS_AS = {
    "O": "D9",
    "0": "D9",
    "Q": "D9",
    "I": "T7",
    "1": "T7",
    "L": "T",
    "T": "7",
    "7": "T",
}
OCR_TIMEOUT_SECONDS = 20
OCR_CONFIGS = ("--psm 7", "--psm 6", "--psm 11")


def new_code(length: int = CODE_LENGTH) -> str:
    """A fresh one-time code from the unambiguous alphabet."""
    return "".join(secrets.choice(ALPHABET) for _ in range(length))


def normalise(text: str) -> str:
    return re.sub(r"[^A-Z0-9]", "", text.upper())


def _reads_as(read: str, wanted: str) -> bool:
    return read == wanted or wanted in READS_AS.get(read, "")


def _distance(read: str, code: str) -> int:
    """Levenshtein distance from what was read to the code (codes are short), a
    character the alphabet leaves out costing nothing where it may stand for the code's."""
    previous = list(range(len(code) + 1))
    for i, ca in enumerate(read, 1):
        current = [i]
        for j, cb in enumerate(code, 1):
            substitution = previous[j - 1] + (not _reads_as(ca, cb))
            current.append(min(previous[j] + 1, current[j - 1] + 1, substitution))
        previous = current
    return previous[-1]


def find_code(text: str, code: str) -> tuple[str, int] | None:
    """The stretch of OCR text closest to ``code`` and its edit distance, when it is
    within one character (a misread letter); None otherwise."""
    flat = normalise(text)
    best: tuple[str, int] | None = None
    for width in (len(code) - 1, len(code), len(code) + 1):
        for start in range(max(len(flat) - width + 1, 0)):
            window = flat[start : start + width]
            distance = _distance(window, code)
            if best is None or distance < best[1]:
                best = (window, distance)
    return best if best is not None and best[1] <= 1 else None


def _order_corners(points: np.ndarray) -> np.ndarray:
    """Top-left, top-right, bottom-right, bottom-left."""
    points = points.reshape(4, 2).astype(np.float32)
    by_sum = points.sum(axis=1)
    by_diff = np.diff(points, axis=1).ravel()
    return np.float32(
        [
            points[np.argmin(by_sum)],
            points[np.argmin(by_diff)],
            points[np.argmax(by_sum)],
            points[np.argmax(by_diff)],
        ]
    )


def _masks(grey: np.ndarray) -> list[np.ndarray]:
    """Bright regions at a few levels: Otsu's, and the brightest tenth and twentieth of
    the frame (a white sheet on a light table merges with it at Otsu's level)."""
    _t, otsu = cv2.threshold(grey, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    masks = [otsu]
    for percentile in (90, 95):
        level = float(np.percentile(grey, percentile)) - 10
        masks.append(((grey >= level) * 255).astype(np.uint8))
    kernel = np.ones((5, 5), np.uint8)
    return [cv2.morphologyEx(mask, cv2.MORPH_CLOSE, kernel) for mask in masks]


def paper_sheets(grey: np.ndarray, limit: int = 3) -> list[np.ndarray]:
    """The bright four-sided shapes of the photo (a sheet of paper seen at an angle),
    largest first, each warped back to a flat rectangle."""
    min_area = 0.005 * grey.shape[0] * grey.shape[1]
    sheets = []
    for mask in _masks(grey):
        contours, _h = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        for contour in sorted(contours, key=cv2.contourArea, reverse=True)[: limit * 3]:
            if cv2.contourArea(contour) < min_area:
                break
            quad = cv2.approxPolyDP(contour, 0.03 * cv2.arcLength(contour, True), True)
            if len(quad) != 4:
                continue
            sheets.append(_flatten(grey, _order_corners(quad)))
            break  # the largest sheet at this level
        if len(sheets) == limit:
            break
    return sheets


def _flatten(grey: np.ndarray, corners: np.ndarray) -> np.ndarray:
    width = int(max(np.linalg.norm(corners[1] - corners[0]), 1))
    height = int(max(np.linalg.norm(corners[3] - corners[0]), 1))
    scale = 240 / height  # tesseract likes capitals some 50-100 px high
    size = (max(int(width * scale), 1), 240)
    target = np.float32([[0, 0], [size[0], 0], [size[0], size[1]], [0, size[1]]])
    return cv2.warpPerspective(grey, cv2.getPerspectiveTransform(corners, target), size)


def _pictures(working: np.ndarray) -> list[np.ndarray]:
    """Binarised pictures to read: each paper sheet found, flattened, then the whole
    frame as a fallback."""
    grey = cv2.cvtColor(working, cv2.COLOR_BGR2GRAY)
    candidates = [*paper_sheets(grey), grey]
    pictures = []
    for picture in candidates:
        picture = cv2.GaussianBlur(picture, (3, 3), 0)
        _t, binary = cv2.threshold(picture, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
        # a white border: the sheet's edge must not touch the letters
        pictures.append(cv2.copyMakeBorder(binary, 20, 20, 20, 20, cv2.BORDER_CONSTANT, value=255))
    return pictures


def read_code(working: np.ndarray, code: str) -> tuple[str, str, int] | None:
    """OCR the image looking for ``code``: (the text read, the matching stretch, its
    distance) for the closest reading, or None when no reading comes within one
    character."""
    import pytesseract

    whitelist = f"-c tessedit_char_whitelist={ALPHABET}{'OQIL01'}"
    best: tuple[str, str, int] | None = None
    for picture in _pictures(working):
        for config in OCR_CONFIGS:
            try:
                text = pytesseract.image_to_string(
                    picture, config=f"{config} {whitelist}", timeout=OCR_TIMEOUT_SECONDS
                )
            except (pytesseract.TesseractError, RuntimeError):
                # tesseract gave up on this picture (or ran out of time): try the next
                continue
            found = find_code(text, code)
            if found and (best is None or found[1] < best[2]):
                best = (" ".join(text.split()), *found)
                if found[1] == 0:
                    return best
    return best


def capture_time(image: DecodedImage):
    try:
        sub = image.exif.get_ifd(IFD_EXIF)
    except Exception:  # noqa: BLE001 - a damaged EXIF block is no capture time
        return None
    parsed = parse_exif_datetime(
        exif_text(sub.get(TAG_DATETIME_ORIGINAL)), exif_text(sub.get(TAG_OFFSET_TIME_ORIGINAL))
    )
    return parsed[0] if parsed else None


class ChallengeCodeCheck(Check):
    """Is the one-time code the reviewer issued legible beside the item, and was the
    photo taken after it was issued?"""

    name = "challenge_code"
    version = 2
    codes = {
        "challenge_code_read": (
            0,
            "The one-time code was read in the photo; the reviewer confirms it.",
        ),
        "challenge_code_not_found": (
            35,
            "The one-time code the buyer was asked to photograph could not be read.",
        ),
        "challenge_photo_before_code": (
            60,
            "The photo's capture time is earlier than the one-time code was issued.",
        ),
    }
    submitted_by = frozenset({"buyer", "platform"})

    def applies_to(self, image: DecodedImage, context: CheckContext) -> bool:
        return super().applies_to(image, context) and bool(context.challenge_code)

    def run(self, image: DecodedImage, context: CheckContext) -> list[FindingData]:
        code = context.challenge_code
        findings: list[FindingData] = []
        found = read_code(image.working, code)
        if found:
            text, stretch, distance = found
            findings.append(
                FindingData(
                    code="challenge_code_read",
                    severity=Severity.INFO,
                    message=gettext_noop(
                        "The one-time code %(code)s was read beside the item as “%(read)s”:"
                        " confirm it in the photo."
                    ),
                    params={"code": code, "read": stretch},
                    details={"ocr_text": text[:200], "distance": distance},
                )
            )
        else:
            findings.append(
                FindingData(
                    code="challenge_code_not_found",
                    severity=Severity.MEDIUM,
                    message=gettext_noop(
                        "The one-time code %(code)s could not be read in the photo: look for"
                        " it yourself before relying on it."
                    ),
                    params={"code": code},
                )
            )
        taken = capture_time(image)
        issued = context.challenge_issued_at
        if taken is not None and issued is not None and taken < issued:
            findings.append(
                FindingData(
                    code="challenge_photo_before_code",
                    severity=Severity.HIGH,
                    message=gettext_noop(
                        "The photo was taken on %(taken)s, before the one-time code was issued"
                        " on %(issued)s: it cannot show the code."
                    ),
                    params={
                        "taken": taken.strftime("%Y-%m-%d %H:%M"),
                        "issued": issued.strftime("%Y-%m-%d %H:%M"),
                    },
                )
            )
        return findings
