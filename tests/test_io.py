"""Tests of ``load_image``: every kind of source, mode and dtype, and every failure."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from imgdiff_widget import (
    ImageDiffError,
    ImageLoadError,
    ImageShapeError,
    ImageValueError,
    compare,
    load_image,
)
from imgdiff_widget._io import load_mask


def _png_bytes(image: Image.Image, **kwargs) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", **kwargs)
    return buffer.getvalue()


def _jpeg_bytes(image: Image.Image, **kwargs) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=95, **kwargs)
    return buffer.getvalue()


def _check_loaded(image: np.ndarray, shape: tuple[int, int]) -> None:
    assert image.dtype == np.float32
    assert image.shape == (*shape, 3)
    assert not image.flags.writeable
    assert image.min() >= 0.0
    assert image.max() <= 1.0


@pytest.fixture
def rgb8() -> np.ndarray:
    rng = np.random.default_rng(3)
    return rng.integers(0, 256, (6, 9, 3), dtype=np.uint8)


# --- sources -----------------------------------------------------------------


def test_every_source_kind_gives_the_same_pixels(tmp_path, rgb8):
    path = tmp_path / "img.png"
    Image.fromarray(rgb8).save(path)
    expected = rgb8.astype(np.float32) / 255
    for source in (path, str(path), path.read_bytes(), Image.fromarray(rgb8), rgb8):
        loaded = load_image(source)
        _check_loaded(loaded, rgb8.shape[:2])
        np.testing.assert_allclose(loaded, expected, atol=1e-6)


def test_bytearray_and_memoryview(rgb8):
    data = _png_bytes(Image.fromarray(rgb8))
    for source in (bytearray(data), memoryview(data)):
        np.testing.assert_allclose(load_image(source), rgb8 / 255, atol=1e-6)


def test_unsupported_source_type_names_the_type():
    with pytest.raises(ImageLoadError, match="list"):
        load_image([[0, 1], [1, 0]])
    with pytest.raises(ImageLoadError, match="NoneType"):
        load_image(None)


# --- modes -------------------------------------------------------------------


def test_gray_is_repeated_into_three_equal_channels():
    gray = np.arange(12, dtype=np.uint8).reshape(3, 4) * 20
    for source in (gray, gray[..., None], Image.fromarray(gray)):
        loaded = load_image(source)
        _check_loaded(loaded, (3, 4))
        for channel in range(3):
            np.testing.assert_allclose(loaded[..., channel], gray / 255, atol=1e-6)


def test_rgba_is_composited_over_white():
    rgba = np.zeros((2, 3, 4), np.uint8)
    rgba[..., 0] = 200  # red everywhere, hidden under alpha = 0 at [0, 0]
    rgba[..., 3] = 255
    rgba[0, 0, 3] = 0  # transparent: white
    rgba[0, 1, 3] = 128  # half transparent: halfway to white
    for source in (rgba, Image.fromarray(rgba), _png_bytes(Image.fromarray(rgba))):
        loaded = load_image(source)
        np.testing.assert_allclose(loaded[0, 0], [1, 1, 1], atol=1e-6)
        np.testing.assert_allclose(loaded[1, 2], [200 / 255, 0, 0], atol=1e-6)
        alpha = 128 / 255
        expected = np.array([200 / 255, 0, 0]) * alpha + (1 - alpha)
        np.testing.assert_allclose(loaded[0, 1], expected, atol=1e-5)


def test_two_transparent_encodings_load_equal():
    a = np.zeros((4, 4, 4), np.uint8)
    b = np.full((4, 4, 4), 77, np.uint8)
    a[..., 3] = b[..., 3] = 0
    np.testing.assert_array_equal(load_image(a), load_image(b))


def test_la_gray_with_alpha():
    la = np.zeros((2, 2, 2), np.uint8)
    la[..., 0] = 100
    la[..., 1] = 255
    la[1, 1, 1] = 0
    pil = Image.fromarray(la)
    assert pil.mode == "LA"
    for source in (la, pil, _png_bytes(pil)):
        loaded = load_image(source)
        np.testing.assert_allclose(loaded[0, 0], [100 / 255] * 3, atol=1e-6)
        np.testing.assert_allclose(loaded[1, 1], [1, 1, 1], atol=1e-6)


@pytest.mark.parametrize(
    ("mode", "straight"),
    [("La", ((100,), (199, 128))), ("RGBa", ((100, 50, 20), (199, 99, 39, 128)))],
)
def test_premultiplied_alpha_loads_as_straight_alpha(mode, straight):
    # Pillow cannot turn "La" into RGB, and "RGBa" into RGB it unpremultiplies
    # but drops the alpha: both are composited over white as "LA" and "RGBA" are.
    premultiplied = Image.new(mode, (2, 2), (*straight[0], 128))
    twin = Image.new(mode[:-1] + "A", (2, 2), straight[1])
    np.testing.assert_allclose(load_image(premultiplied), load_image(twin), atol=1e-6)
    assert load_image(premultiplied)[0, 0, 0] > 199 / 255  # over white, not dropped


def test_palette_with_transparency(tmp_path):
    index = np.array([[0, 1], [1, 2]], np.uint8)
    pil = Image.fromarray(index, mode="P")
    pil.putpalette([255, 0, 0, 0, 0, 255, 0, 255, 0] + [0] * (256 * 3 - 9))
    pil.info["transparency"] = 0
    path = tmp_path / "pal.png"
    pil.save(path, transparency=0)
    assert Image.open(path).mode == "P"
    for source in (path, pil):
        loaded = load_image(source)
        np.testing.assert_allclose(loaded[0, 0], [1, 1, 1], atol=1e-6)  # transparent
        np.testing.assert_allclose(loaded[0, 1], [0, 0, 1], atol=1e-6)
        np.testing.assert_allclose(loaded[1, 1], [0, 1, 0], atol=1e-6)


def test_palette_without_transparency():
    pil = Image.fromarray(np.array([[0, 1]], np.uint8), mode="P")
    pil.putpalette([10, 20, 30, 40, 50, 60] + [0] * (256 * 3 - 6))
    loaded = load_image(_png_bytes(pil))
    np.testing.assert_allclose(loaded[0, 1], np.array([40, 50, 60]) / 255, atol=1e-6)


def test_16_bit_png_keeps_its_precision(tmp_path):
    values = np.array([[1000, 1001, 1002], [40000, 40001, 65535]], np.uint16)
    path = tmp_path / "deep.png"
    Image.fromarray(values).save(path)
    assert Image.open(path).mode.startswith("I")
    loaded = load_image(path)
    _check_loaded(loaded, (2, 3))
    np.testing.assert_allclose(loaded[..., 0], values / 65535, rtol=0, atol=1e-6)
    # 8 bits would merge 1000 and 1001; 16 bits keep them apart.
    assert len(np.unique(loaded[..., 0])) == 6


def test_uint16_array_keeps_its_precision():
    values = np.array([[1000, 1001], [65535, 0]], np.uint16)
    loaded = load_image(values)
    np.testing.assert_allclose(loaded[..., 1], values / 65535, atol=1e-7)
    assert loaded[0, 0, 0] != loaded[0, 1, 0]


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_float_arrays(dtype):
    values = np.linspace(0, 1, 12).reshape(3, 4).astype(dtype)
    loaded = load_image(values)
    _check_loaded(loaded, (3, 4))
    np.testing.assert_allclose(loaded[..., 2], values.astype(np.float64), atol=1e-3)


def test_float_rounding_overshoot_is_clipped():
    values = np.array([[-1e-5, 1.0 + 1e-5]], np.float64)
    loaded = load_image(values)
    assert loaded.min() == 0.0
    assert loaded.max() == 1.0


def test_pil_float_mode():
    pil = Image.fromarray(np.array([[0.0, 0.25], [0.5, 1.0]], np.float32), mode="F")
    np.testing.assert_allclose(load_image(pil)[..., 0], [[0, 0.25], [0.5, 1]], atol=1e-7)


def test_bool_array():
    mask = np.array([[True, False], [False, True]])
    loaded = load_image(mask)
    np.testing.assert_array_equal(loaded[..., 0], mask.astype(np.float32))


def test_exif_orientation_is_applied():
    stored = np.zeros((20, 40, 3), np.uint8)  # H=20, W=40
    stored[:10, :10] = (255, 0, 0)  # red block at the stored top-left
    pil = Image.fromarray(stored)
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    data = _jpeg_bytes(pil, exif=exif.tobytes())
    loaded = load_image(data)
    assert loaded.shape == (40, 20, 3)  # transposed
    displayed = np.rot90(stored, k=-1) / 255  # 90 degrees clockwise
    assert np.abs(loaded - displayed).mean() < 0.02
    # The red block is at the displayed top-right.
    assert loaded[2:8, -8:-2, 0].min() > 0.9
    assert loaded[2:8, -8:-2, 1].max() < 0.15


# --- the input is never modified, the output is read-only ------------------


@pytest.mark.parametrize(
    "array",
    [
        np.full((5, 6, 3), 0.5, np.float32),
        np.full((5, 6), 0.5, np.float64),
        np.full((5, 6, 4), 128, np.uint8),
        np.full((5, 6, 3), 1000, np.uint16),
        np.ones((5, 6), bool),
    ],
    ids=["f32rgb", "f64gray", "u8rgba", "u16rgb", "bool"],
)
def test_input_array_untouched_and_output_independent(array):
    before = array.copy()
    loaded = load_image(array)
    np.testing.assert_array_equal(array, before)
    assert array.flags.writeable
    assert not np.shares_memory(loaded, array)
    assert not loaded.flags.writeable
    with pytest.raises(ValueError, match="read-only"):
        loaded[0, 0, 0] = 0.0


def test_pil_input_untouched():
    pil = Image.fromarray(np.zeros((4, 4, 4), np.uint8))
    load_image(pil)
    assert pil.mode == "RGBA"
    assert pil.size == (4, 4)


# --- decompression-bomb limit --------------------------------------------------


def test_max_pixels_limit(tmp_path):
    path = tmp_path / "big.png"
    Image.fromarray(np.zeros((100, 120), np.uint8)).save(path)
    saved = Image.MAX_IMAGE_PIXELS
    for source in (path, path.read_bytes(), Image.open(path)):
        with pytest.raises(ImageLoadError, match=r"120x100.*12,000.*max_pixels"):
            load_image(source, max_pixels=11_999)
    assert load_image(path, max_pixels=12_000).shape == (100, 120, 3)
    assert load_image(path, max_pixels=None).shape == (100, 120, 3)
    assert saved == Image.MAX_IMAGE_PIXELS  # Pillow's global limit restored
    with pytest.raises(ImageLoadError, match="decompression"):
        compare(path, path, max_pixels=100)


# --- failures: each an ImageDiffError naming the input -----------------------


def _make_bad_files(tmp_path: Path) -> dict[str, Path]:
    rng = np.random.default_rng(0)
    pil = Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8))
    png, jpg = _png_bytes(pil), _jpeg_bytes(pil)
    files = {
        "missing": tmp_path / "missing.png",
        "directory": tmp_path / "folder.png",
        "text": tmp_path / "notes.png",
        "empty": tmp_path / "empty.png",
        "truncated_png": tmp_path / "half.png",
        "truncated_jpeg": tmp_path / "half.jpg",
    }
    files["directory"].mkdir()
    files["text"].write_text("these are notes, not pixels\n")
    files["empty"].write_bytes(b"")
    files["truncated_png"].write_bytes(png[: len(png) // 2])
    files["truncated_jpeg"].write_bytes(jpg[: len(jpg) // 2])
    return files


@pytest.mark.parametrize(
    ("kind", "phrase"),
    [
        ("missing", "no such file"),
        ("directory", "is a directory"),
        ("text", "not an image"),
        ("empty", "empty"),
        ("truncated_png", "truncated"),
        ("truncated_jpeg", "truncated"),
    ],
)
def test_bad_files(tmp_path, kind, phrase):
    path = _make_bad_files(tmp_path)[kind]
    with pytest.raises(ImageLoadError, match=phrase) as info:
        load_image(path)
    assert str(path) in str(info.value)
    with pytest.raises(ImageLoadError, match="custom name"):
        load_image(path, name="custom name")
    # A mask file fails as an image file does.
    with pytest.raises(ImageLoadError, match=phrase) as info:
        load_mask(path)
    assert str(path) in str(info.value)
    # Through compare, the message says which of the two inputs is bad.
    good = np.zeros((8, 8, 3), np.uint8)
    with pytest.raises(ImageLoadError) as info:
        compare(good, path)
    assert "image B" in str(info.value)
    assert str(path) in str(info.value)


@pytest.mark.parametrize(
    ("data", "phrase"),
    [(b"", "empty"), (b"\x89PNG\r\n\x1a\n broken", "not an image|could not"), (b"abc", "not")],
)
def test_bad_bytes(data, phrase):
    with pytest.raises(ImageLoadError, match=phrase) as info:
        load_image(data)
    assert "bytes input" in str(info.value)


@pytest.mark.parametrize(
    ("array", "error", "phrase"),
    [
        (np.zeros((0, 5, 3), np.uint8), ImageShapeError, "empty"),
        (np.zeros((5, 0), np.float32), ImageShapeError, "empty"),
        (np.zeros(16, np.uint8), ImageShapeError, "1-D"),
        (np.zeros((2, 4, 4, 3), np.uint8), ImageShapeError, "4-D"),
        (np.zeros((4, 4, 5), np.uint8), ImageShapeError, "5 channels"),
        (np.zeros((4, 4, 40), np.float32), ImageShapeError, "40 channels"),
        (np.zeros((4, 4), np.int32), ImageShapeError, "int32"),
        (np.zeros((4, 4), np.int64), ImageShapeError, "int64"),
        (np.zeros((4, 4), np.int8), ImageShapeError, "int8"),
        (np.zeros((4, 4), complex), ImageShapeError, "complex"),
        (np.zeros((4, 4), object), ImageShapeError, "object"),
        (np.full((4, 4), np.nan, np.float32), ImageValueError, "NaN"),
        (np.array([[0.5, np.inf]]), ImageValueError, "infinite"),
        (np.array([[0.5, -np.inf]]), ImageValueError, "infinite"),
        (np.full((4, 4, 3), 200.0), ImageValueError, r"\[0, 1\]"),
        (np.full((4, 4), -0.5, np.float32), ImageValueError, r"\[0, 1\]"),
        (np.array([[0.0, 1.01]]), ImageValueError, r"\[0, 1\]"),
    ],
    ids=lambda v: getattr(v, "__name__", None) if isinstance(v, type) else None,
)
def test_bad_arrays(array, error, phrase):
    with pytest.raises(error, match=phrase) as info:
        load_image(array, name="my array")
    assert isinstance(info.value, ImageDiffError)
    assert "my array" in str(info.value)
    with pytest.raises(error) as info:
        compare(array, np.zeros((4, 4), np.uint8))
    assert "image A" in str(info.value)


def test_error_classes_are_value_errors():
    for cls in (ImageLoadError, ImageShapeError, ImageValueError):
        assert issubclass(cls, ImageDiffError)
        assert issubclass(cls, ValueError)


def test_unreadable_file_is_an_image_load_error(tmp_path, rgb8, monkeypatch):
    # (Simulated: CI runs as root, which reads files whatever their mode.)
    import errno
    import os

    import imgdiff_widget._io as io_module

    path = tmp_path / "a.png"
    Image.fromarray(rgb8).save(path)

    def denied(*args, **kwargs):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))

    monkeypatch.setattr(io_module, "open", denied, raising=False)
    with pytest.raises(ImageLoadError, match=r"cannot read .*a\.png.*Permission denied"):
        load_image(path)


# --- files Pillow opens in unusual ways (from a review) ----------------------


def test_an_exif_block_pillow_cannot_rewrite_still_loads_upright():
    # Tag 0x013d (a SHORT tag) holding ASCII: Pillow reads it, but
    # ImageOps.exif_transpose fails to encode the EXIF again (struct.error).
    exif = Image.Exif()
    exif[0x0112] = 6
    exif[0x010F] = "Cam"
    block = exif.tobytes().replace(b"\x01\x0f\x00\x02", b"\x01\x3d\x00\x02")
    stored = np.zeros((20, 40, 3), np.uint8)
    stored[:10, :10] = (255, 0, 0)
    loaded = load_image(_jpeg_bytes(Image.fromarray(stored), exif=block))
    assert loaded.shape == (40, 20, 3)  # turned as orientation 6 says
    assert loaded[2:8, -8:-2, 0].min() > 0.9


@pytest.mark.parametrize(
    "data",
    [
        b"P5\n4 x\n255\n" + bytes(16),  # a PPM header Pillow's parser meets with ValueError
        b"P6\n99999999999999999999 2\n255\n" + bytes(12),
    ],
    ids=["ppm-bad-size", "ppm-huge-size"],
)
def test_a_damaged_header_is_an_image_load_error(tmp_path, data):
    path = tmp_path / "damaged.ppm"
    path.write_bytes(data)
    with pytest.raises(ImageLoadError, match=r"damaged\.ppm"):
        load_image(path)


def _tiff(path: Path, values: np.ndarray) -> Path:
    Image.fromarray(values).save(path, format="TIFF")
    return path


def _raw_tiff(path: Path, values: np.ndarray) -> Path:
    """A one-strip uncompressed TIFF of `values`' own samples (grey or RGB).

    For sample types Pillow cannot write: int16 (SampleFormat 2), float RGB.
    """
    import struct

    h, w = values.shape[:2]
    samples = values.shape[2] if values.ndim == 3 else 1
    data = values.astype(values.dtype.newbyteorder("<")).tobytes()
    short, long_ = 3, 4
    sample_format = {"u": 1, "i": 2, "f": 3}[values.dtype.kind]
    entries = [
        (256, short, w),  # ImageWidth
        (257, short, h),  # ImageLength
        (258, short, 8 * values.dtype.itemsize),  # BitsPerSample (given once)
        (259, short, 1),  # Compression: none
        (262, short, 2 if samples == 3 else 1),  # Photometric: RGB or black is zero
        (273, long_, 8),  # StripOffsets: right after the header
        (277, short, samples),  # SamplesPerPixel
        (278, short, h),  # RowsPerStrip
        (279, long_, len(data)),  # StripByteCounts
        (339, short, sample_format),  # SampleFormat
    ]
    ifd = struct.pack("<H", len(entries))
    for tag, kind, value in entries:
        fmt = "<HHIHH" if kind == short else "<HHII"
        ifd += struct.pack(fmt, tag, kind, 1, value, *((0,) if kind == short else ()))
    path.write_bytes(b"II*\x00" + struct.pack("<I", 8 + len(data)) + data + ifd + bytes(4))
    return path


def test_integer_tiffs_are_scaled_by_their_format_not_their_content(tmp_path):
    ramp = np.arange(0, 65536, 1024, dtype=np.uint16).reshape(8, 8)
    a = load_image(_tiff(tmp_path / "a.tif", ramp))
    np.testing.assert_allclose(a[..., 0], ramp / 65535, atol=1e-6)
    # Signed 16-bit: 0..32767 is the whole range (negatives clip to black).
    signed = (ramp // 2).astype(np.int16)
    signed[0, 0] = -100
    b = load_image(_raw_tiff(tmp_path / "b.tif", signed))
    np.testing.assert_allclose(b[..., 0], np.clip(signed, 0, None) / 32767, atol=1e-6)
    # 32-bit integer samples are refused, as 32-bit arrays are, whatever
    # their values (scaling each by its own maximum put A and B apart).
    for dtype in (np.int32, np.uint32):
        path = _tiff(tmp_path / f"{np.dtype(dtype).name}.tif", ramp.astype(dtype))
        with pytest.raises(ImageShapeError, match="32-bit integer samples"):
            load_image(path)


def test_float_tiffs_say_what_to_do(tmp_path):
    grey = np.linspace(0, 1, 48, dtype=np.float32).reshape(6, 8)
    np.testing.assert_allclose(load_image(_raw_tiff(tmp_path / "grey.tif", grey))[..., 0], grey)
    with pytest.raises(ImageValueError, match=r"float values in \[0, 255\].*as 8- or 16-bit"):
        load_image(_raw_tiff(tmp_path / "scaled.tif", grey * 255))
    colour = np.repeat(grey[..., None], 3, axis=2)
    with pytest.raises(ImageLoadError, match="a TIFF that Pillow cannot decode"):
        load_image(_raw_tiff(tmp_path / "colour.tif", colour))


def test_a_12_bit_tiff_is_scaled_by_4095():
    import struct

    # Packed 12-bit samples, all 4095 (full scale), which Pillow reads as I;16.
    w, h = 4, 2
    data = bytes([0xFF] * (w * h * 12 // 8))
    entries = [(256, w), (257, h), (258, 12), (259, 1), (262, 1), (277, 1), (278, h)]
    data_at = 8 + 2 + (len(entries) + 2) * 12 + 4
    ifd = struct.pack("<H", len(entries) + 2)
    for tag, value in sorted([*entries, (273, data_at), (279, len(data))]):
        long_ = tag in (273, 279)
        ifd += struct.pack("<HHII" if long_ else "<HHIHH", tag, 4 if long_ else 3, 1, value,
                           *(() if long_ else (0,)))  # fmt: skip
    loaded = load_image(b"II*\x00" + struct.pack("<I", 8) + ifd + bytes(4) + data)
    np.testing.assert_allclose(loaded, 1.0)


def test_a_nul_byte_in_a_path_is_an_image_load_error():
    with pytest.raises(ImageLoadError, match="no such file"):
        load_image("foo\0bar.png")


def test_a_pipe_is_read_as_a_file(rgb8):
    import os
    import threading

    data = _png_bytes(Image.fromarray(rgb8))
    read_end, write_end = os.pipe()

    def feed():
        with os.fdopen(write_end, "wb") as pipe:
            pipe.write(data)

    feeder = threading.Thread(target=feed)
    feeder.start()
    try:
        loaded = load_image(f"/dev/fd/{read_end}")
    finally:
        feeder.join()
        os.close(read_end)
    np.testing.assert_array_equal(loaded, load_image(rgb8))


def test_a_path_the_system_refuses_is_an_image_load_error(tmp_path):
    with pytest.raises(ImageLoadError, match=r"cannot read .*name too long"):
        load_image(tmp_path / ("x" * 300 + ".png"))


def test_running_out_of_memory_is_an_image_load_error(monkeypatch, rgb8):
    import imgdiff_widget._io as io_module

    def no_memory(*args, **kwargs):
        raise MemoryError

    monkeypatch.setattr(io_module, "_to_unit_float", no_memory)
    with pytest.raises(ImageLoadError, match="not enough memory to load image A"):
        load_image(rgb8, name="image A")


def test_masked_arrays_are_refused_and_big_endian_arrays_read():
    values = np.full((8, 8), 200, np.uint8)
    with pytest.raises(ImageValueError, match="masked array"):
        load_image(np.ma.masked_array(values, mask=np.eye(8, dtype=bool)))
    big_endian = np.full((4, 5), 1000, ">u2")
    np.testing.assert_array_equal(load_image(big_endian), load_image(big_endian.astype(np.uint16)))


def test_a_pil_image_opened_from_a_file_is_never_written_over(tmp_path, rgb8):
    path = tmp_path / "mask.png"
    Image.fromarray(rgb8).save(path)
    before = path.read_bytes()
    result = compare(Image.open(path), rgb8)
    with pytest.raises(ImageDiffError, match=r"refusing to write .*mask\.png"):
        result.save(tmp_path)
    assert path.read_bytes() == before


# --- masks drawn as image files ----------------------------------------------


def _painted() -> np.ndarray:
    painted = np.zeros((20, 30), bool)
    painted[4:9, 3:12] = True
    painted[15, 25] = True
    return painted


@pytest.mark.parametrize(
    "draw",
    [
        lambda p: Image.fromarray(p.astype(np.uint8) * 255),  # white on black
        lambda p: Image.fromarray(p).convert("1"),  # bilevel
        lambda p: Image.fromarray(p.astype(np.uint16) * 1000),  # 16-bit grey
        lambda p: Image.fromarray(np.where(p[..., None], (0, 0, 90), (0, 0, 0)).astype(np.uint8)),
        # Strokes on a transparent layer; the hidden colour under alpha 0 does not count.
        lambda p: Image.fromarray(
            np.where(p[..., None], (255, 0, 0, 255), (255, 255, 255, 0)).astype(np.uint8)
        ),
        lambda p: Image.fromarray(  # grey + alpha
            np.where(p[..., None], (200, 255), (255, 0)).astype(np.uint8), "LA"
        ),
        lambda p: Image.fromarray(p.astype(np.uint8) * 255).convert("P"),
    ],
    ids=["L", "1", "I;16", "RGB", "RGBA", "LA", "P"],
)
def test_a_mask_file_is_true_where_painted(tmp_path, draw):
    path = tmp_path / "mask.png"
    draw(_painted()).save(path)
    mask = load_mask(path)
    assert mask.dtype == bool
    np.testing.assert_array_equal(mask, _painted())


def test_black_strokes_and_transparency_are_not_painted(tmp_path):
    layer = np.zeros((20, 30, 4), np.uint8)
    layer[4:9, 3:12] = (0, 0, 0, 255)  # black, opaque
    Image.fromarray(layer).save(tmp_path / "black.png")
    assert not load_mask(tmp_path / "black.png").any()


def test_nearly_black_is_black_in_a_drawn_mask(tmp_path):
    # A background at 10 instead of 0, and a JPEG's ringing around strokes.
    drawn = np.full((40, 60), 10, np.uint8)
    drawn[10:20, 10:40] = 255
    Image.fromarray(drawn).save(tmp_path / "dim.png")
    expected = drawn > 128
    np.testing.assert_array_equal(load_mask(tmp_path / "dim.png"), expected)
    drawn[:] = 0
    drawn[10:20, 10:40] = 255
    Image.fromarray(drawn).save(tmp_path / "mask.jpg", quality=75)
    assert np.count_nonzero(load_mask(tmp_path / "mask.jpg") != expected) <= 10
    # A 16-bit label image is painted wherever it is not 0.
    labels = np.zeros((40, 60), np.uint16)
    labels[10:20, 10:40] = 1
    Image.fromarray(labels).save(tmp_path / "labels.png")
    np.testing.assert_array_equal(load_mask(tmp_path / "labels.png"), expected)


def test_a_mask_file_is_turned_as_its_exif_says(tmp_path):
    stored = np.zeros((20, 40), np.uint8)  # H=20, W=40
    stored[:10, :10] = 255
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    Image.fromarray(stored).save(tmp_path / "turned.png", exif=exif.tobytes())
    mask = load_mask(tmp_path / "turned.png")
    np.testing.assert_array_equal(mask, np.rot90(stored, k=-1) > 0)


def test_a_mask_file_respects_max_pixels(tmp_path):
    path = tmp_path / "big.png"
    Image.fromarray(np.zeros((100, 120), np.uint8)).save(path)
    with pytest.raises(ImageLoadError, match=r"120x100.*max_pixels"):
        load_mask(path, max_pixels=11_999)
    assert load_mask(path, max_pixels=12_000).shape == (100, 120)
