"""Sample grids: many small images tiled into one, written as PNG."""
from __future__ import annotations

import io
import math
from pathlib import Path
from typing import Optional

import numpy as np

from gankit.report._io import PathLike, write_bytes_atomic

#: Grids narrower than this (in pixels) are upscaled with nearest neighbour when ``scale`` is automatic.
MIN_WIDTH = 256
MAX_AUTO_SCALE = 32


def _check_images(images: np.ndarray) -> np.ndarray:
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[1] not in (1, 3):
        raise ValueError(f"images must be uint8 [N, C, H, W] with C = 1 or 3, got shape {images.shape}")
    if images.dtype != np.uint8:
        raise ValueError(f"images must be uint8 (0..255), got {images.dtype}; "
                         f"convert with ((x + 1) * 127.5).round().clip(0, 255).astype(np.uint8)")
    if len(images) == 0:
        raise ValueError("images is empty: a grid needs at least one image")
    return images


def make_grid(images: np.ndarray, nrow: Optional[int] = None, pad: int = 2,
              pad_value: int = 255) -> np.ndarray:
    """Tile images into one picture.

    Args:
        images: uint8 [N, C, H, W], C = 1 (gray) or 3 (RGB).
        nrow: images per row (columns); default ceil(sqrt(N)).
        pad: pixels between images and around the border.
        pad_value: the gray level of the padding and of empty cells.

    Returns:
        uint8 [H', W', C] with H' = rows * (H + pad) + pad and W' = nrow * (W + pad) + pad.
    """
    images = _check_images(images)
    n, c, h, w = images.shape
    ncol = int(nrow) if nrow else math.ceil(math.sqrt(n))
    if ncol < 1:
        raise ValueError(f"nrow must be >= 1, got {nrow}")
    if pad < 0:
        raise ValueError(f"pad must be >= 0, got {pad}")
    ncol = min(ncol, n)
    rows = math.ceil(n / ncol)
    # Each cell holds its image in the bottom-right; the cell's top/left stripes are padding.
    cells = np.full((rows * ncol, h + pad, w + pad, c), pad_value, dtype=np.uint8)
    cells[:n, pad:, pad:, :] = images.transpose(0, 2, 3, 1)
    grid = cells.reshape(rows, ncol, h + pad, w + pad, c).transpose(0, 2, 1, 3, 4)
    grid = grid.reshape(rows * (h + pad), ncol * (w + pad), c)
    out = np.full((grid.shape[0] + pad, grid.shape[1] + pad, c), pad_value, dtype=np.uint8)
    out[:grid.shape[0], :grid.shape[1]] = grid
    return out


def grid_to_png(grid: np.ndarray, scale: Optional[int] = None) -> bytes:
    """PNG bytes of a [H, W, C] uint8 picture, upscaled (nearest) by ``scale`` (None: to >= MIN_WIDTH px)."""
    from PIL import Image

    if scale is None:
        scale = min(MAX_AUTO_SCALE, max(1, math.ceil(MIN_WIDTH / grid.shape[1])))
    if scale < 1:
        raise ValueError(f"scale must be >= 1, got {scale}")
    if scale > 1:
        grid = grid.repeat(scale, axis=0).repeat(scale, axis=1)
    if grid.shape[2] == 1:
        img = Image.fromarray(np.ascontiguousarray(grid[:, :, 0]), mode="L")
    else:
        img = Image.fromarray(np.ascontiguousarray(grid), mode="RGB")
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def save_grid(images: np.ndarray, path: PathLike, nrow: Optional[int] = None,
              scale: Optional[int] = None) -> Path:
    """Write ``images`` (uint8 [N, C, H, W]) as one PNG grid, atomically.

    Gray images give an "L" PNG, colour ones "RGB". ``scale`` upscales with nearest neighbour; None picks
    the smallest integer factor that makes the grid at least ~256 px wide (8x8 digits stay crisp).
    Returns the path written.
    """
    return write_bytes_atomic(path, grid_to_png(make_grid(images, nrow=nrow), scale=scale))


def labelled_grid_png(images: np.ndarray, nrow: int, row_labels: Optional[list] = None,
                      col_labels: Optional[list] = None, pad: int = 2, scale: Optional[int] = None) -> bytes:
    """PNG bytes of a grid of ``nrow`` images per row with a text label left of each row (e.g. the
    class of a per-class grid) and, optionally, above each column (e.g. a code's value)."""
    from PIL import Image, ImageDraw, ImageFont

    images = _check_images(images)
    h = images.shape[2]
    grid = make_grid(images, nrow=nrow, pad=pad)
    if scale is None:
        scale = min(MAX_AUTO_SCALE, max(1, math.ceil(MIN_WIDTH / grid.shape[1]), math.ceil(24 / h)))
    grid = grid.repeat(scale, axis=0).repeat(scale, axis=1)
    pic = Image.fromarray(np.ascontiguousarray(grid[:, :, 0] if grid.shape[2] == 1 else grid))
    pic = pic.convert("RGB")
    try:
        font = ImageFont.load_default(size=13)
    except TypeError:  # Pillow < 10.1 has one bitmap size
        font = ImageFont.load_default()
    measure = ImageDraw.Draw(pic)
    rows = [str(r) for r in (row_labels or [])]
    cols = [str(c) for c in (col_labels or [])]
    left = (max(measure.textlength(r, font=font) for r in rows) + 10) if rows else 0
    top = 20 if cols else 0
    out = Image.new("RGB", (pic.width + int(left), pic.height + top), "white")
    out.paste(pic, (int(left), top))
    draw = ImageDraw.Draw(out)
    cell = (h + pad) * scale
    for i, text in enumerate(rows):
        y = top + pad * scale + i * cell + (h * scale) // 2
        draw.text((4, y), text, fill="black", font=font, anchor="lm")
    for j, text in enumerate(cols):
        x = int(left) + pad * scale + j * cell + (h * scale) // 2
        draw.text((x, top // 2), text, fill="black", font=font, anchor="mm")
    buf = io.BytesIO()
    out.save(buf, format="PNG")
    return buf.getvalue()


def save_labelled_grid(images: np.ndarray, path: PathLike, nrow: int, row_labels: Optional[list] = None,
                       col_labels: Optional[list] = None) -> Path:
    """Write :func:`labelled_grid_png` to ``path``, atomically."""
    return write_bytes_atomic(path, labelled_grid_png(images, nrow, row_labels, col_labels))
