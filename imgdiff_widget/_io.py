"""Loading images from paths, bytes, PIL images and arrays.

Every loader returns a read-only float32 array of shape (H, W, 3) in [0, 1]:
the image as a viewer shows it. Transparent images are composited over white,
as browsers and image viewers show them, so two files that encode the same
visible picture with different hidden colour under alpha = 0 compare equal.
"""

from __future__ import annotations

import contextlib
import io as _stdio
import os
import stat
import threading
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from ._errors import ImageDiffError, ImageLoadError, ImageShapeError, ImageValueError

__all__ = ["DEFAULT_MAX_PIXELS", "ImageSource", "load_image", "load_mask"]

#: Largest image, in pixels, that :func:`load_image` decodes by default. A guard
#: against decompression bombs that still admits 37 MP full-page screenshots.
DEFAULT_MAX_PIXELS = 250_000_000

ImageSource = str | os.PathLike | bytes | Image.Image | np.ndarray

# Float input may overshoot [0, 1] by rounding; more than this is a real error.
_FLOAT_TOLERANCE = 1e-3
# What to do with floats beyond [0, 1], in an array and in a file.
_ARRAY_FIX = "Divide by the maximum (e.g. a / 255) or pass uint8."
_FILE_FIX = "Save it scaled to [0, 1], or as 8- or 16-bit."
# Pillow's own bomb check reads a module global; we swap it under a lock.
_PIL_LIMIT_LOCK = threading.Lock()
# Pillow's modes of one integer sample per pixel (16- and 32-bit grey).
_INTEGER_GREY = ("I;16", "I;16B", "I;16L", "I;16N", "I")
# A mask file's 8-bit values (and alphas) up to this count as black (transparent).
_MASK_DARK = 32
# EXIF orientation (tag 0x0112) -> the transpose that shows the image upright.
_ORIENTATION = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


def load_image(
    source: ImageSource,
    *,
    name: str | None = None,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
) -> np.ndarray:
    """Load an image as a read-only float32 RGB array in [0, 1].

    Parameters
    ----------
    source : str, path-like, bytes, PIL.Image.Image or ndarray
        A file path, the encoded bytes of an image file, a PIL image, or an
        array of shape (H, W), (H, W, 1), (H, W, 2) (grey + alpha), (H, W, 3) or
        (H, W, 4) with dtype bool, uint8, uint16 or float (values in [0, 1]).
    name : str, optional
        What to call the input in error messages (defaults to the path, or to
        the kind of object).
    max_pixels : int or None, optional
        Refuse images with more pixels than this (decompression-bomb guard).
        None disables the check.

    Returns
    -------
    image : ndarray of float32, shape (H, W, 3)
        The image as displayed: EXIF orientation applied, palette expanded,
        alpha composited over white. Marked read-only; the caller's object is
        never modified.

    Raises
    ------
    ImageLoadError
        The file is missing, a directory, empty, truncated or not an image,
        the image exceeds `max_pixels`, or there is not enough memory to
        hold it.
    ImageShapeError
        An array is empty, has more than 3 dimensions or more than 4 channels,
        or an unsupported dtype (32-bit integer files too).
    ImageValueError
        An array holds NaN or infinite values, or floats outside [0, 1], or
        is a masked array.
    """
    try:
        image = _load(source, name, max_pixels)
    except MemoryError:
        raise ImageLoadError(
            f"not enough memory to load {name or 'the image'} (it is held as float32 RGB, "
            "12 bytes per pixel); downscale it first, or free memory."
        ) from None
    image.flags.writeable = False
    return image


def _load(source: ImageSource, name: str | None, max_pixels: int | None) -> np.ndarray:
    if isinstance(source, np.ma.MaskedArray):
        raise ImageValueError(
            f"{name or 'array input'} is a masked array; pass its values (e.g. "
            "a.filled(0)) and give the masked area as ignore= instead."
        )
    if isinstance(source, np.ndarray):
        label = name or "array input"
        image = _from_array(source, label)
    elif isinstance(source, Image.Image):
        label = name or "PIL image input"
        image = _from_pil(source, label, max_pixels)
    elif isinstance(source, (bytes, bytearray, memoryview)):
        label = name or "bytes input"
        data = bytes(source)
        if not data:
            raise ImageLoadError(f"{label} is empty (0 bytes): pass the bytes of an image file.")
        image = _open_and_convert(_stdio.BytesIO(data), label, max_pixels)
    elif isinstance(source, (str, os.PathLike)):
        label = name or str(source)
        with _read_file(Path(source), label) as fh:
            image = _open_and_convert(fh, label, max_pixels)
    else:
        raise ImageLoadError(
            f"cannot load {name or 'input'} of type {type(source).__name__}: pass a file "
            "path, the bytes of an image file, a PIL image or a NumPy array."
        )
    return image


