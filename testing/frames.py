"""Issue 10's harder cases, drawn with numpy: the listing inside a larger frame, a photo
of a screen showing it, and the honest photos and re-shares that look most like them.

Shared by ``bench/quality.py`` and the tests (``tests/evidence/checks``); nothing in the
product imports it. Every function is deterministic from its ``rng``.

* :func:`app_screenshot`: a full-page phone screenshot of the shop's product page (status
  bar, navigation, the listing picture across the width with a badge or two on it, price,
  title, buttons).
* :func:`chat_screenshot`: a chat with the picture as an image bubble (resized and
  compressed by the app, rounded corners) between text bubbles.
* :func:`collage`: the picture as one tile of a 2x2 or 1x3 collage.
* :func:`screen_photo`: the picture shown on a screen (its sub-pixel grid, the display's
  gamma, black level and white point, a bezel, glare) and photographed with a phone at a
  slant through :func:`camera_model`, so the grid aliases into moire.
* :func:`camera_model`: what a phone camera does to a scene (white balance, vignetting,
  barrel distortion, sensor noise).
* :func:`ai_rerender`: a generator's "re-render" of the whole picture (a smooth warp, new
  fine texture, a colour grade, a resize).
* :func:`textured_patch`: damage that is a texture (a scuff of grain and scratches), not a
  flat paint.

Each returns the new image and, where damage was carried along, its box in the new image.
"""

from __future__ import annotations

import cv2
import numpy as np

Box = tuple[int, int, int, int]

PHONE_SCREENS = ((1170, 2532), (1080, 2400), (1242, 2688), (828, 1792))
_WORDS = (
    "new",
    "sale",
    "free",
    "ship",
    "gift",
    "hello",
    "ok",
    "thanks",
    "when",
    "arrive",
    "today",
    "box",
    "photo",
    "look",
    "here",
    "order",
    "refund",
    "please",
    "see",
    "broken",
)


def _text(
    canvas: np.ndarray,
    rng: np.random.Generator,
    x: int,
    y: int,
    width: int,
    size: float,
    colour: tuple[float, float, float],
    thickness: int = 1,
) -> None:
    """A line of random words in ``width`` pixels at (x, y) (baseline)."""
    words = []
    while True:
        words.append(str(rng.choice(_WORDS)))
        (tw, _), _ = cv2.getTextSize(" ".join(words), cv2.FONT_HERSHEY_SIMPLEX, size, thickness)
        if tw > width or len(words) > 12:
            words.pop()
            break
    cv2.putText(
        canvas,
        " ".join(words) or "ok",
        (x, y),
        cv2.FONT_HERSHEY_SIMPLEX,
        size,
        colour,
        thickness,
        cv2.LINE_AA,
    )


