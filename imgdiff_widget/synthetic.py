"""Image pairs with known differences, for tests, benchmarks and teaching.

Start from a real photo, apply *edits* (the differences a user wants found)
and *nuisances* (what must not be marked: JPEG at different qualities, an
exposure change, sensor noise, a small shift, resampling), and keep the truth:
one boolean mask per edit.

Examples
--------
>>> from skimage import data
>>> from imgdiff_widget.synthetic import make_pair
>>> pair = make_pair(data.coffee(), seed=1, nuisances={"jpeg": (70, 90)})
>>> len(pair.truth)
6
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from PIL import Image
from scipy import ndimage as ndi
from skimage import draw
from skimage.color import deltaE_ciede2000, lab2rgb, rgb2lab
from skimage.transform import AffineTransform, resize, warp

__all__ = [
    "EDIT_KINDS",
    "Pair",
    "apply_edit",
    "decode",
    "demo_pair",
    "encode_jpeg",
    "make_pair",
]

EDIT_KINDS = (
    "add",
    "remove",
    "move",
    "recolor",
    "hue",
    "small",
    "line",
    "tint",
    "texture",
)


@dataclass
class Pair:
    """Two images with known differences.

    Attributes
    ----------
    a, b : ndarray of uint8, shape (H, W, 3)
        The images (B may differ in size from A by a few pixels).
    truth : list of ndarray of bool
        One mask per edit, in A's frame.
    kinds : list of str
        The kind of each edit.
    info : dict
        The nuisances applied (shift, JPEG qualities, gain, ...).
    """

    a: np.ndarray
    b: np.ndarray
    truth: list[np.ndarray]
    kinds: list[str]
    info: dict = field(default_factory=dict)

    @property
    def truth_mask(self) -> np.ndarray:
        """Union of all edit masks."""
        out = np.zeros(self.a.shape[:2], bool)
        for mask in self.truth:
            out |= mask
        return out


def encode_jpeg(image: np.ndarray, quality: int) -> bytes:
    """Encode a uint8 RGB image as a JPEG file at `quality`."""
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=int(quality))
    return buffer.getvalue()


def decode(data: bytes) -> np.ndarray:
    """Decode image file bytes to a uint8 RGB array."""
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def _to_float(image: np.ndarray) -> np.ndarray:
    return image.astype(np.float32) / 255.0


def _to_uint8(image: np.ndarray) -> np.ndarray:
    return (np.clip(image, 0, 1) * 255 + 0.5).astype(np.uint8)


def _contrasting(rgb_patch: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A saturated colour far from the patch's mean colour."""
    mean = rgb_patch.reshape(-1, 3).mean(axis=0)
    candidates = np.array(
        [
            [0.9, 0.1, 0.1],
            [0.1, 0.8, 0.2],
            [0.15, 0.25, 0.9],
            [0.95, 0.85, 0.1],
            [0.05, 0.05, 0.05],
            [0.97, 0.97, 0.97],
            [0.9, 0.2, 0.8],
            [0.1, 0.8, 0.85],
        ],
        np.float32,
    )
    distance = np.linalg.norm(candidates - mean, axis=1)
    best = np.argsort(distance)[-3:]
    return candidates[rng.choice(best)]


def _blob(shape, center, radius, rng) -> np.ndarray:
    """An irregular filled blob (an ellipse with a random aspect and angle)."""
    r_radius = radius * rng.uniform(0.7, 1.0)
    c_radius = radius * rng.uniform(0.7, 1.0)
    rr, cc = draw.ellipse(
        center[0],
        center[1],
        r_radius,
        c_radius,
        shape=shape,
        rotation=rng.uniform(0, np.pi),
    )
    mask = np.zeros(shape, bool)
    mask[rr, cc] = True
    return mask


