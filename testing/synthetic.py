"""Synthetic product photos and forgeries, deterministic from seeds.

Used by the tests, the demo data loader and the benchmark, so that nobody needs real
merchants' photos to exercise the visual checks:

* :func:`render_product_photo` draws a merchant's *listing photo*: a product (box, bottle,
  mug or phone) with a printed label, logo, barcode and surface texture on a studio
  background.
* :func:`render_other_shot` draws a *genuinely different photograph of the same product*:
  the same label and colours, but another viewpoint, distance, position, background and
  lighting, with camera-like noise. The reference-match check must not call it a copy.
* :func:`paint_damage` fakes damage on a listing photo (cracks, stains, tears) and returns
  the ground-truth box of what it painted; :func:`degrade` then crops, resizes, rotates,
  colour-jitters and re-compresses it the way a buyer's phone or editor would, or mirrors
  it or puts it on a slant (an editor's perspective tool), carrying the box along.
* :func:`render_flat_artwork` draws the listing image of a *flat printed product* (poster,
  greeting card, book cover): the artwork itself, edge to edge, as the merchant's file.
  :func:`render_printed_shot` photographs that artwork *printed* (ink and paper, a tilt,
  uneven light, white balance, vignetting, lens distortion, sensor noise, on a background
  with the paper's edges in view): an honest buyer's photo that legitimately shows the
  listing's artwork in perspective. The reference-match check must not call it a copy.
* :func:`encode_jpeg` saves with or without camera EXIF (Make, Model, DateTimeOriginal and
  optionally an embedded EXIF thumbnail, written by a small TIFF writer because Pillow does
  not write IFD1 thumbnails).

Every function is pure and deterministic: the same seeds give the same pixels.
"""

from __future__ import annotations

import datetime as dt
import io
import struct
from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np
from PIL import Image

Box = tuple[int, int, int, int]  # x0, y0, x1, y1 in pixels, x1/y1 exclusive

PRODUCT_KINDS = ("box", "bottle", "mug", "phone")
DAMAGE_KINDS = ("crack", "stain", "tear")
DEFAULT_SIZE = (1200, 900)  # width, height: about 1 MP

_WORDS = (
    "ORGANIC", "PREMIUM", "CERAMIC", "STEEL", "FRESH", "ULTRA", "NATURAL", "CLASSIC",
    "NOVA", "LUMEN", "AQUA", "TERRA", "VITA", "PRO", "MAX", "ZEN", "500ML", "250G",
    "BATCH", "LOT", "NET WT", "MADE IN", "SERIES", "EDITION",
)  # fmt: skip


@dataclass(frozen=True)
class SyntheticPhoto:
    """A rendered photo (BGR uint8) and where the product is in it."""

    image: np.ndarray
    product_box: Box
    kind: str


@dataclass(frozen=True)
class Forgery:
    """A listing photo with painted damage, and the ground truth of what was painted."""

    image: np.ndarray
    damage_box: Box
    kind: str


@dataclass(frozen=True)
class _View:
    centre: tuple[float, float]  # fraction of the frame
    height: float  # product front height as a fraction of frame height
    yaw: float  # degrees; sign chooses which side face shows
    roll: float  # degrees
    background: str  # "studio" | "table" | "fabric"
    light_angle: float  # radians, direction the light comes from
    light_strength: float  # 0 = even
    noise: float  # camera noise sigma in grey levels
    bg_seed: int


# --------------------------------------------------------------------------- products