def _rounded_rect(
    canvas: np.ndarray, x0: int, y0: int, x1: int, y1: int, radius: int, colour: tuple
) -> None:
    radius = max(1, min(radius, (x1 - x0) // 2, (y1 - y0) // 2))
    cv2.rectangle(canvas, (x0 + radius, y0), (x1 - radius, y1), colour, -1)
    cv2.rectangle(canvas, (x0, y0 + radius), (x1, y1 - radius), colour, -1)
    for cx, cy in (
        (x0 + radius, y0 + radius),
        (x1 - radius, y0 + radius),
        (x0 + radius, y1 - radius),
        (x1 - radius, y1 - radius),
    ):
        cv2.circle(canvas, (cx, cy), radius, colour, -1, cv2.LINE_AA)


def _status_bar(canvas: np.ndarray, rng: np.random.Generator, height: int, ink: tuple) -> None:
    w = canvas.shape[1]
    clock = f"{int(rng.integers(7, 23))}:{int(rng.integers(0, 60)):02d}"
    scale = height / 70
    cv2.putText(
        canvas,
        clock,
        (int(0.07 * w), int(0.7 * height)),
        cv2.FONT_HERSHEY_SIMPLEX,
        scale,
        ink,
        2,
        cv2.LINE_AA,
    )
    bx = int(0.86 * w)
    cv2.rectangle(
        canvas, (bx, int(0.35 * height)), (bx + int(0.07 * w), int(0.68 * height)), ink, 2
    )
    level = float(rng.uniform(0.2, 1.0))
    cv2.rectangle(
        canvas,
        (bx + 4, int(0.35 * height) + 4),
        (bx + 4 + int((0.07 * w - 8) * level), int(0.68 * height) - 4),
        ink,
        -1,
    )
    for i in range(4):  # signal bars
        x = int(0.72 * w) + i * int(0.018 * w)
        cv2.rectangle(
            canvas,
            (x, int((0.65 - 0.08 * i) * height)),
            (x + int(0.011 * w), int(0.68 * height)),
            ink,
            -1,
        )


def _place(
    canvas: np.ndarray, picture: np.ndarray, box: Box | None, x: int, y: int, width: int
) -> tuple[Box | None, Box]:
    """Resize ``picture`` to ``width`` and paste it at (x, y); its damage box and where it is."""
    ph, pw = picture.shape[:2]
    f = width / pw
    height = round(ph * f)
    interp = cv2.INTER_AREA if f < 1 else cv2.INTER_CUBIC
    canvas[y : y + height, x : x + width] = cv2.resize(
        picture, (width, height), interpolation=interp
    )
    mapped = None
    if box is not None:
        mapped = (
            x + round(box[0] * f),
            y + round(box[1] * f),
            x + round(box[2] * f),
            y + round(box[3] * f),
        )
    return mapped, (x, y, x + width, y + height)


def app_screenshot(
    picture: np.ndarray, box: Box | None, rng: np.random.Generator
) -> tuple[np.ndarray, Box | None, Box]:
    """A full-page screenshot of the shop's product page showing ``picture`` across the
    width (sometimes cut to a square, as many shops show it), a page counter and a sale
    badge on it, then the price, title, shipping tags and the buy buttons. Returns the
    screenshot, the damage box in it and where the picture is."""
    w, h = PHONE_SCREENS[int(rng.integers(len(PHONE_SCREENS)))]
    dark = rng.random() < 0.2
    paper = (24.0, 24.0, 26.0) if dark else tuple(float(v) for v in rng.uniform(238, 255, 3))
    ink = (235.0, 235.0, 235.0) if dark else (30.0, 30.0, 30.0)
    canvas = np.empty((h, w, 3), np.uint8)
    canvas[:] = paper
    bar = round(0.045 * h)
    _status_bar(canvas, rng, bar, ink)
    nav = round(0.05 * h)
    cv2.putText(
        canvas,
        "<",
        (int(0.04 * w), bar + int(0.75 * nav)),
        cv2.FONT_HERSHEY_SIMPLEX,
        nav / 40,
        ink,
        3,
        cv2.LINE_AA,
    )
    for i in range(2):
        cv2.circle(
            canvas, (int((0.82 + 0.1 * i) * w), bar + nav // 2), nav // 4, ink, 2, cv2.LINE_AA
        )
    if rng.random() < 0.4:  # shown cut to a square
        ph, pw = picture.shape[:2]
        side = min(ph, pw)
        x0, y0 = (pw - side) // 2, (ph - side) // 2
        picture = picture[y0 : y0 + side, x0 : x0 + side]
        if box is not None:
            box = (
                max(0, box[0] - x0),
                max(0, box[1] - y0),
                min(side, box[2] - x0),
                min(side, box[3] - y0),
            )
    top = bar + nav
    mapped, where = _place(canvas, picture, box, 0, top, w)
    x0, y0, x1, y1 = where
    # Badges on the picture: "1/5" bottom right, a sale ribbon top left (half the time).
    pill_w, pill_h = round(0.12 * w), round(0.035 * w)
    _rounded_rect(
        canvas,
        x1 - pill_w - 24,
        y1 - pill_h - 24,
        x1 - 24,
        y1 - 24,
        pill_h // 2,
        (60.0, 60.0, 60.0),
    )
    cv2.putText(
        canvas,
        f"1/{int(rng.integers(3, 9))}",
        (x1 - pill_w, y1 - 24 - pill_h // 4),
        cv2.FONT_HERSHEY_SIMPLEX,
        pill_h / 40,
        (250.0, 250.0, 250.0),
        2,
        cv2.LINE_AA,
    )
    if rng.random() < 0.5:
        cv2.rectangle(
            canvas, (x0, y0 + 20), (x0 + round(0.16 * w), y0 + 20 + pill_h), (40.0, 40.0, 230.0), -1
        )
        cv2.putText(
            canvas,
            "HOT",
            (x0 + 12, y0 + 20 + int(0.78 * pill_h)),
            cv2.FONT_HERSHEY_SIMPLEX,
            pill_h / 40,
            (255.0, 255.0, 255.0),
            2,
            cv2.LINE_AA,
        )
    y = y1 + round(0.05 * h)
    price = f"{int(rng.integers(9, 999))}.{int(rng.integers(0, 100)):02d}"
    cv2.putText(
        canvas,
        "Y " + price,
        (int(0.05 * w), y),
        cv2.FONT_HERSHEY_DUPLEX,
        w / 500,
        (40.0, 40.0, 220.0),
        3,
        cv2.LINE_AA,
    )
    y += round(0.04 * h)
    for line in range(int(rng.integers(2, 4))):
        _text(canvas, rng, int(0.05 * w), y, int(0.9 * w), w / 900, ink, 2 if line == 0 else 1)
        y += round(0.03 * h)
    for i in range(int(rng.integers(2, 4))):  # tags: "free shipping", "7-day returns"
        tx = int(0.05 * w) + i * int(0.3 * w)
        cv2.rectangle(
            canvas, (tx, y), (tx + int(0.26 * w), y + int(0.03 * h)), (60.0, 120.0, 240.0), 2
        )
        _text(
            canvas, rng, tx + 10, y + int(0.022 * h), int(0.22 * w), w / 1400, (60.0, 120.0, 240.0)
        )
    y += round(0.06 * h)
    while y < h - round(0.12 * h):
        _text(canvas, rng, int(0.05 * w), y, int(0.9 * w), w / 1100, ink)
        y += round(0.028 * h)
    # The buy bar.
    by = h - round(0.09 * h)
    cv2.rectangle(canvas, (0, by - 6), (w, h), paper, -1)
    cv2.line(canvas, (0, by - 6), (w, by - 6), (200.0, 200.0, 200.0), 2)
    _rounded_rect(
        canvas, int(0.36 * w), by + 12, int(0.66 * w), by + int(0.055 * h), 40, (0.0, 150.0, 255.0)
    )
    _rounded_rect(
        canvas, int(0.68 * w), by + 12, int(0.97 * w), by + int(0.055 * h), 40, (40.0, 40.0, 230.0)
    )
    return canvas, mapped, where


def chat_screenshot(
    picture: np.ndarray, box: Box | None, rng: np.random.Generator
) -> tuple[np.ndarray, Box | None, Box]:
    """A chat screenshot: text bubbles, and ``picture`` as an image bubble (resized to a
    long side of 40-65 % of the screen's width and JPEG-compressed by the app, with
    rounded corners)."""
    w, h = PHONE_SCREENS[int(rng.integers(len(PHONE_SCREENS)))]
    background = tuple(float(v) for v in rng.uniform(228, 242, 3))
    canvas = np.empty((h, w, 3), np.uint8)
    canvas[:] = background
    ink = (20.0, 20.0, 20.0)
    bar = round(0.045 * h)
    _status_bar(canvas, rng, bar, ink)
    cv2.rectangle(canvas, (0, bar), (w, bar + round(0.05 * h)), (247.0, 247.0, 247.0), -1)
    _text(canvas, rng, int(0.3 * w), bar + int(0.035 * h), int(0.4 * w), w / 900, ink, 2)
    ph, pw = picture.shape[:2]
    long_side = round(w * rng.uniform(0.4, 0.65))
    f = long_side / max(ph, pw)
    small = cv2.resize(picture, (round(pw * f), round(ph * f)), interpolation=cv2.INTER_AREA)
    ok, buf = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(70, 86))])
    small = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    sh, sw = small.shape[:2]
    mine = rng.random() < 0.5  # my bubbles on the right
    y = bar + round(0.08 * h)
    picture_at = int(rng.integers(1, 3))
    mapped, where = None, (0, 0, 0, 0)
    avatar = round(0.1 * w)
    for bubble in range(6):
        right = bool((bubble + mine) % 2)
        ax = w - avatar - 20 if right else 20
        if bubble == picture_at:
            right = mine
            ax = w - avatar - 20 if right else 20
            x = ax - 20 - sw if right else ax + avatar + 20
            if y + sh > h - round(0.08 * h):
                break
            mapped, where = _place(canvas, small, None, x, y, sw)
            if box is not None:
                mapped = (
                    x + round(box[0] * f),
                    y + round(box[1] * f),
                    x + round(box[2] * f),
                    y + round(box[3] * f),
                )
            # Rounded corners: the chat's background shows there.
            r = round(0.03 * w)
            corner = np.zeros((r, r), np.uint8)
            cv2.circle(corner, (r, r), r, 255, -1, cv2.LINE_AA)
            for cy, cx, flip in (
                (y, x, (0, 0)),
                (y, x + sw - r, (0, 1)),
                (y + sh - r, x, (1, 0)),
                (y + sh - r, x + sw - r, (1, 1)),
            ):
                m = corner
                if flip[0]:
                    m = m[::-1]
                if flip[1]:
                    m = m[:, ::-1]
                a = (m.astype(np.float32) / 255.0)[..., None]
                patch = canvas[cy : cy + r, cx : cx + r].astype(np.float32)
                canvas[cy : cy + r, cx : cx + r] = (
                    patch * a + np.float32(background) * (1 - a)
                ).astype(np.uint8)
            height = sh
        else:
            lines = int(rng.integers(1, 4))
            bw = int(rng.uniform(0.3, 0.62) * w)
            height = lines * round(0.03 * h) + 30
            x = ax - 20 - bw if right else ax + avatar + 20
            colour = (120.0, 230.0, 150.0) if right else (255.0, 255.0, 255.0)
            _rounded_rect(canvas, x, y, x + bw, y + height, 18, colour)
            for k in range(lines):
                _text(
                    canvas,
                    rng,
                    x + 20,
                    y + 20 + (k + 1) * round(0.03 * h) - 12,
                    bw - 40,
                    w / 1100,
                    ink,
                )
        cv2.rectangle(
            canvas,
            (ax, y),
            (ax + avatar, y + avatar),
            tuple(float(v) for v in rng.uniform(60, 220, 3)),
            -1,
        )
        y += height + round(0.03 * h)
    if mapped is None and box is not None:  # no room for the text above it: put it first
        return chat_screenshot(picture, box, rng)
    cv2.rectangle(canvas, (0, h - round(0.07 * h)), (w, h), (247.0, 247.0, 247.0), -1)
    _rounded_rect(
        canvas,
        int(0.12 * w),
        h - round(0.06 * h),
        int(0.8 * w),
        h - round(0.015 * h),
        14,
        (255.0, 255.0, 255.0),
    )
    return canvas, mapped, where


def collage(
    picture: np.ndarray, box: Box | None, others: list[np.ndarray], rng: np.random.Generator
) -> tuple[np.ndarray, Box | None, Box]:
    """``picture`` as one tile of a collage (2x2, or three in a row), the other tiles from
    ``others``, on a white or black ground with gaps."""
    layout = (2, 2) if rng.random() < 0.6 else (1, 3)
    rows, cols = layout
    tile_w = int(rng.integers(520, 700))
    ph, pw = picture.shape[:2]
    tile_h = round(tile_w * ph / pw)
    gap = int(rng.integers(6, 24))
    ground = (255.0, 255.0, 255.0) if rng.random() < 0.7 else (0.0, 0.0, 0.0)
    canvas = np.empty(
        (rows * tile_h + (rows + 1) * gap, cols * tile_w + (cols + 1) * gap, 3), np.uint8
    )
    canvas[:] = ground
    slot = int(rng.integers(rows * cols))
    mapped, where = None, (0, 0, 0, 0)
    k = 0
    for i in range(rows * cols):
        r, c = divmod(i, cols)
        x, y = gap + c * (tile_w + gap), gap + r * (tile_h + gap)
        if i == slot:
            mapped, where = _place(canvas, picture, box, x, y, tile_w)
        else:
            other = others[k % len(others)]
            k += 1
            tile = cv2.resize(other, (tile_w, tile_h), interpolation=cv2.INTER_AREA)
            canvas[y : y + tile_h, x : x + tile_w] = tile
    return canvas, mapped, where


def camera_model(
    scene: np.ndarray, rng: np.random.Generator, *, noise: tuple[float, float] = (1.5, 3.5)
) -> np.ndarray:
    """A phone camera's view of ``scene`` (float32 or uint8 BGR, linear-ish 0..255): white
    balance +-6 %, vignetting 10-30 %, barrel distortion, a slight optical blur, sensor
    noise (shot-like and read), to uint8."""
    h, w = scene.shape[:2]
    canvas = scene.astype(np.float32)
    xs = np.linspace(-1, 1, w, dtype=np.float32)[None, :]
    ys = np.linspace(-1, 1, h, dtype=np.float32)[:, None]
    radius2 = xs**2 * (w / max(w, h)) ** 2 + ys**2 * (h / max(w, h)) ** 2
    vignette = 1.0 - rng.uniform(0.1, 0.3) * radius2
    balance = rng.uniform(0.94, 1.06, 3).astype(np.float32)
    canvas = canvas * vignette[..., None] * balance
    k1 = rng.uniform(-0.06, 0.0)
    mx, my = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    half = max(w, h) / 2
    nx, ny = (mx - w / 2) / half, (my - h / 2) / half
    factor = 1 + k1 * (nx**2 + ny**2)
    canvas = cv2.remap(
        canvas,
        nx * factor * half + w / 2,
        ny * factor * half + h / 2,
        cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REFLECT,
    )
    sigma = rng.uniform(*noise)
    shot = np.sqrt(np.clip(canvas, 1, 255) / 128.0)
    canvas += rng.normal(0, sigma, (h, w, 3)).astype(np.float32) * 0.6 * shot
    canvas += rng.normal(0, sigma, (h, w, 1)).astype(np.float32) * 0.8
    return cv2.GaussianBlur(np.clip(canvas, 0, 255).astype(np.uint8), (3, 3), 0.5)


SUBPIXEL_LAYOUTS = ("rgb_stripe", "bgr_stripe", "pentile", "delta")


def _subpixel_cell(layout: str) -> np.ndarray:
    """Two screen pixels side by side and two rows (6x6 sub-cells, BGR weights) of a
    panel's sub-pixel ``layout``, scaled so that a white screen gives the same light on
    average in each channel: LCD stripes (R G B or B G R left to right, a dark gap under
    them), an OLED PenTile (a green dot in every pixel, red and blue in turn, in a
    checker) and a delta (round-ish dots, every other row shifted by half a pixel)."""
    cell = np.zeros((6, 6, 3), np.float32)
    if layout in ("rgb_stripe", "bgr_stripe"):
        order = (2, 1, 0) if layout == "rgb_stripe" else (0, 1, 2)
        for px in range(2):
            for k, channel in enumerate(order):
                cell[0:2, 3 * px + k, channel] = 1.0
                cell[3:5, 3 * px + k, channel] = 1.0
    elif layout == "pentile":
        for row in range(2):
            for px in range(2):
                y, x = 3 * row, 3 * px
                cell[y + 1, x + 1, 1] = 1.0  # green: a small dot in every pixel
                big = 2 if (row + px) % 2 == 0 else 0  # red, then blue, in a checker
                cell[y : y + 2, x : x + 2, big] = np.maximum(cell[y : y + 2, x : x + 2, big], 1.0)
                cell[y + 1, x + 1, big] = 0.0
    else:  # delta
        for row in range(2):
            shift = 0 if row == 0 else 1
            for k, channel in enumerate((2, 1, 0, 2, 1, 0)):
                x = (k + shift) % 6
                cell[3 * row : 3 * row + 2, x, channel] = 1.0
    cell /= np.maximum(cell.reshape(-1, 3).mean(axis=0), 1e-6)
    return cell


def screen_photo(
    picture: np.ndarray,
    box: Box | None,
    rng: np.random.Generator,
    *,
    size: tuple[int, int] = (1600, 1200),
    tilt: tuple[float, float] = (0.0, 20.0),
    pitch: tuple[float, float] = (1.2, 4.0),
    hard: bool = True,
    params: dict | None = None,
) -> tuple[np.ndarray, Box | None, Box]:
    """A phone photo of a screen showing ``picture``: the panel's sub-pixel grid (one of
    :data:`SUBPIXEL_LAYOUTS`, a pixel pitch drawn from ``pitch`` in camera pixels, so the
    grid aliases into moire), the display's gamma (0.8-1.25), black level (screens glow)
    and bluish white point, a dark bezel around it on a desk or wall, a reflection (glare),
    seen at a slant of ``tilt`` degrees and through :func:`camera_model`.

    ``hard`` (the default) adds what makes the grid hard to see, each drawn per photo: the
    screen filling 35-85 % of the frame (distance), defocus (0.3-0.8 camera pixels), the
    phone's noise reduction (chroma smoothed hard, luma a little: it smooths the moire),
    stronger glare, and the camera's own JPEG (q70-95) and sharpening before the file is
    written. ``params``, when given, is filled with what was drawn. Returns the photo,
    the damage box in it (the bounding box of its slanted outline) and the screen's
    bounding box."""
    w, h = size
    ph, pw = picture.shape[:2]
    drawn: dict = {} if params is None else params
    layout = str(rng.choice(SUBPIXEL_LAYOUTS)) if hard else "rgb_stripe"
    pitch_px = float(rng.uniform(*pitch))
    fill = float(rng.uniform(0.35, 0.85) if hard else rng.uniform(0.55, 0.8))
    drawn.update({"layout": layout, "pitch": round(pitch_px, 2), "fill": round(fill, 2)})
    # The screen's own pixels: the picture at the size it has on the screen.
    # (of the frame's width, or of its height for a picture taller than the frame)
    screen_w = max(64, round(fill * min(w, h * pw / ph) / pitch_px))
    screen_h = round(screen_w * ph / pw)
    shown = cv2.resize(picture, (screen_w, screen_h), interpolation=cv2.INTER_AREA).astype(
        np.float32
    )
    gamma = rng.uniform(0.8, 1.25)
    black = rng.uniform(6, 22)
    white = rng.uniform(215, 250) * np.float32(
        [rng.uniform(1.0, 1.08), 1.0, rng.uniform(0.9, 0.98)]
    )
    shown = black + (white - black) * (shown / 255.0) ** gamma
    # Each screen pixel as 3x3 sub-cells of its layout (two pixels and two rows a tile).
    cell = 3
    pattern = _subpixel_cell(layout)
    reps_y, reps_x = -(-screen_h // 2), -(-screen_w // 2)
    grid = np.tile(pattern, (reps_y, reps_x, 1))[: screen_h * cell, : screen_w * cell]
    panel = np.repeat(np.repeat(shown, cell, axis=0), cell, axis=1) * grid
    # Bezel, body and where it all sits.
    bezel = round(rng.uniform(0.03, 0.08) * panel.shape[1])
    body = np.full(
        (panel.shape[0] + 2 * bezel, panel.shape[1] + 2 * bezel, 3), rng.uniform(8, 30), np.float32
    )
    body[bezel:-bezel, bezel:-bezel] = panel
    bh, bw = body.shape[:2]
    yaw_pitch = rng.uniform(*tilt) * np.array([np.cos(d := rng.uniform(0, 2 * np.pi)), np.sin(d)])
    # A common import keeps this module free of the product's generators.
    from testing.synthetic import tilt_quad

    quad = tilt_quad(bw, bh, float(yaw_pitch[0]), float(yaw_pitch[1]), float(rng.uniform(-4, 4)))
    quad -= quad.mean(axis=0)
    span = quad.max(axis=0) - quad.min(axis=0)
    scale2 = 2  # rendered at twice the camera's resolution, then integrated by its pixels
    target = fill + 2 * bezel / panel.shape[1] * fill
    quad *= target * min(w / span[0], h / span[1]) * scale2
    room = (np.float32([w, h]) * scale2 - (quad.max(axis=0) - quad.min(axis=0))) / 2
    quad += np.float32([w, h]) * scale2 / 2 + rng.uniform(-1, 1, 2) * np.maximum(room, 0) * 0.6
    matrix = cv2.getPerspectiveTransform(np.float32([[0, 0], [bw, 0], [bw, bh], [0, bh]]), quad)
    W, H = w * scale2, h * scale2
    ys = np.linspace(0, 1, H, dtype=np.float32)[:, None, None]
    desk_a, desk_b = rng.uniform(60, 200, 3), rng.uniform(60, 200, 3)
    scene = (desk_a + (desk_b - desk_a) * ys).astype(np.float32) * np.ones((1, W, 1), np.float32)
    scene += cv2.GaussianBlur(rng.normal(0, 6, (H, W)).astype(np.float32), (0, 0), 3)[..., None]
    warped = cv2.warpPerspective(body, matrix, (W, H), flags=cv2.INTER_LINEAR)
    mask = cv2.warpPerspective(
        np.ones((bh, bw), np.float32), matrix, (W, H), flags=cv2.INTER_LINEAR
    )
    scene = scene * (1 - mask[..., None]) + warped * mask[..., None]
    # Glare: a soft reflection somewhere on the glass (a window or a lamp when hard).
    gx, gy = rng.uniform(0.2, 0.8) * W, rng.uniform(0.2, 0.8) * H
    gs = rng.uniform(0.1, 0.3) * W
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    peak = rng.uniform(8, 50) if hard else rng.uniform(8, 35)
    glare = peak * np.exp(-((xx - gx) ** 2 + (yy - gy) ** 2) / (2 * gs * gs))
    scene += (glare * mask)[..., None]
    defocus = float(rng.uniform(0.6, 1.6) if hard else rng.uniform(0.6, 1.1))  # at 2x
    drawn.update({"defocus": round(defocus / scale2, 2), "glare": round(float(peak), 1)})
    scene = cv2.GaussianBlur(scene, (0, 0), defocus)  # optics, at 2x
    scene = cv2.resize(scene, (w, h), interpolation=cv2.INTER_AREA)  # the sensor's pixels
    photo = camera_model(scene, rng)
    if hard:
        photo = _phone_processing(photo, rng, drawn)
    small_quad = quad / scale2
    screen_box = tuple(
        int(v) for v in (*np.floor(small_quad.min(axis=0)), *np.ceil(small_quad.max(axis=0)))
    )
    # picture -> screen pixels -> panel (x cell) -> body (+ bezel) -> camera
    f = np.float64([screen_w / pw * cell, screen_h / ph * cell])
    whole = np.float32([[0, 0], [pw, 0], [pw, ph], [0, ph]]) * f + bezel
    drawn["picture_quad"] = (
        (cv2.perspectiveTransform(whole[None].astype(np.float32), matrix)[0] / scale2)
        .round(1)
        .tolist()
    )
    mapped = None
    if box is not None:
        corners = np.float32(
            [[box[0], box[1]], [box[2], box[1]], [box[2], box[3]], [box[0], box[3]]]
        )
        on_body = corners * f + bezel
        on_photo = cv2.perspectiveTransform(on_body[None].astype(np.float32), matrix)[0] / scale2
        (x0, y0), (x1, y1) = np.floor(on_photo.min(axis=0)), np.ceil(on_photo.max(axis=0))
        mapped = (max(0, int(x0)), max(0, int(y0)), min(w, int(x1)), min(h, int(y1)))
    return photo, mapped, screen_box  # type: ignore[return-value]


def _phone_processing(photo: np.ndarray, rng: np.random.Generator, drawn: dict) -> np.ndarray:
    """What a phone's pipeline does after the sensor: noise reduction (the chroma
    smoothed hard, which takes most of a moire's colour away, the luma a little), a
    sharpening, and its JPEG (q70-95, decoded again)."""
    ycc = cv2.cvtColor(photo, cv2.COLOR_BGR2YCrCb).astype(np.float32)
    chroma_sigma = float(rng.uniform(0.0, 3.0))
    luma_strength = float(rng.uniform(0.0, 1.0))
    if chroma_sigma > 0.3:
        for c in (1, 2):
            ycc[..., c] = cv2.GaussianBlur(ycc[..., c], (0, 0), chroma_sigma)
    if luma_strength > 0.2:
        smooth = cv2.bilateralFilter(ycc[..., 0], 5, 6 + 10 * luma_strength, 2)
        ycc[..., 0] = ycc[..., 0] * (1 - luma_strength) + smooth * luma_strength
    amount = float(rng.uniform(0.0, 0.6))
    ycc[..., 0] += amount * (ycc[..., 0] - cv2.GaussianBlur(ycc[..., 0], (0, 0), 1.0))
    out = cv2.cvtColor(np.clip(ycc, 0, 255).astype(np.uint8), cv2.COLOR_YCrCb2BGR)
    quality = int(rng.integers(70, 96))
    drawn.update(
        {
            "chroma_denoise": round(chroma_sigma, 2),
            "luma_denoise": round(luma_strength, 2),
            "sharpen": round(amount, 2),
            "camera_jpeg": quality,
        }
    )
    ok, data = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, quality])
    return cv2.imdecode(data, cv2.IMREAD_COLOR) if ok else out