@contextlib.contextmanager
def _read_file(path: Path, label: str):
    """`path` opened for reading, checked first; an OSError while reading is an ImageLoadError."""
    _check_file(path, label)
    try:
        with open(path, "rb") as fh:
            yield fh
    except OSError as exc:  # (decoding errors are ImageLoadErrors already)
        raise ImageLoadError(
            f"cannot read {label}: {exc.strerror or exc}; check that you may read it."
        ) from None


def _check_file(path: Path, label: str) -> None:
    try:
        status = path.stat()
    except (FileNotFoundError, NotADirectoryError, ValueError):  # (ValueError: a NUL byte)
        raise ImageLoadError(f"{label}: no such file; check the path.") from None
    except OSError as exc:  # too long a name, no permission on a folder, ...
        raise ImageLoadError(
            f"cannot read {label}: {exc.strerror or exc}; check the path."
        ) from None
    if stat.S_ISDIR(status.st_mode):
        raise ImageLoadError(f"{label} is a directory; pass an image file inside it.")
    # (A pipe or a device has no size to check: Pillow reads what comes.)
    if stat.S_ISREG(status.st_mode) and status.st_size == 0:
        raise ImageLoadError(f"{label} is empty (0 bytes); it is not an image file.")


def _open_and_convert(fh, label: str, max_pixels: int | None) -> np.ndarray:
    return _from_pil(_open(fh, label), label, max_pixels)


def _open(fh, label: str) -> Image.Image:
    """Pillow's lazy image of an open file (nothing decoded yet), or a clear error."""
    with _PIL_LIMIT_LOCK, warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        saved_limit = Image.MAX_IMAGE_PIXELS
        # Our own limit replaces Pillow's; it is checked below before decoding.
        Image.MAX_IMAGE_PIXELS = None
        try:
            pil = Image.open(fh)
        except UnidentifiedImageError:
            if _is_tiff(fh):
                raise ImageLoadError(
                    f"{label} is a TIFF that Pillow cannot decode (e.g. float colour or an "
                    "unusual compression); save it as 8- or 16-bit, or read it yourself "
                    "(e.g. with tifffile) and pass the array."
                ) from None
            raise ImageLoadError(
                f"{label} is not an image file Pillow can read (PNG, JPEG, TIFF, BMP, "
                "WebP, GIF, ...); check that it is the file you meant."
            ) from None
        except MemoryError:
            raise
        except Exception as exc:  # a damaged header raises anything
            # (OSError, and from some formats' parsers ValueError, struct.error,
            # NotImplementedError, ...)
            raise ImageLoadError(
                f"{label} could not be read ({type(exc).__name__}: {exc}); the file is "
                "damaged or in a form Pillow does not support: export it again."
            ) from None
        finally:
            Image.MAX_IMAGE_PIXELS = saved_limit
    return pil


def _check_pixels(pil: Image.Image, label: str, max_pixels: int | None) -> None:
    width, height = pil.size
    if max_pixels is not None and width * height > max_pixels:
        raise ImageLoadError(
            f"{label} is {width}x{height} = {width * height:,} pixels, more than the "
            f"limit of {max_pixels:,} (a guard against decompression bombs); raise "
            "max_pixels (--max-pixels on the command line) if you trust this file."
        )


def _from_pil(pil: Image.Image, label: str, max_pixels: int | None) -> np.ndarray:
    _check_pixels(pil, label, max_pixels)
    with _decoding(label):
        pil.load()
        samples = _tiff_samples(pil)  # (read before turning: the turned copy has no tags)
        # Phones store the camera orientation in EXIF; show it as a viewer does.
        pil = _straight_alpha(_upright(pil))
        if pil.mode in _INTEGER_GREY:
            return _from_integer_grey(np.asarray(pil), label, samples)
        if pil.mode == "F":
            return _from_array(np.asarray(pil), label, fix=_FILE_FIX)
        arr = np.asarray(pil.convert("RGBA" if _has_alpha(pil) else "RGB"))
    return _from_array(arr, label)