def apply_edit(
    image: np.ndarray,
    kind: str,
    center: tuple[int, int],
    size: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Apply one edit to a float RGB image; return the new image and what changed.

    "remove" is not an edit of B: :func:`make_pair` makes it by adding an
    object to A's scene instead, so the object is truly gone from B.

    Parameters
    ----------
    image : ndarray of float32, shape (H, W, 3)
        Not modified.
    kind : str
        One of :data:`EDIT_KINDS` except "remove".
    center : (row, col)
        Where to put the edit.
    size : int
        Its typical diameter in pixels (small objects and lines choose their own).
    rng : numpy.random.Generator

    Returns
    -------
    edited : ndarray of float32
    truth : ndarray of bool
        Pixels the edit changed visibly (more than 8/255 in some channel).
    """
    out = image.copy()
    shape = image.shape[:2]
    radius = size / 2
    if kind == "add":
        mask = _blob(shape, center, radius, rng)
        out[mask] = _contrasting(image[mask], rng)
    elif kind == "small":
        mask = _blob(shape, center, rng.uniform(3, 6), rng)
        out[mask] = _contrasting(image[mask], rng)
    elif kind == "line":
        length = rng.uniform(2 * size, 4 * size)
        angle = rng.uniform(0, np.pi)
        dr, dc = np.sin(angle) * length / 2, np.cos(angle) * length / 2
        mask = np.zeros(shape, bool)
        rr, cc = draw.line(
            int(center[0] - dr),
            int(center[1] - dc),
            int(center[0] + dr),
            int(center[1] + dc),
        )
        keep = (rr >= 0) & (rr < shape[0]) & (cc >= 0) & (cc < shape[1])
        mask[rr[keep], cc[keep]] = True
        if rng.random() < 0.5:
            mask |= (
                ndi.shift(mask, (0, 1), order=0)
                if abs(dr) > abs(dc)
                else ndi.shift(mask, (1, 0), order=0)
            )
        out[mask] = _contrasting(image[mask], rng)
    elif kind in ("recolor", "hue", "tint"):
        mask = _blob(shape, center, radius, rng)
        lab = rgb2lab(image)
        if kind == "recolor":
            lab[..., 1:][mask] = -lab[..., 1:][mask] * 1.5 + rng.choice([-30, 30], size=2)
        elif kind == "hue":
            # Rotate the hue at constant lightness: invisible to grey SSIM.
            angle = rng.uniform(np.pi / 2, np.pi)
            a, b = lab[..., 1][mask], lab[..., 2][mask]
            chroma = np.maximum(np.hypot(a, b), 35.0)
            hue = np.arctan2(b, a) + angle
            lab[..., 1][mask], lab[..., 2][mask] = (
                chroma * np.cos(hue),
                chroma * np.sin(hue),
            )
        else:
            # A low-contrast tint: a chroma shift scaled until the median
            # CIEDE2000 difference is the target, 10 to 20.
            target = rng.uniform(10, 20)
            direction = rng.uniform(0, 2 * np.pi)
            original = lab[mask]
            strength = target
            for _ in range(4):
                shifted = original.copy()
                shifted[:, 1] += strength * np.cos(direction)
                shifted[:, 2] += strength * np.sin(direction)
                shifted = rgb2lab(lab2rgb(shifted[None]))[0]  # stay in gamut
                achieved = float(np.median(deltaE_ciede2000(original, shifted)))
                strength *= target / max(achieved, 1e-3)
            lab[mask] = shifted
        out[mask] = lab2rgb(lab[mask][None])[0].astype(np.float32)
    elif kind in ("move", "texture"):
        # Paste a patch from elsewhere; "move" also erases the source.
        mask = _blob(shape, center, radius, rng)
        rows, cols = np.nonzero(mask)
        for _ in range(20):
            dr = int(rng.integers(-shape[0] // 3, shape[0] // 3))
            dc = int(rng.integers(-shape[1] // 3, shape[1] // 3))
            src_r, src_c = rows + dr, cols + dc
            if (
                (abs(dr) > size * 1.5 or abs(dc) > size * 1.5)
                and src_r.min() >= 0
                and src_c.min() >= 0
                and src_r.max() < shape[0]
                and src_c.max() < shape[1]
            ):
                break
        else:
            src_r, src_c = rows, cols
        out[rows, cols] = image[src_r, src_c]
        if kind == "move":
            source = np.zeros(shape, bool)
            source[src_r, src_c] = True
            smooth = ndi.gaussian_filter(image, sigma=(size / 2, size / 2, 0))
            out[source & ~mask] = smooth[source & ~mask]
            mask = mask | source
    else:
        raise ValueError(f"unknown edit kind {kind!r}; use one of {EDIT_KINDS}")
    visible = np.abs(out - image).max(axis=-1) > 8 / 255
    return out.astype(np.float32), mask & visible


def make_pair(
    image: np.ndarray,
    kinds: Sequence[str] = ("add", "remove", "recolor", "hue", "small", "line"),
    *,
    seed: int = 0,
    nuisances: dict | None = None,
) -> Pair:
    """Make a pair with known differences from one photo.

    Parameters
    ----------
    image : ndarray of uint8, shape (H, W, 3)
        A real photo (e.g. ``skimage.data.coffee()``).
    kinds : sequence of str
        The edits, each at a random spot that overlaps no earlier edit when
        one is found in 50 tries (else the last spot tried, which may overlap).
    seed : int
    nuisances : dict, optional
        Any of ``jpeg=(qa, qb)`` qualities, ``gamma`` (B's values raised to
        it), ``gain`` and ``offset`` (applied to B after the gamma, offset in
        1/255), ``noise`` (sigma in 1/255, both sides; with
        ``noise_blur``, a Gaussian sigma in pixels, it is grain spread over
        neighbouring pixels, as demosaicing spreads a sensor's), ``shift``
        ``(rows, cols)`` (B's view is moved; A and B are crops of the scene),
        ``turn`` (degrees, anticlockwise) and ``zoom`` (B's view turned and
        zoomed about its centre, as a camera held twice by hand; the scene's
        margin grows to hold the view), ``size_delta`` ``(rows, cols)`` (B is
        that much larger or smaller), ``resample`` (B is scaled by this
        factor and back).

    Returns
    -------
    Pair
    """
    nuisances = dict(nuisances or {})
    rng = np.random.default_rng(seed)
    scene = _to_float(image)
    shift = nuisances.get("shift", (0, 0))
    size_delta = nuisances.get("size_delta", (0, 0))
    turn = np.deg2rad(float(nuisances.get("turn", 0.0)))
    zoom = float(nuisances.get("zoom", 1.0))
    # B's view (moved, larger, turned, zoomed) must stay inside the scene.
    corner = np.hypot(*scene.shape[:2]) / 2  # how far a view's corner lies from its centre
    reach = abs(turn) + abs(zoom - 1)
    margin = max(
        8,
        max(abs(int(v)) for v in shift)
        + max(max(int(v) for v in size_delta), 0)
        + (int(np.ceil(reach * corner)) + 2 if reach else 0),
    )
    height, width = scene.shape[0] - 2 * margin, scene.shape[1] - 2 * margin
    scene_a, scene_b = scene.copy(), scene.copy()
    truth_scene: list[np.ndarray] = []
    taken = np.zeros(scene.shape[:2], bool)
    short = min(height, width)
    for kind in kinds:
        size = int(rng.uniform(0.06, 0.12) * short)
        for _ in range(50):
            center = (
                int(rng.integers(margin + size, margin + height - size)),
                int(rng.integers(margin + size, margin + width - size)),
            )
            box = (
                slice(max(center[0] - 2 * size, 0), center[0] + 2 * size),
                slice(max(center[1] - 2 * size, 0), center[1] + 2 * size),
            )
            if not taken[box].any():
                break
        if kind == "remove":
            scene_a, changed = apply_edit(scene_a, "add", center, size, rng)
        else:
            scene_b, changed = apply_edit(scene_b, kind, center, size, rng)
        taken[box] = True
        taken |= ndi.binary_dilation(changed, iterations=size)
        truth_scene.append(changed)
    a = scene_a[margin : margin + height, margin : margin + width]
    r0, c0 = margin + int(shift[0]), margin + int(shift[1])
    b_shape = (height + int(size_delta[0]), width + int(size_delta[1]))
    # B's pixel p shows the scene at its view's centre + zoom * turn * (p - its centre).
    local = (np.array(b_shape[::-1]) - 1) / 2  # (col, row), as skimage's transforms
    view = AffineTransform(translation=-local)
    view += AffineTransform(scale=zoom, rotation=turn)
    view += AffineTransform(translation=local + np.array([c0, r0]))
    if reach:
        b = warp(scene_b, view, output_shape=b_shape, order=3, mode="edge")
        b = b.astype(np.float32)
    else:
        b = scene_b[r0 : r0 + b_shape[0], c0 : c0 + b_shape[1]]
    # A change B's view does not show cannot be found: the truth is what both show.
    rows, cols = np.mgrid[margin : margin + height, margin : margin + width]
    where = view.inverse(np.column_stack([cols.ravel(), rows.ravel()]))
    seen = (
        (where[:, 0] >= 0)
        & (where[:, 0] <= b_shape[1] - 1)
        & (where[:, 1] >= 0)
        & (where[:, 1] <= b_shape[0] - 1)
    ).reshape(height, width)
    truth = [m[margin : margin + height, margin : margin + width] & seen for m in truth_scene]
    keep = [i for i, m in enumerate(truth) if m.sum() >= 4]
    truth = [truth[i] for i in keep]
    kinds_kept = [list(kinds)[i] for i in keep]
    b = b.copy()
    if "resample" in nuisances:
        factor = float(nuisances["resample"])
        small = resize(
            b,
            (round(b.shape[0] * factor), round(b.shape[1] * factor)),
            order=1,
            anti_aliasing=True,
        )
        b = resize(small, b.shape[:2], order=3).astype(np.float32)
    if "gamma" in nuisances:
        b = np.clip(b, 0.0, 1.0) ** float(nuisances["gamma"])
    if "gain" in nuisances or "offset" in nuisances:
        b = b * float(nuisances.get("gain", 1.0)) + float(nuisances.get("offset", 0.0)) / 255
    if "noise" in nuisances:
        sigma = float(nuisances["noise"]) / 255
        blur = float(nuisances.get("noise_blur", 0.0))
        a = a + _sensor_noise(rng, a.shape, sigma, blur)
        b = b + _sensor_noise(rng, b.shape, sigma, blur)
    a8, b8 = _to_uint8(a), _to_uint8(b)
    if "jpeg" in nuisances:
        qa, qb = nuisances["jpeg"]
        files = (encode_jpeg(a8, qa), encode_jpeg(b8, qb))
        nuisances["jpeg_files"] = files  # the encoded bytes, to store as they are
        a8, b8 = decode(files[0]), decode(files[1])
    return Pair(a8, b8, truth, kinds_kept, info=nuisances)


def _sensor_noise(
    rng: np.random.Generator, shape: tuple[int, ...], sigma: float, blur: float
) -> np.ndarray:
    """Gaussian noise of deviation `sigma`, blurred by `blur` px, then scaled back to `sigma`."""
    noise = rng.normal(0, sigma, shape).astype(np.float32)
    if blur > 0:
        noise = ndi.gaussian_filter(noise, (blur, blur, 0))
        noise *= np.float32(sigma / noise.std())
    return noise


def demo_pair() -> Pair:
    """The bundled sample: scikit-image's coffee photo with six spot-the-difference edits.

    JPEG at qualities 90 and 80 with a 4 % exposure change on B, so it carries
    real compression noise. ``imgdiff-widget demo`` uses the stored files
    (``imgdiff_widget/data/coffee_[ab].jpg``, the bytes in
    ``pair.info["jpeg_files"]``); this function regenerates them.
    """
    from skimage import data

    return make_pair(
        data.coffee(),
        ("add", "remove", "recolor", "hue", "small", "line"),
        seed=7,
        nuisances={"jpeg": (90, 80), "gain": 1.04, "offset": 2},
    )