def halftone_print_photo(
    artwork: np.ndarray,
    rng: np.random.Generator,
    *,
    size: tuple[int, int] = (1600, 1200),
    params: dict | None = None,
) -> tuple[np.ndarray, Box]:
    """An honest close-up of an offset-printed card or cover: the artwork as CMYK halftone
    dots (screens at 15, 75, 0 and 45 degrees, a dot period of 2-5 camera pixels, so the
    rosette itself aliases into a regular pattern: the printed matter's own "moire"), on
    paper with grain, lit unevenly, slightly tilted, on a table, through
    :func:`camera_model`. The hardest honest photo for a screen-grid test. Returns the
    photo and the print's bounding box; ``params``, when given, receives the dot period
    and the print's corners in the photo (``picture_quad``), as ``screen_photo``'s."""
    w, h = size
    ah, aw = artwork.shape[:2]
    fill = float(rng.uniform(0.6, 0.9))
    scale2 = 2
    pw = round(fill * min(w, h * aw / ah)) * scale2
    ph_ = round(pw * ah / aw)
    art = cv2.resize(artwork, (pw, ph_), interpolation=cv2.INTER_AREA).astype(np.float32) / 255
    k = 1 - art.max(axis=2)
    cmy = (1 - art - k[..., None]) / np.maximum(1 - k[..., None], 1e-3)
    # In BGR order: cyan absorbs red (index 2), magenta green (1), yellow blue (0).
    inks = {"c": cmy[..., 2], "m": cmy[..., 1], "y": cmy[..., 0], "k": k}
    period = float(rng.uniform(2.0, 5.0)) * scale2
    yy, xx = np.mgrid[0:ph_, 0:pw].astype(np.float32)
    paper = np.float32(rng.uniform(235, 250) - rng.uniform(0, 6, 3))
    out = np.ones((ph_, pw, 3), np.float32) * paper
    absorb = {"c": (0.05, 0.25, 0.85), "m": (0.1, 0.8, 0.15), "y": (0.8, 0.1, 0.05)}
    absorb["k"] = (0.85, 0.85, 0.85)
    for ink, angle in (("c", 15), ("m", 75), ("y", 0), ("k", 45)):
        a = np.radians(angle)
        u = (xx * np.cos(a) + yy * np.sin(a)) / period
        v = (-xx * np.sin(a) + yy * np.cos(a)) / period
        # Round dots growing with the ink's coverage (a dot's area ~ coverage).
        spot = (np.cos(2 * np.pi * u) + np.cos(2 * np.pi * v)) / 4 + 0.5  # 0..1
        covered = (spot < inks[ink]).astype(np.float32)
        covered = cv2.GaussianBlur(covered, (0, 0), 0.6)  # dot gain
        out *= 1 - covered[..., None] * np.float32(absorb[ink])
    grain = cv2.GaussianBlur(rng.normal(0, 0.02, (ph_, pw)).astype(np.float32), (0, 0), 0.8)
    out *= (1 + grain)[..., None]
    W, H = w * scale2, h * scale2
    desk = np.float32(rng.uniform(60, 200, 3))
    scene = np.ones((H, W, 3), np.float32) * desk
    scene += cv2.GaussianBlur(rng.normal(0, 6, (H, W)).astype(np.float32), (0, 0), 3)[..., None]
    from testing.synthetic import tilt_quad

    tilt, direction = rng.uniform(0, 8), rng.uniform(0, 2 * np.pi)
    quad = tilt_quad(
        pw, ph_, tilt * np.cos(direction), tilt * np.sin(direction), rng.uniform(-3, 3)
    )
    quad -= quad.mean(axis=0)
    span = quad.max(axis=0) - quad.min(axis=0)
    quad *= min(W * fill / span[0], H * fill / span[1])
    quad += (
        np.float32([W / 2, H / 2]) + rng.uniform(-1, 1, 2) * np.float32([W, H]) * (1 - fill) * 0.3
    )
    matrix = cv2.getPerspectiveTransform(np.float32([[0, 0], [pw, 0], [pw, ph_], [0, ph_]]), quad)
    warped = cv2.warpPerspective(out, matrix, (W, H), flags=cv2.INTER_LINEAR)
    mask = cv2.warpPerspective(np.ones((ph_, pw), np.float32), matrix, (W, H))
    scene = scene * (1 - mask[..., None]) + warped * mask[..., None]
    yy2, xx2 = np.mgrid[0:H, 0:W].astype(np.float32)
    light = 1 + rng.uniform(0.05, 0.2) * ((xx2 / W - 0.5) * np.cos(direction) + (yy2 / H - 0.5))
    scene *= light[..., None]
    scene = cv2.GaussianBlur(scene, (0, 0), rng.uniform(0.6, 1.4))
    scene = cv2.resize(scene, (w, h), interpolation=cv2.INTER_AREA)
    photo = camera_model(scene, rng)
    small = quad / scale2
    if params is not None:
        params.update(
            {"period": round(period / scale2, 2), "picture_quad": small.round(1).tolist()}
        )
    return photo, (
        int(max(0, small[:, 0].min())),
        int(max(0, small[:, 1].min())),
        int(min(w, small[:, 0].max())),
        int(min(h, small[:, 1].max())),
    )