def load_mask(
    path: str | os.PathLike,
    *,
    name: str | None = None,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
) -> np.ndarray:
    """Load a mask drawn as an image file: True where it is painted.

    Painted means neither black nor transparent, so both usual ways of
    drawing a mask work: white (or any colour) on black, and strokes of any
    colour but black on a transparent layer. In 8-bit files, values up to
    :data:`_MASK_DARK` count as black and alphas up to it as transparent
    (a JPEG's ringing around a stroke, a background that is nearly black);
    16- and 32-bit grey files (label images) are painted wherever not 0.
    The EXIF orientation is applied as for images, so the mask lies over the
    image it was drawn on.

    Raises
    ------
    ImageLoadError
        As :func:`load_image`.
    """
    label = name or str(path)
    try:
        with _read_file(Path(path), label) as fh:
            pil = _open(fh, label)
            _check_pixels(pil, label, max_pixels)
            with _decoding(label):
                pil = _straight_alpha(_upright(pil))
                if pil.mode in _INTEGER_GREY or pil.mode == "F":
                    return np.asarray(pil) != 0
                if not _has_alpha(pil):
                    grey = pil.mode in ("1", "L")
                    values = np.asarray(pil.convert("L" if grey else "RGB"))
                    return values > _MASK_DARK if grey else values.max(axis=-1) > _MASK_DARK
                rgba = np.asarray(pil.convert("RGBA"))
                painted = rgba[..., 3] > _MASK_DARK
                painted &= rgba[..., :3].max(axis=-1) > _MASK_DARK
                return painted
    except MemoryError:
        raise ImageLoadError(f"not enough memory to load {label}; free memory.") from None


def _straight_alpha(pil: Image.Image) -> Image.Image:
    """Premultiplied alpha (PIL's La and RGBa, made in memory) as its straight-alpha twin."""
    return pil.convert(pil.mode[:-1] + "A") if pil.mode in ("La", "RGBa") else pil


def _has_alpha(pil: Image.Image) -> bool:
    return "A" in pil.getbands() or "transparency" in pil.info


@contextlib.contextmanager
def _decoding(label: str):
    """Turn whatever a damaged file raises while decoding into an ImageLoadError."""
    try:
        yield
    except (MemoryError, ImageDiffError):
        raise
    except Exception as exc:  # a damaged file raises anything
        raise ImageLoadError(
            f"{label} could not be decoded ({type(exc).__name__}: {exc}); the file is "
            "probably truncated or corrupt, or in a form Pillow does not support: "
            "export it again."
        ) from None


def _is_tiff(fh) -> bool:
    """Whether the file starts as a TIFF does (either byte order)."""
    try:
        fh.seek(0)
        return fh.read(4) in (b"II*\x00", b"MM\x00*")
    except (OSError, ValueError):
        return False


def _upright(pil: Image.Image) -> Image.Image:
    """The image turned as its EXIF orientation says (as stored when that is unreadable).

    Reads the one tag: ``ImageOps.exif_transpose`` also rewrites the EXIF, and
    fails on files whose other tags it cannot encode again.
    """
    try:
        orientation = pil.getexif().get(0x0112, 1)
    except Exception:  # unreadable EXIF: shown as stored, as viewers do
        return pil
    method = _ORIENTATION.get(orientation)
    return pil if method is None else pil.transpose(method)


def _tiff_samples(pil: Image.Image) -> tuple[int, bool] | None:
    """A TIFF's bits per sample and whether they are signed; None for other files."""
    if pil.format != "TIFF" or not hasattr(pil, "tag_v2"):
        return None
    bits = _first(pil.tag_v2.get(258, 16))  # BitsPerSample
    return int(bits), _first(pil.tag_v2.get(339, 1)) == 2  # SampleFormat 2: signed