@lru_cache(maxsize=32)
def _product_texture(product_seed: int, kind: str) -> np.ndarray:
    """The printed front of the product: what any photo of it must show the same way."""
    rng = np.random.default_rng([product_seed, 17])
    h, w = {"box": (440, 340), "bottle": (460, 260), "mug": (360, 360), "phone": (500, 250)}[kind]
    hue = int(rng.integers(0, 180))
    sat = int(rng.integers(90, 200))
    hsv = np.zeros((h, w, 3), np.uint8)
    hsv[..., 0] = hue
    hsv[..., 1] = sat
    hsv[..., 2] = np.linspace(225, 150, h, dtype=np.float32)[:, None].astype(np.uint8)
    tex = cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR).astype(np.int16)
    grain = cv2.GaussianBlur(rng.normal(0, 14, (h, w)).astype(np.float32), (0, 0), 1.3)
    tex = np.clip(tex + grain[..., None].astype(np.int16), 0, 255).astype(np.uint8)

    if kind == "phone":
        cv2.rectangle(tex, (0, 0), (w - 1, h - 1), (25, 25, 25), 14)
        screen_hue = (hue + 90) % 180
        screen = np.zeros((h - 60, w - 40, 3), np.uint8)
        screen[..., 0] = screen_hue
        screen[..., 1] = 160
        screen[..., 2] = np.linspace(90, 230, w - 40, dtype=np.float32)[None, :].astype(np.uint8)
        tex[30 : h - 30, 20 : w - 20] = cv2.cvtColor(screen, cv2.COLOR_HSV2BGR)
        for i in range(12):  # app icons
            x = 35 + (i % 4) * 52
            y = 60 + (i // 4) * 70
            colour = tuple(int(c) for c in rng.integers(30, 255, 3))
            cv2.rectangle(tex, (x, y), (x + 36, y + 36), colour, -1)
            cv2.circle(tex, (x + 18, y + 18), 9, (250, 250, 250), 2)
        label_top = h - 200
    else:
        label_top = int(h * 0.32)
    # The label: light panel, words, a logo, a barcode.
    lx0, lx1 = int(w * 0.1), int(w * 0.9)
    ly0, ly1 = label_top, min(h - 10, label_top + int(h * 0.45))
    cv2.rectangle(tex, (lx0, ly0), (lx1, ly1), (236, 240, 243), -1)
    cv2.rectangle(tex, (lx0, ly0), (lx1, ly1), (40, 40, 40), 2)
    ink = tuple(
        int(c) for c in cv2.cvtColor(np.uint8([[[hue, 230, 110]]]), cv2.COLOR_HSV2BGR)[0, 0]
    )
    cv2.circle(tex, (lx0 + 28, ly0 + 30), 18, ink, -1)
    tri = np.array([[lx0 + 18, ly0 + 40], [lx0 + 28, ly0 + 18], [lx0 + 38, ly0 + 40]], np.int32)
    cv2.fillConvexPoly(tex, tri, (245, 245, 245))
    y = ly0 + 38
    for line in range(4):
        words = " ".join(str(rng.choice(_WORDS)) for _ in range(2))
        scale = 0.85 if line == 0 else 0.5
        x = lx0 + (58 if line == 0 else 10)
        cv2.putText(tex, words, (x, y), cv2.FONT_HERSHEY_DUPLEX, scale, ink, 2 if line == 0 else 1)
        y += 30 if line == 0 else 22
    bars_x = lx0 + 12
    while bars_x < lx1 - 14 and y + 40 < ly1:
        bw = int(rng.integers(1, 4))
        if rng.random() < 0.55:
            cv2.rectangle(tex, (bars_x, y), (bars_x + bw, y + 34), (20, 20, 20), -1)
        bars_x += bw + 1
    # Decorative pattern above the label: gives the product structure outside the label.
    for _ in range(10):
        cx, cy = int(rng.integers(10, w - 10)), int(rng.integers(10, max(12, label_top - 10)))
        colour = tuple(int(c) for c in rng.integers(40, 250, 3))
        if rng.random() < 0.5:
            cv2.circle(tex, (cx, cy), int(rng.integers(6, 22)), colour, -1)
        else:
            cv2.rectangle(tex, (cx, cy), (cx + int(rng.integers(10, 40)), cy + 8), colour, -1)
    tex.setflags(write=False)
    return tex


def _product_kind(product_seed: int, kind: str | None) -> str:
    if kind is not None:
        if kind not in PRODUCT_KINDS:
            raise ValueError(f"unknown product kind {kind!r}")
        return kind
    return PRODUCT_KINDS[int(np.random.default_rng([product_seed, 3]).integers(len(PRODUCT_KINDS)))]


# ------------------------------------------------------------------------ rendering


def _background(view: _View, w: int, h: int) -> np.ndarray:
    rng = np.random.default_rng([view.bg_seed, 5])
    ys = np.linspace(0.0, 1.0, h, dtype=np.float32)[:, None, None]
    if view.background == "studio":
        top = np.array([246, 246, 246], np.float32) - rng.uniform(0, 12, 3).astype(np.float32)
        bottom = top - 28
        bg = np.broadcast_to(top + (bottom - top) * ys, (h, w, 3)).copy()
    else:
        wall = rng.uniform(90, 220, 3).astype(np.float32)
        table = rng.uniform(40, 170, 3).astype(np.float32)
        horizon = int(h * rng.uniform(0.3, 0.55))
        bg = np.empty((h, w, 3), np.float32)
        bg[:horizon] = wall
        bg[horizon:] = table
        if view.background == "table":  # wood-like grain along x
            grain = rng.normal(0, 1, (max(1, h - horizon), 1)).astype(np.float32)
            grain = cv2.GaussianBlur(np.repeat(grain, 8, axis=1), (0, 0), 2)[:, :1]
            bg[horizon:] += 18 * grain[..., None]
        else:  # fabric: fine weave
            weave = rng.normal(0, 9, (h, w)).astype(np.float32)
            bg += cv2.GaussianBlur(weave, (0, 0), 1.0)[..., None]
        cv2.line(bg, (0, horizon), (w, horizon), tuple(float(c) for c in table * 0.7), 3)
    return bg


def _render(product_seed: int, kind: str, view: _View, size: tuple[int, int]) -> SyntheticPhoto:
    w, h = size
    rng = np.random.default_rng([product_seed, view.bg_seed, 11])
    tex = _product_texture(product_seed, kind)
    th, tw = tex.shape[:2]
    canvas = _background(view, w, h)

    ph = view.height * h
    pw = ph * tw / th
    yaw = np.radians(view.yaw)
    fw = pw * np.cos(yaw)
    shrink = 1.0 - 0.35 * abs(np.sin(yaw))  # far edge looks shorter: perspective
    cx, cy = view.centre[0] * w, view.centre[1] * h
    near_left = view.yaw < 0
    left_h = ph if near_left else ph * shrink
    right_h = ph * shrink if near_left else ph
    quad = np.array(
        [
            [cx - fw / 2, cy - left_h / 2],
            [cx + fw / 2, cy - right_h / 2],
            [cx + fw / 2, cy + right_h / 2],
            [cx - fw / 2, cy + left_h / 2],
        ],
        np.float32,
    )
    roll = cv2.getRotationMatrix2D((float(cx), float(cy)), view.roll, 1.0)
    quad = cv2.transform(quad[None], roll)[0]

    # Soft contact shadow first, under everything.
    shadow = np.zeros((h, w), np.float32)
    bottom_mid = (quad[2] + quad[3]) / 2
    cv2.ellipse(
        shadow,
        (int(bottom_mid[0]), int(bottom_mid[1])),
        (int(pw * 0.7), int(ph * 0.08)),
        0,
        0,
        360,
        1.0,
        -1,
    )
    shadow = cv2.GaussianBlur(shadow, (0, 0), max(3.0, ph * 0.04))
    canvas *= (1.0 - 0.45 * shadow)[..., None]

    base = np.float32(tex[th // 2, 4]) if kind != "phone" else np.float32([30, 30, 30])
    depth = pw * 0.45 * abs(np.sin(yaw)) + 4
    side = -1.0 if near_left else 1.0
    far = 1 if near_left else 0  # index of the far vertical edge's top corner in quad
    far_top, far_bottom = (quad[1], quad[2]) if far else (quad[0], quad[3])
    offset = np.float32([side * depth, -depth * 0.35])
    if kind == "box":
        side_face = np.array([far_top, far_top + offset, far_bottom + offset, far_bottom])
        top_face = np.array([quad[0], quad[0] + offset, quad[1] + offset, quad[1]])
        cv2.fillConvexPoly(canvas, side_face.astype(np.int32), tuple(float(c) for c in base * 0.62))
        cv2.fillConvexPoly(canvas, top_face.astype(np.int32), tuple(float(c) for c in base * 0.85))
    elif kind == "bottle":
        top_mid = (quad[0] + quad[1]) / 2
        neck_w = fw * 0.28
        cap = np.array(
            [
                [top_mid[0] - neck_w / 2, top_mid[1] - ph * 0.18],
                [top_mid[0] + neck_w / 2, top_mid[1] - ph * 0.18],
                [top_mid[0] + fw * 0.45, top_mid[1] + 2],
                [top_mid[0] - fw * 0.45, top_mid[1] + 2],
            ]
        )
        cv2.fillConvexPoly(canvas, cap.astype(np.int32), tuple(float(c) for c in base * 0.8))
        cv2.rectangle(
            canvas,
            (int(top_mid[0] - neck_w / 2), int(top_mid[1] - ph * 0.27)),
            (int(top_mid[0] + neck_w / 2), int(top_mid[1] - ph * 0.17)),
            (40.0, 40.0, 45.0),
            -1,
        )
    elif kind == "mug":
        mid = (far_top + far_bottom) / 2
        cv2.ellipse(
            canvas,
            (int(mid[0]), int(mid[1])),
            (int(pw * 0.22 + depth * 0.3), int(ph * 0.28)),
            0,
            -90 if side > 0 else 90,
            90 if side > 0 else 270,
            tuple(float(c) for c in base * 0.7),
            max(4, int(ph * 0.06)),
        )
        top_mid = (quad[0] + quad[1]) / 2
        cv2.ellipse(
            canvas,
            (int(top_mid[0]), int(top_mid[1])),
            (int(fw / 2), int(ph * 0.06)),
            0,
            0,
            360,
            tuple(float(c) for c in base * 0.5),
            -1,
        )
    else:  # phone: a thin dark edge on the far side
        side_face = np.array(
            [far_top, far_top + offset * 0.2, far_bottom + offset * 0.2, far_bottom]
        )
        cv2.fillConvexPoly(canvas, side_face.astype(np.int32), (35.0, 35.0, 38.0))

    src = np.float32([[0, 0], [tw, 0], [tw, th], [0, th]])
    matrix = cv2.getPerspectiveTransform(src, quad.astype(np.float32))
    x0, y0 = np.floor(quad.min(axis=0)).astype(int)
    x1, y1 = np.ceil(quad.max(axis=0)).astype(int)
    x0, y0, x1, y1 = max(0, x0), max(0, y0), min(w, x1), min(h, y1)
    shift = np.float64([[1, 0, -x0], [0, 1, -y0], [0, 0, 1]])
    local = cv2.warpPerspective(
        tex, shift @ matrix, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR
    ).astype(np.float32)
    mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
    cv2.fillConvexPoly(mask, np.round(quad - [x0, y0]).astype(np.int32), 1)
    region = canvas[y0:y1, x0:x1]
    region[mask > 0] = local[mask > 0]

    if view.light_strength > 0:
        xs = np.linspace(-1, 1, w, dtype=np.float32)[None, :]
        ys = np.linspace(-1, 1, h, dtype=np.float32)[:, None]
        ramp = np.cos(view.light_angle) * xs + np.sin(view.light_angle) * ys
        canvas *= (1.0 + view.light_strength * ramp)[..., None]
    if view.noise > 0:
        canvas += rng.normal(0, view.noise, (h, w, 1)).astype(np.float32)
    image = np.clip(canvas, 0, 255).astype(np.uint8)
    if view.noise > 0:
        image = cv2.GaussianBlur(image, (3, 3), 0.6)

    all_pts = np.vstack([quad, quad + offset])
    bx0, by0 = np.floor(all_pts.min(axis=0)).astype(int)
    bx1, by1 = np.ceil(all_pts.max(axis=0)).astype(int)
    if kind == "bottle":
        by0 = int(min(by0, (quad[0][1] + quad[1][1]) / 2 - ph * 0.27))
    box = (max(0, int(bx0)), max(0, int(by0)), min(w, int(bx1)), min(h, int(by1)))
    return SyntheticPhoto(image=image, product_box=box, kind=kind)


def render_product_photo(
    seed: int, *, size: tuple[int, int] = DEFAULT_SIZE, kind: str | None = None
) -> SyntheticPhoto:
    """The merchant's listing photo of product ``seed``: studio background, even light."""
    kind = _product_kind(seed, kind)
    rng = np.random.default_rng([seed, 23])
    view = _View(
        centre=(0.5 + rng.uniform(-0.05, 0.05), 0.52),
        height=0.62,
        yaw=float(rng.choice([-1, 1]) * rng.uniform(12, 20)),
        roll=0.0,
        background="studio",
        light_angle=0.0,
        light_strength=0.0,
        noise=0.0,
        bg_seed=seed,
    )
    return _render(seed, kind, view, size)


def render_other_shot(
    seed: int,
    shot_seed: int,
    *,
    size: tuple[int, int] = DEFAULT_SIZE,
    kind: str | None = None,
    similar: bool = False,
) -> SyntheticPhoto:
    """A genuinely different photograph of product ``seed`` (as a buyer would take it).

    Same product, label and colours; another viewpoint, distance, position, background
    and light, with sensor noise. ``shot_seed`` picks the shot. ``similar=True`` makes the
    hard case: nearly the listing's viewpoint (yaw within 4 degrees), a studio background
    of another tint, and light falling a little unevenly across the frame.
    """
    kind = _product_kind(seed, kind)
    rng = np.random.default_rng([seed, shot_seed, 29])
    listing_yaw = render_yaw(seed)
    if similar:
        view = _View(
            centre=(0.5 + rng.uniform(-0.1, 0.1), 0.5 + rng.uniform(-0.05, 0.05)),
            height=float(rng.uniform(0.5, 0.75)),
            yaw=listing_yaw + float(rng.uniform(-4, 4)),
            roll=float(rng.uniform(-2, 2)),
            background="studio",
            light_angle=float(rng.uniform(0, 2 * np.pi)),
            light_strength=float(rng.uniform(0.12, 0.2)),
            noise=float(rng.uniform(2.0, 3.0)),
            bg_seed=int(rng.integers(1 << 30)),
        )
        return _render(seed, kind, view, size)
    listing_yaw_sign = np.sign(listing_yaw)
    view = _View(
        centre=(0.5 + rng.uniform(-0.15, 0.15), 0.5 + rng.uniform(-0.08, 0.1)),
        height=float(rng.uniform(0.45, 0.75)),
        yaw=float(-listing_yaw_sign * rng.uniform(18, 35)),
        roll=float(rng.uniform(-8, 8)),
        background=str(rng.choice(["table", "fabric"])),
        light_angle=float(rng.uniform(0, 2 * np.pi)),
        light_strength=float(rng.uniform(0.12, 0.3)),
        noise=float(rng.uniform(2.0, 4.0)),
        bg_seed=int(rng.integers(1 << 30)),
    )
    return _render(seed, kind, view, size)


def render_yaw(seed: int) -> float:
    """The yaw (degrees) of the listing photo of product ``seed``."""
    rng = np.random.default_rng([seed, 23])
    rng.uniform(-0.05, 0.05)
    return float(rng.choice([-1, 1]) * rng.uniform(12, 20))


# ----------------------------------------------------------------- flat printed items

FLAT_KINDS = ("poster", "card", "book")
FLAT_SIZES = {"poster": (900, 1260), "card": (1200, 840), "book": (820, 1240)}


def _flat_kind(seed: int, kind: str | None) -> str:
    if kind is not None:
        if kind not in FLAT_KINDS:
            raise ValueError(f"unknown flat product kind {kind!r}")
        return kind
    return FLAT_KINDS[int(np.random.default_rng([seed, 59]).integers(len(FLAT_KINDS)))]


def _scenery(rng: np.random.Generator, w: int, h: int) -> np.ndarray:
    """A painted picture (sky, hills, a sun, scattered details): a poster's illustration."""
    ys = np.linspace(0.0, 1.0, h, dtype=np.float32)[:, None, None]
    top, bottom = rng.uniform(60, 250, 3), rng.uniform(30, 220, 3)
    picture = np.broadcast_to(top + (bottom - top) * ys, (h, w, 3)).astype(np.float32).copy()
    sun = (int(rng.uniform(0.15, 0.85) * w), int(rng.uniform(0.1, 0.4) * h))
    sun_colour = tuple(float(c) for c in rng.uniform(150, 255, 3))
    cv2.circle(picture, sun, int(rng.uniform(0.06, 0.12) * w), sun_colour, -1, cv2.LINE_AA)
    for layer in range(3):  # hills, far to near
        base = h * (0.45 + 0.15 * layer)
        xs = np.linspace(0, w, int(rng.integers(5, 9)))
        ridge = [(float(x), float(base + rng.uniform(-0.12, 0.08) * h)) for x in xs]
        poly = np.array([*ridge, (w, h), (0, h)], np.int32)
        colour = tuple(float(c) for c in rng.uniform(20, 200, 3))
        cv2.fillPoly(picture, [poly], colour, cv2.LINE_AA)
    for _ in range(int(rng.integers(18, 30))):  # details: trees, windows, birds
        x, y = int(rng.uniform(0, w)), int(rng.uniform(0.2, 1.0) * h)
        colour = tuple(float(c) for c in rng.uniform(0, 255, 3))
        size = int(rng.uniform(4, 18))
        if rng.random() < 0.5:
            cv2.rectangle(picture, (x, y), (x + size, y + 2 * size), colour, -1)
        else:
            tri = np.array([[x, y], [x + size, y - 2 * size], [x + 2 * size, y]], np.int32)
            cv2.fillConvexPoly(picture, tri, colour, cv2.LINE_AA)
    picture = cv2.GaussianBlur(picture, (0, 0), 1.0)
    texture = cv2.GaussianBlur(rng.normal(0, 7, (h, w)).astype(np.float32), (0, 0), 1.2)
    return picture + texture[..., None]


@lru_cache(maxsize=32)
def _flat_artwork(seed: int, kind: str) -> np.ndarray:
    """The artwork of flat product ``seed``: one layout per kind (a series of posters,
    cards or covers shares it), its own colours, words and picture."""
    rng = np.random.default_rng([seed, 61])
    w, h = FLAT_SIZES[kind]
    # The layout's boxes (x0, y0, x1, y1 as fractions), moved a little per product.
    layout = {
        "poster": {"picture": (0.06, 0.05, 0.94, 0.64), "title": 0.74, "lines": 0.82},
        "book": {"picture": (0.1, 0.3, 0.9, 0.78), "title": 0.16, "lines": 0.86},
        "card": {"picture": (0.06, 0.08, 0.52, 0.92), "title": 0.3, "lines": 0.5},
    }[kind]
    jitter = rng.uniform(-0.015, 0.015, 4)
    px0, py0, px1, py1 = (np.array(layout["picture"]) + jitter).clip(0.02, 0.98)
    ys = np.linspace(0.0, 1.0, h, dtype=np.float32)[:, None, None]
    paper_a, paper_b = rng.uniform(30, 245, 3), rng.uniform(30, 245, 3)
    art = np.broadcast_to(paper_a + (paper_b - paper_a) * ys, (h, w, 3)).astype(np.float32).copy()
    x0, y0, x1, y1 = round(px0 * w), round(py0 * h), round(px1 * w), round(py1 * h)
    art[y0:y1, x0:x1] = _scenery(rng, x1 - x0, y1 - y0)
    grey = float(np.mean(paper_a + paper_b) / 2)
    ink = (20.0, 20.0, 24.0) if grey > 128 else (245.0, 245.0, 240.0)
    accent = tuple(float(c) for c in rng.uniform(0, 255, 3))
    cv2.rectangle(art, (x0 - 4, y0 - 4), (x1 + 3, y1 + 3), accent, 3)
    text_x = round((0.58 if kind == "card" else 0.08) * w)
    text_w = w - text_x - round(0.06 * w)
    title = " ".join(str(rng.choice(_WORDS)) for _ in range(2))
    scale = 3.0
    (tw, _th), _ = cv2.getTextSize(title, cv2.FONT_HERSHEY_TRIPLEX, scale, 3)
    scale *= min(1.0, text_w / tw)
    title_y = round((layout["title"] + jitter[1]) * h)
    cv2.putText(art, title, (text_x, title_y), cv2.FONT_HERSHEY_TRIPLEX, scale, ink, 3, cv2.LINE_AA)
    y = round((layout["lines"] + jitter[3]) * h)
    for line in range(int(rng.integers(3, 6))):
        words = " ".join(str(rng.choice(_WORDS)) for _ in range(int(rng.integers(2, 4))))
        cv2.putText(
            art, words, (text_x, y), cv2.FONT_HERSHEY_SIMPLEX, 0.8, ink, 2 if line == 0 else 1
        )
        y += 34
    # The publisher's (or artist's) mark in a corner.
    mx, my = w - round(0.1 * w), h - round(0.06 * h)
    cv2.circle(art, (mx, my), 22, accent, -1, cv2.LINE_AA)
    cv2.putText(art, str(rng.choice(_WORDS))[:2], (mx - 15, my + 8), 0, 0.7, ink, 2)
    if kind == "card":
        cv2.rectangle(art, (8, 8), (w - 9, h - 9), accent, 4)
        cv2.rectangle(art, (18, 18), (w - 19, h - 19), ink, 1)
    out = np.clip(art, 0, 255).astype(np.uint8)
    out.setflags(write=False)
    return out


def render_flat_artwork(seed: int, *, kind: str | None = None) -> SyntheticPhoto:
    """The merchant's listing image of flat product ``seed`` (poster, card or book cover):
    the artwork file itself, edge to edge. ``product_box`` is the inner part, where
    :func:`paint_damage` paints."""
    kind = _flat_kind(seed, kind)
    art = _flat_artwork(seed, kind)
    h, w = art.shape[:2]
    return SyntheticPhoto(
        image=art.copy(), product_box=(w // 10, h // 10, w - w // 10, h - h // 10), kind=kind
    )


def _printed(art: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The artwork as ink on paper: paper white and ink black instead of 255 and 0, a
    little less saturation, dot gain (softness) and the paper's grain (float32 BGR)."""
    h, w = art.shape[:2]
    ink = art.astype(np.float32) / 255.0
    grey = ink @ np.float32([0.114, 0.587, 0.299])
    ink = grey[..., None] + (ink - grey[..., None]) * rng.uniform(0.8, 0.95)
    paper = rng.uniform(232, 250) - rng.uniform(0, 8, 3)
    black = rng.uniform(14, 34)
    printed = black + (paper - black) * np.clip(ink, 0, 1) ** rng.uniform(1.0, 1.15)
    printed = cv2.GaussianBlur(printed.astype(np.float32), (0, 0), rng.uniform(0.5, 1.0))
    grain = cv2.GaussianBlur(
        rng.normal(0, rng.uniform(0.015, 0.035), (h, w)).astype(np.float32), (0, 0), 0.7
    )
    mottle = cv2.GaussianBlur(rng.normal(0, 1, (h, w)).astype(np.float32), (0, 0), 25)
    mottle *= 0.015 / max(float(mottle.std()), 1e-6)
    return printed * (1 + grain + mottle)[..., None]


def render_printed_shot(
    seed: int,
    shot_seed: int,
    *,
    kind: str | None = None,
    size: tuple[int, int] | None = None,
    similar: bool = False,
) -> SyntheticPhoto:
    """An honest buyer's photo of flat product ``seed`` as delivered: the artwork printed
    (:func:`_printed`), lying or hanging at a tilt of 5-25 degrees, on a table, fabric or
    wall with the paper's edges and shadow in view, under light that falls unevenly, with
    another white balance, lens vignetting and barrel distortion, and sensor noise.

    ``similar=True`` is the hard case: nearly straight on (within 4 degrees), the print
    filling most of the frame, gentler light and less noise: the closest an honest photo
    comes to the listing file. ``size`` defaults to :data:`DEFAULT_SIZE`, turned to the
    artwork's orientation (the phone held as the print is)."""
    kind = _flat_kind(seed, kind)
    rng = np.random.default_rng([seed, shot_seed, 67])
    art = _flat_artwork(seed, kind)
    ah, aw = art.shape[:2]
    printed = _printed(art, rng)
    w, h = size or (DEFAULT_SIZE if aw >= ah else DEFAULT_SIZE[::-1])
    view = _View(
        centre=(0.5, 0.5),
        height=0.0,
        yaw=0.0,
        roll=0.0,
        background=str(rng.choice(["table", "fabric", "studio"])),
        light_angle=float(rng.uniform(0, 2 * np.pi)),
        light_strength=float(rng.uniform(0.04, 0.12) if similar else rng.uniform(0.06, 0.25)),
        noise=float(rng.uniform(1.0, 2.5) if similar else rng.uniform(1.5, 3.5)),
        bg_seed=int(rng.integers(1 << 30)),
    )
    canvas = _background(view, w, h)
    if similar:
        yaw, pitch = rng.uniform(-4, 4, 2)
        roll = rng.uniform(-2, 2)
        fill = rng.uniform(0.85, 0.95)
    else:
        tilt, direction = rng.uniform(5, 25), rng.uniform(0, 2 * np.pi)
        yaw, pitch = tilt * np.cos(direction), tilt * np.sin(direction)
        roll = rng.uniform(-10, 10)
        fill = rng.uniform(0.5, 0.8)
    quad = tilt_quad(aw, ah, yaw, pitch, roll, focal=rng.uniform(0.8, 1.3) * max(aw, ah))
    quad -= quad.mean(axis=0)
    span = quad.max(axis=0) - quad.min(axis=0)
    quad *= fill * min(w / span[0], h / span[1])
    room = (np.float32([w, h]) - (quad.max(axis=0) - quad.min(axis=0))) / 2
    quad += np.float32([w / 2, h / 2]) + rng.uniform(-1, 1, 2) * room * 0.8
    # The paper's shadow on what it lies on, then the paper, then its edge.
    shadow = np.zeros((h, w), np.float32)
    cv2.fillConvexPoly(shadow, np.round(quad + rng.uniform(2, 8, 2)).astype(np.int32), 1.0)
    shadow = cv2.GaussianBlur(shadow, (0, 0), rng.uniform(3, 8))
    canvas *= (1.0 - rng.uniform(0.2, 0.4) * shadow)[..., None]
    src = np.float32([[0, 0], [aw, 0], [aw, ah], [0, ah]])
    matrix = cv2.getPerspectiveTransform(src, quad)
    paper = cv2.warpPerspective(printed, matrix, (w, h), flags=cv2.INTER_AREA)
    mask = cv2.warpPerspective(
        np.ones((ah, aw), np.float32), matrix, (w, h), flags=cv2.INTER_LINEAR
    )
    canvas = canvas * (1 - mask[..., None]) + paper * mask[..., None]
    edge = tuple(
        float(c) for c in np.float32(canvas[int(quad[0, 1]) % h, int(quad[0, 0]) % w]) * 0.6
    )
    cv2.polylines(canvas, [np.round(quad).astype(np.int32)], True, edge, 1, cv2.LINE_AA)

    xs = np.linspace(-1, 1, w, dtype=np.float32)[None, :]
    ys = np.linspace(-1, 1, h, dtype=np.float32)[:, None]
    ramp = np.cos(view.light_angle) * xs + np.sin(view.light_angle) * ys
    light = 1.0 + view.light_strength * ramp
    hx, hy = rng.uniform(-1, 1, 2)
    highlight = np.exp(-((xs - hx) ** 2 + (ys - hy) ** 2) / (2 * rng.uniform(0.2, 0.5) ** 2))
    light = light + rng.uniform(0.0, 0.06 if similar else 0.1) * highlight
    radius2 = xs**2 * (w / max(w, h)) ** 2 + ys**2 * (h / max(w, h)) ** 2
    vignette = 1.0 - (rng.uniform(0.05, 0.2) if similar else rng.uniform(0.1, 0.3)) * radius2
    balance = rng.uniform(0.95, 1.05, 3) if similar else rng.uniform(0.92, 1.08, 3)
    canvas = canvas * (light * vignette)[..., None] * balance.astype(np.float32)
    # Barrel distortion of a phone's wide lens (what is left of it after the phone's own
    # correction): r_distorted = r (1 + k1 r^2), sampled back.
    k1 = rng.uniform(-0.06, 0.0)
    mx, my = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    nx, ny = (mx - w / 2) / (max(w, h) / 2), (my - h / 2) / (max(w, h) / 2)
    factor = 1 + k1 * (nx**2 + ny**2)
    canvas = cv2.remap(
        canvas.astype(np.float32),
        nx * factor * (max(w, h) / 2) + w / 2,
        ny * factor * (max(w, h) / 2) + h / 2,
        cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REFLECT,
    )
    canvas += rng.normal(0, view.noise, (h, w, 3)).astype(np.float32) * 0.6
    canvas += rng.normal(0, view.noise, (h, w, 1)).astype(np.float32)
    image = cv2.GaussianBlur(np.clip(canvas, 0, 255).astype(np.uint8), (3, 3), 0.6)
    (bx0, by0), (bx1, by1) = np.floor(quad.min(axis=0)), np.ceil(quad.max(axis=0))
    box = (max(0, int(bx0)), max(0, int(by0)), min(w, int(bx1)), min(h, int(by1)))
    return SyntheticPhoto(image=image, product_box=box, kind=kind)


# --------------------------------------------------------------------------- damage


def _mask_box(mask: np.ndarray, threshold: float = 0) -> Box:
    ys, xs = np.nonzero(mask > threshold)
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


def paint_damage(
    photo: SyntheticPhoto | np.ndarray,
    seed: int,
    *,
    kind: str | None = None,
    region: Box | None = None,
) -> Forgery:
    """Paint a crack, stain or tear on ``photo`` (inside ``region``, default the product).

    Returns the edited image and the bounding box of the pixels that changed.
    """
    if isinstance(photo, SyntheticPhoto):
        image, region = photo.image, region or photo.product_box
    else:
        image = photo
    h, w = image.shape[:2]
    region = region or (w // 4, h // 4, 3 * w // 4, 3 * h // 4)
    rng = np.random.default_rng([seed, 41])
    kind = kind or str(rng.choice(DAMAGE_KINDS))
    rx0, ry0, rx1, ry1 = region
    rw, rh = rx1 - rx0, ry1 - ry0
    start = np.array(
        [rx0 + rw * rng.uniform(0.3, 0.7), ry0 + rh * rng.uniform(0.3, 0.7)], np.float64
    )
    diag = float(np.hypot(w, h))
    out = image.astype(np.float32)
    alpha = np.zeros((h, w), np.float32)

    if kind == "crack":
        thickness = max(2, round(diag / 600))
        step = diag * 0.012
        layer = np.zeros((h, w), np.uint8)
        for branch in range(int(rng.integers(2, 4))):
            pt = start.copy()
            angle = rng.uniform(0, 2 * np.pi)
            pts = [pt.copy()]
            for _ in range(int(rng.integers(12, 22)) if branch == 0 else int(rng.integers(5, 10))):
                angle += rng.normal(0, 0.45)
                pt = pt + step * np.array([np.cos(angle), np.sin(angle)])
                pt = np.clip(pt, [rx0, ry0], [rx1 - 1, ry1 - 1])
                pts.append(pt.copy())
            cv2.polylines(
                layer, [np.round(pts).astype(np.int32)], False, 255, thickness, cv2.LINE_AA
            )
            start = pts[int(rng.integers(1, len(pts)))]
        alpha = layer.astype(np.float32) / 255.0
        colour = np.float32([25, 28, 32])
    elif kind == "stain":
        layer = np.zeros((h, w), np.float32)
        radius = min(rw, rh) * rng.uniform(0.12, 0.2)
        for _ in range(int(rng.integers(4, 8))):
            c = start + rng.normal(0, radius * 0.5, 2)
            axes = (int(radius * rng.uniform(0.4, 0.9)), int(radius * rng.uniform(0.3, 0.8)))
            cv2.ellipse(layer, (int(c[0]), int(c[1])), axes, rng.uniform(0, 180), 0, 360, 1.0, -1)
        alpha = cv2.GaussianBlur(layer, (0, 0), radius * 0.15) * rng.uniform(0.55, 0.75)
        colour = np.float32([40, 85, 125]) * rng.uniform(0.8, 1.1)
    elif kind == "tear":
        length = rw * rng.uniform(0.35, 0.6)
        angle = rng.uniform(-0.6, 0.6)
        direction = np.array([np.cos(angle), np.sin(angle)])
        normal = np.array([-direction[1], direction[0]])
        n = 24
        ts = np.linspace(-length / 2, length / 2, n)
        width = max(5.0, diag * 0.008)
        upper = [start + t * direction + normal * rng.uniform(-width, width) * 0.6 for t in ts]
        lower = [start + t * direction + normal * (width + rng.uniform(0, width)) for t in ts[::-1]]
        poly = np.round(np.array(upper + lower)).astype(np.int32)
        layer = np.zeros((h, w), np.uint8)
        cv2.fillPoly(layer, [poly], 255, cv2.LINE_AA)
        alpha = layer.astype(np.float32) / 255.0
        colour = np.float32([38, 36, 34])
        # The torn paper's bright fibrous edge along one side of the dark gap.
        fibre = np.zeros((h, w), np.uint8)
        cv2.polylines(fibre, [np.round(upper).astype(np.int32)], False, 255, 2, cv2.LINE_AA)
    else:
        raise ValueError(f"unknown damage kind {kind!r}")

    out = out * (1 - alpha[..., None]) + colour * alpha[..., None]
    changed = alpha > 0.08
    if kind == "tear":
        f = fibre[..., None].astype(np.float32) / 255.0
        out = out * (1 - f) + np.float32([235, 238, 240]) * f
        changed |= fibre > 20
    result = np.clip(out, 0, 255).astype(np.uint8)
    return Forgery(image=result, damage_box=_mask_box(changed), kind=kind)


# ------------------------------------------------------------------- degradations


def tilt_quad(
    w: int, h: int, yaw_deg: float, pitch_deg: float, roll_deg: float = 0.0, focal: float = 0.0
) -> np.ndarray:
    """Where the corners of a ``w`` x ``h`` picture land when it is tilted ``yaw`` degrees
    about its vertical axis and ``pitch`` about its horizontal one (then rolled) and seen
    by a pinhole camera of focal length ``focal`` (default: the long side, a normal lens)
    from the distance at which its centre keeps its size. Corners in the order top-left,
    top-right, bottom-right, bottom-left, about the same centre."""
    f = focal or float(max(w, h))
    yaw, pitch, roll = np.radians([yaw_deg, pitch_deg, roll_deg])
    ry = np.array([[np.cos(yaw), 0, np.sin(yaw)], [0, 1, 0], [-np.sin(yaw), 0, np.cos(yaw)]])
    rx = np.array(
        [[1, 0, 0], [0, np.cos(pitch), -np.sin(pitch)], [0, np.sin(pitch), np.cos(pitch)]]
    )
    rz = np.array([[np.cos(roll), -np.sin(roll), 0], [np.sin(roll), np.cos(roll), 0], [0, 0, 1]])
    plane = np.array(
        [[-w / 2, -h / 2, 0], [w / 2, -h / 2, 0], [w / 2, h / 2, 0], [-w / 2, h / 2, 0]]
    )
    points = plane @ (rz @ ry @ rx).T + [0, 0, f]
    return np.float32(f * points[:, :2] / points[:, 2:] + [w / 2, h / 2])


def keystone_matrix(
    w: int,
    h: int,
    yaw_deg: float,
    pitch_deg: float,
    *,
    fill: str | tuple[int, int, int] = "crop",
) -> np.ndarray:
    """The 3x3 homography :func:`degrade` applies for ``keystone=(yaw_deg, pitch_deg)``.

    ``fill="crop"``: the slanted picture is cut to the largest rectangle of the original
    aspect inside it, scaled to the original size (no blank corner shows). Otherwise the
    whole slanted picture is scaled to fit the original frame."""
    src = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
    quad = tilt_quad(w, h, yaw_deg, pitch_deg)
    tilt = cv2.getPerspectiveTransform(src, quad).astype(np.float64)
    if fill == "crop":
        # Every edge of a convex quad lies outside the box bounded by its inner corners.
        left = max(quad[0, 0], quad[3, 0])
        right = min(quad[1, 0], quad[2, 0])
        top = max(quad[0, 1], quad[1, 1])
        bottom = min(quad[2, 1], quad[3, 1])
        f = min((right - left) / w, (bottom - top) / h)
        cx, cy = (left + right) / 2, (top + bottom) / 2
        x0, y0 = cx - f * w / 2, cy - f * h / 2
    else:
        (x0, y0), (x1, y1) = quad.min(axis=0), quad.max(axis=0)
        f = max((x1 - x0) / w, (y1 - y0) / h)
        x0 -= (f * w - (x1 - x0)) / 2
        y0 -= (f * h - (y1 - y0)) / 2
    fit = np.array([[1 / f, 0, -x0 / f], [0, 1 / f, -y0 / f], [0, 0, 1]])
    return fit @ tilt


def degrade(
    image: np.ndarray,
    box: Box | None = None,
    *,
    mirror: bool = False,
    rotate_deg: float = 0.0,
    keystone: tuple[float, float] = (0.0, 0.0),
    keystone_fill: str | tuple[int, int, int] = "crop",
    crop: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0),
    scale: float = 1.0,
    brightness: float = 0.0,
    contrast: float = 0.0,
    saturation: float = 0.0,
    jpeg_quality: int | None = None,
) -> tuple[np.ndarray, Box | None]:
    """Transform ``image`` as a re-sharing would, carrying ``box`` along.

    Order: mirror (flip left-right), rotate (zoomed so that no empty corner shows, as
    phone editors "straighten"), keystone (the picture tilted by ``(yaw, pitch)`` degrees
    about its vertical and horizontal axes and seen through a normal lens, as an editor's
    perspective tool does; ``keystone_fill="crop"`` keeps the largest rectangle of the
    original aspect inside the slanted picture, a BGR colour instead shows the whole
    picture with its blank corners filled), crop (fractions of width/height from left,
    top, right, bottom), resize, colour jitter (relative: 0.1 = +10%), JPEG
    re-compression.
    """
    h, w = image.shape[:2]
    corners = None
    if box is not None:
        x0, y0, x1, y1 = box
        corners = np.float32([[x0, y0], [x1, y0], [x1, y1], [x0, y1]])
    out = image
    if mirror:
        out = np.ascontiguousarray(out[:, ::-1])
        if corners is not None:
            corners = np.float32([[w - x, y] for x, y in corners])
    if rotate_deg:
        theta = np.radians(abs(rotate_deg))
        zoom = np.cos(theta) + max(w / h, h / w) * np.sin(theta)
        matrix = cv2.getRotationMatrix2D((w / 2, h / 2), rotate_deg, zoom)
        out = cv2.warpAffine(out, matrix, (w, h), flags=cv2.INTER_LINEAR)
        if corners is not None:
            corners = cv2.transform(corners[None], matrix)[0]
    if any(keystone):
        matrix = keystone_matrix(w, h, *keystone, fill=keystone_fill)
        border = (255, 255, 255) if keystone_fill == "crop" else tuple(keystone_fill)
        out = cv2.warpPerspective(
            out, matrix, (w, h), flags=cv2.INTER_LINEAR, borderValue=tuple(float(c) for c in border)
        )
        if corners is not None:
            corners = cv2.perspectiveTransform(corners[None], matrix)[0]
    if any(crop):
        left, top, right, bottom = crop
        cx0, cy0 = round(w * left), round(h * top)
        cx1, cy1 = w - round(w * right), h - round(h * bottom)
        out = out[cy0:cy1, cx0:cx1]
        if corners is not None:
            corners = corners - np.float32([cx0, cy0])
        h, w = out.shape[:2]
    if scale != 1.0:
        nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
        interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
        out = cv2.resize(out, (nw, nh), interpolation=interp)
        if corners is not None:
            corners = corners * np.float32([nw / w, nh / h])
        h, w = nh, nw
    if brightness or contrast or saturation:
        f = out.astype(np.float32)
        if saturation:
            grey = cv2.cvtColor(out, cv2.COLOR_BGR2GRAY).astype(np.float32)[..., None]
            f = grey + (f - grey) * (1 + saturation)
        if contrast:
            f = (f - 128.0) * (1 + contrast) + 128.0
        if brightness:
            f = f * (1 + brightness)
        out = np.clip(f, 0, 255).astype(np.uint8)
    if jpeg_quality is not None:
        ok, buf = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, int(jpeg_quality)])
        out = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    new_box = None
    if corners is not None:
        bx0, by0 = np.floor(corners.min(axis=0)).astype(int)
        bx1, by1 = np.ceil(corners.max(axis=0)).astype(int)
        new_box = (max(0, int(bx0)), max(0, int(by0)), min(w, int(bx1)), min(h, int(by1)))
    return np.ascontiguousarray(out), new_box


# ------------------------------------------------------------------------- saving


def _ifd(entries: list[tuple[int, int, int, bytes]], offset: int, next_ifd: int) -> bytes:
    """One little-endian TIFF IFD at ``offset`` with its out-of-line values after it."""
    entries = sorted(entries)
    data_start = offset + 2 + 12 * len(entries) + 4
    head = struct.pack("<H", len(entries))
    data = b""
    for tag, typ, count, value in entries:
        if len(value) <= 4:
            head += struct.pack("<HHI", tag, typ, count) + value.ljust(4, b"\x00")
        else:
            head += struct.pack("<HHII", tag, typ, count, data_start + len(data))
            data += value + (b"\x00" if len(value) % 2 else b"")
    return head + struct.pack("<I", next_ifd) + data


def _ifd_size(entries: list[tuple[int, int, int, bytes]]) -> int:
    return len(_ifd(entries, 0, 0))


def _ascii(tag: int, text: str) -> tuple[int, int, int, bytes]:
    raw = text.encode("ascii") + b"\x00"
    return tag, 2, len(raw), raw


def camera_exif(
    *,
    make: str = "Canon",
    model: str = "Canon EOS 80D",
    taken_at: dt.datetime | None = None,
    software: str | None = None,
    orientation: int = 1,
    thumbnail: bytes | None = None,
) -> bytes:
    """Raw EXIF (``Exif\\0\\0`` + TIFF) as a camera writes it, with an optional IFD1 thumbnail."""
    taken_at = taken_at or dt.datetime(2025, 10, 3, 14, 22, 5, tzinfo=dt.UTC)
    stamp = taken_at.strftime("%Y:%m:%d %H:%M:%S")
    exif_entries = [
        _ascii(0x9003, stamp),
        _ascii(0x9004, stamp),
        (0x9000, 7, 4, b"0232"),
    ]
    ifd0 = [
        _ascii(0x010F, make),
        _ascii(0x0110, model),
        (0x0112, 3, 1, struct.pack("<H", orientation)),
        _ascii(0x0132, stamp),
        (0x8769, 4, 1, struct.pack("<I", 0)),
    ]
    if software:
        ifd0.append(_ascii(0x0131, software))
    ifd0_size = _ifd_size(ifd0)
    exif_offset = 8 + ifd0_size
    exif_size = _ifd_size(exif_entries)
    ifd1_offset = exif_offset + exif_size if thumbnail else 0
    ifd0 = [e if e[0] != 0x8769 else (0x8769, 4, 1, struct.pack("<I", exif_offset)) for e in ifd0]
    tiff = b"II*\x00" + struct.pack("<I", 8) + _ifd(ifd0, 8, ifd1_offset)
    tiff += _ifd(exif_entries, exif_offset, 0)
    if thumbnail:
        ifd1 = [
            (0x0103, 3, 1, struct.pack("<H", 6)),
            (0x0201, 4, 1, struct.pack("<I", 0)),
            (0x0202, 4, 1, struct.pack("<I", len(thumbnail))),
        ]
        thumb_offset = ifd1_offset + _ifd_size(ifd1)
        ifd1[1] = (0x0201, 4, 1, struct.pack("<I", thumb_offset))
        tiff += _ifd(ifd1, ifd1_offset, 0) + thumbnail
    return b"Exif\x00\x00" + tiff


def make_thumbnail(image: np.ndarray, long_side: int = 160, quality: int = 80) -> bytes:
    """A small JPEG of ``image`` such as cameras embed in EXIF IFD1."""
    h, w = image.shape[:2]
    f = long_side / max(h, w)
    small = cv2.resize(
        image, (max(1, round(w * f)), max(1, round(h * f))), interpolation=cv2.INTER_AREA
    )
    ok, buf = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, quality])
    return buf.tobytes()


def encode_jpeg(
    image: np.ndarray,
    *,
    quality: int = 90,
    exif: bool | bytes = False,
    thumbnail_of: np.ndarray | None = None,
    **exif_fields: object,
) -> bytes:
    """JPEG bytes of a BGR image, optionally with camera EXIF.

    ``exif=True`` writes :func:`camera_exif` (``exif_fields`` passed on); raw bytes are
    written as given. ``thumbnail_of`` embeds a thumbnail of that image (default: of
    ``image`` itself when ``exif`` is True and ``thumbnail_of`` is None, no thumbnail).
    """
    pil = Image.fromarray(np.ascontiguousarray(image[:, :, ::-1]))
    raw = b""
    if exif is True:
        thumb = make_thumbnail(thumbnail_of) if thumbnail_of is not None else None
        raw = camera_exif(thumbnail=thumb, **exif_fields)  # type: ignore[arg-type]
    elif isinstance(exif, bytes):
        raw = exif
    out = io.BytesIO()
    pil.save(out, "JPEG", quality=quality, exif=raw)
    return out.getvalue()