def ai_rerender(picture: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A generator's "re-render" of the whole picture: warped smoothly (displacement of
    1-3 px over a few hundred pixels), re-textured (a new fine grain, a light smoothing),
    re-graded (a tone curve, a tint, saturation), resized x0.6-1.3. Returns the image
    and the 3x3 matrix of the resize (to carry a box)."""
    h, w = picture.shape[:2]
    amp = rng.uniform(1.0, 3.0)
    field = [
        cv2.GaussianBlur(rng.normal(0, 1, (h, w)).astype(np.float32), (0, 0), 80) for _ in range(2)
    ]
    field = [f * (amp / max(float(np.abs(f).max()), 1e-6)) for f in field]
    mx, my = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    out = cv2.remap(
        picture, mx + field[0], my + field[1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT
    ).astype(np.float32)
    out = cv2.bilateralFilter(out, 5, 12, 3)
    out += cv2.GaussianBlur(
        rng.normal(0, rng.uniform(2, 4), (h, w)).astype(np.float32), (0, 0), 0.7
    )[..., None]
    gamma = rng.uniform(0.9, 1.1)
    tint = rng.uniform(0.95, 1.05, 3).astype(np.float32)
    out = 255.0 * (np.clip(out, 0, 255) / 255.0) ** gamma * tint
    grey = out @ np.float32([0.114, 0.587, 0.299])
    out = grey[..., None] + (out - grey[..., None]) * rng.uniform(0.9, 1.15)
    scale = float(rng.uniform(0.6, 1.3))
    nw, nh = round(w * scale), round(h * scale)
    out = cv2.resize(
        np.clip(out, 0, 255).astype(np.uint8),
        (nw, nh),
        interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC,
    )
    return out, np.diag([nw / w, nh / h, 1.0])


def textured_patch(
    image: np.ndarray, rng: np.random.Generator, region: Box
) -> tuple[np.ndarray, Box]:
    """A scuff inside ``region``: an irregular patch of darker, grainy texture crossed by
    fine scratches, blended in with a soft edge. Returns the image and the patch's box."""
    h, w = image.shape[:2]
    rx0, ry0, rx1, ry1 = region
    cx = rx0 + (rx1 - rx0) * rng.uniform(0.3, 0.7)
    cy = ry0 + (ry1 - ry0) * rng.uniform(0.3, 0.7)
    radius = min(rx1 - rx0, ry1 - ry0) * rng.uniform(0.1, 0.18)
    mask = np.zeros((h, w), np.float32)
    for _ in range(int(rng.integers(4, 8))):
        c = (int(cx + rng.normal(0, radius * 0.4)), int(cy + rng.normal(0, radius * 0.4)))
        axes = (int(radius * rng.uniform(0.4, 0.9)), int(radius * rng.uniform(0.3, 0.7)))
        cv2.ellipse(mask, c, axes, float(rng.uniform(0, 180)), 0, 360, 1.0, -1)
    mask = cv2.GaussianBlur(mask, (0, 0), radius * 0.08)
    grain = cv2.GaussianBlur(rng.normal(0, 1, (h, w)).astype(np.float32), (0, 0), 1.2)
    texture = image.astype(np.float32) * rng.uniform(0.45, 0.7) + 28 * grain[..., None]
    for _ in range(int(rng.integers(6, 14))):
        p = np.array([cx, cy]) + rng.normal(0, radius * 0.5, 2)
        angle = rng.uniform(0, np.pi)
        d = np.array([np.cos(angle), np.sin(angle)]) * radius * rng.uniform(0.3, 0.8)
        cv2.line(
            texture,
            tuple(int(v) for v in p - d),
            tuple(int(v) for v in p + d),
            (210.0, 210.0, 215.0),
            1,
            cv2.LINE_AA,
        )
    out = image.astype(np.float32) * (1 - mask[..., None]) + texture * mask[..., None]
    ys, xs = np.nonzero(mask > 0.08)
    return np.clip(out, 0, 255).astype(np.uint8), (
        int(xs.min()),
        int(ys.min()),
        int(xs.max()) + 1,
        int(ys.max()) + 1,
    )