def _from_integer_grey(arr: np.ndarray, label: str, samples: tuple[int, bool] | None):
    """Integer grey samples in [0, 1], scaled by their format, never by the image's content.

    (Scaling by each image's own maximum would put A and B on different
    scales.) `samples` is the TIFF's ``(bits, signed)``; other formats' integer
    grey is 16-bit (PNG, PGM, ...), and a 32-bit one shows itself by values
    beyond 16 bits. Samples are scaled by their largest value (4095 for
    12-bit, 32767 for signed 16-bit; negatives clipped); 32-bit samples are
    refused, as 32-bit arrays are.
    """
    if samples is None:
        beyond = arr.min(initial=0) < 0 or arr.max(initial=0) > 65535
        samples = (32, True) if beyond else (16, False)
    bits, signed = samples
    if bits > 16:
        raise ImageShapeError(
            f"{label} holds {bits}-bit integer samples, which are not supported; save it "
            "as 16-bit or as float in [0, 1] (or load it yourself and pass a float array)."
        )
    maximum = np.float32(2 ** (bits - 1 if signed else bits) - 1)
    return _gray_to_rgb(np.clip(arr, 0, None).astype(np.float32) / maximum)


def _first(value):
    """A TIFF tag's first value (per-sample tags come as tuples)."""
    return value[0] if isinstance(value, tuple) else value


def _from_array(arr: np.ndarray, label: str, *, fix: str = _ARRAY_FIX) -> np.ndarray:
    if arr.size == 0:
        raise ImageShapeError(
            f"{label} is empty (shape {arr.shape}); pass an image with at least one pixel."
        )
    if arr.ndim == 3 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    if arr.ndim not in (2, 3):
        raise ImageShapeError(
            f"{label} has shape {arr.shape} ({arr.ndim}-D); an image is (H, W) or "
            "(H, W, C) with C = 1 to 4. Pass one image, not a stack."
        )
    if arr.ndim == 3 and arr.shape[-1] > 4:
        raise ImageShapeError(
            f"{label} has {arr.shape[-1]} channels (shape {arr.shape}); images have 1 "
            "(grey), 2 (grey + alpha), 3 (RGB) or 4 (RGBA) channels, last axis."
        )
    values = _to_unit_float(arr, label, fix)
    if values.ndim == 2:
        return _gray_to_rgb(values)
    channels = values.shape[-1]
    if channels == 2:
        gray, alpha = values[..., 0], values[..., 1]
        return _gray_to_rgb(gray * alpha + (1.0 - alpha))
    if channels == 4:
        rgb, alpha = values[..., :3], values[..., 3:]
        return np.ascontiguousarray(rgb * alpha + (1.0 - alpha), dtype=np.float32)
    return np.ascontiguousarray(values, dtype=np.float32)


def _to_unit_float(arr: np.ndarray, label: str, fix: str = _ARRAY_FIX) -> np.ndarray:
    """Return a new float32 array in [0, 1]; never a view of the input.

    `fix` says what to do with floats beyond [0, 1] (an array is divided; a
    file is saved again).
    """
    if not arr.dtype.isnative:  # e.g. big-endian '>u2' read from a file
        arr = arr.astype(arr.dtype.newbyteorder("="))
    kind = arr.dtype.kind
    if arr.dtype == np.bool_:
        return arr.astype(np.float32)
    if arr.dtype in (np.uint8, np.uint16):
        # In place: one float32 copy of the image, not two.
        out = arr.astype(np.float32)
        out /= np.float32(255 if arr.dtype == np.uint8 else 65535)
        return out
    if kind == "f":
        if not np.isfinite(arr).all():
            raise ImageValueError(
                f"{label} contains NaN or infinite values; replace them (e.g. "
                "np.nan_to_num) before comparing."
            )
        lo, hi = float(arr.min()), float(arr.max())
        if lo < -_FLOAT_TOLERANCE or hi > 1 + _FLOAT_TOLERANCE:
            raise ImageValueError(
                f"{label} holds float values in [{lo:g}, {hi:g}]; float images must lie "
                f"in [0, 1]. {fix}"
            )
        return np.clip(arr, 0.0, 1.0, dtype=np.float32, casting="unsafe")
    raise ImageShapeError(
        f"{label} has dtype {arr.dtype}, which is not supported; pass bool, uint8, "
        "uint16 or float (in [0, 1]), e.g. with skimage.util.img_as_ubyte."
    )


def _gray_to_rgb(gray: np.ndarray) -> np.ndarray:
    gray = gray.astype(np.float32, copy=False)
    return np.ascontiguousarray(np.repeat(gray[..., None], 3, axis=-1))
