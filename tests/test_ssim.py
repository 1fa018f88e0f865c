"""ssim_map: scikit-image's numbers (within 1e-4), strips, dtypes, errors."""

from __future__ import annotations

import contextlib
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import ndimage
from skimage import data
from skimage.metrics import structural_similarity

import imgdiff_widget._ssim as ssim_mod
from imgdiff_widget._errors import (
    ImageShapeError,
    ParameterError,
    SizeMismatchError,
)
from imgdiff_widget._ssim import ssim_map

TOL = 1e-4


@contextlib.contextmanager
def strips(rows: int | None):
    """Force strips of ``rows`` rows (None: the defaults), threads on."""
    saved = (
        ssim_mod._STRIP_BYTES,
        ssim_mod._MIN_STRIP_ROWS,
        ssim_mod._MIN_PARALLEL_PIXELS,
    )
    try:
        if rows is not None:
            ssim_mod._STRIP_BYTES = 1
            ssim_mod._MIN_STRIP_ROWS = rows
            ssim_mod._MIN_PARALLEL_PIXELS = 0
        yield
    finally:
        (
            ssim_mod._STRIP_BYTES,
            ssim_mod._MIN_STRIP_ROWS,
            ssim_mod._MIN_PARALLEL_PIXELS,
        ) = saved


def skimage_ssim(a, b, **kwargs):
    kwargs.setdefault("win_size", 7)
    return structural_similarity(a, b, full=True, **kwargs)


def assert_matches(a, b, tol=TOL, reference=None, **kwargs):
    mean, smap = ssim_map(a, b, **kwargs)
    ref_mean, ref_map = skimage_ssim(*(reference if reference is not None else (a, b)), **kwargs)
    assert isinstance(mean, float)
    assert smap.dtype == np.float32
    assert smap.shape == a.shape
    np.testing.assert_allclose(smap, ref_map, rtol=0, atol=tol)
    assert mean == pytest.approx(float(ref_mean), abs=tol)
    return mean, smap


def pair(shape, seed=0, dtype=np.float32, noise=0.1):
    rng = np.random.default_rng(seed)
    a = rng.random(shape).astype(dtype)
    b = np.clip(a + noise * rng.standard_normal(shape), 0, 1).astype(dtype)
    return a, b


CASES = [
    pytest.param({}, id="uniform7"),
    pytest.param({"use_sample_covariance": False}, id="uniform7-pop"),
    pytest.param({"win_size": 3, "K1": 0.05, "K2": 0.1}, id="uniform3-K"),
    pytest.param({"win_size": 11}, id="uniform11"),
    pytest.param({"gaussian_weights": True, "win_size": None}, id="gauss-derived"),
    pytest.param(
        {"gaussian_weights": True, "win_size": None, "use_sample_covariance": False},
        id="gauss-wang",
    ),
    pytest.param({"gaussian_weights": True, "sigma": 0.8, "win_size": 5}, id="gauss-s0.8-w5"),
    pytest.param({"gaussian_weights": True, "win_size": 7}, id="gauss-explicit7"),
]

SHAPES = [(11, 11), (12, 13), (37, 23), (64, 64), (129, 47), (23, 150)]


@pytest.mark.parametrize("rows", [None, 1, 5, 16])
@pytest.mark.parametrize("kwargs", CASES)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_matches_skimage_float32(shape, kwargs, rows):
    a, b = pair(shape, seed=sum(shape))
    with strips(rows):
        assert_matches(a, b, data_range=1.0, **kwargs)


@pytest.mark.parametrize("rows", [None, 3])
@pytest.mark.parametrize("win_size", [1, 3, 5, 7])
def test_tiny_images_equal_to_window(win_size, rows):
    a, b = pair((win_size, win_size + 2), seed=win_size)
    kwargs = {"use_sample_covariance": win_size > 1}
    with strips(rows):
        assert_matches(a, b, data_range=1.0, win_size=win_size, **kwargs)


@pytest.mark.parametrize("rows", [None, 1, 2])
@pytest.mark.parametrize("shape", [(3, 3), (3, 9), (5, 4)], ids=str)
def test_gaussian_wider_than_image(shape, rows):
    # radius 5 > image side: the halo reflects more than once, as scipy does.
    a, b = pair(shape, seed=7)
    with strips(rows):
        assert_matches(a, b, data_range=1.0, gaussian_weights=True, sigma=1.5, win_size=3)


def test_large_image_default_strips_and_threads():
    # Several default-sized strips (and both workers) on a real photo.
    img = data.camera().astype(np.float32) / 255
    rng = np.random.default_rng(3)
    a = np.tile(img, (2, 1))[:700, :300]
    b = np.clip(a + rng.normal(0, 0.03, a.shape), 0, 1).astype(np.float32)
    with strips(None):
        ssim_mod._STRIP_BYTES = 40 * 300 * 4
        ssim_mod._MIN_PARALLEL_PIXELS = 0
        assert_matches(a, b, data_range=1.0)
        assert_matches(
            a,
            b,
            data_range=1.0,
            gaussian_weights=True,
            win_size=None,
            use_sample_covariance=False,
        )


@pytest.mark.parametrize("rows", [None, 8])
@pytest.mark.parametrize("kwargs", CASES[:1] + CASES[5:6])
def test_nan_and_huge_values_stay_in_their_windows(kwargs, rows):
    # The fast path multiplies whole blocks of rows and columns by banded
    # matrices, where 0 * nan would spread a NaN over the block: strips with
    # a non-finite value (or a value whose square overflows float32) must
    # take the tap-by-tap path and give scikit-image's map, NaNs included.
    a, b = pair((64, 96), seed=11)
    a[20, 30] = np.nan
    b[45, 70] = 3e19  # finite, but its float32 square is inf
    with strips(rows), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        smap = ssim_map(a, b, data_range=1.0, **kwargs)[1]
        ref = skimage_ssim(a, b, data_range=1.0, **kwargs)[1]
    # NaN wherever a window holds the NaN pixel; the Gaussian filter keeps it
    # there, scipy's running box sum (and so scikit-image) carries it on along
    # its line.
    radius = 5 if kwargs.get("gaussian_weights") else 3
    reach = np.zeros(a.shape, bool)
    reach[20 - radius : 21 + radius, 30 - radius : 31 + radius] = True
    nan = np.isnan(smap)
    assert nan[reach].all()
    assert np.isnan(ref[nan]).all()
    if kwargs.get("gaussian_weights"):
        np.testing.assert_array_equal(nan, reach)
    both = np.isfinite(ref) & ~nan
    assert both[:12].all()
    assert both[52:].any()
    np.testing.assert_allclose(smap[both], ref[both], rtol=0, atol=TOL)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.int16, np.float64])
@pytest.mark.parametrize(
    "kwargs", [{}, {"gaussian_weights": True, "win_size": None}], ids=["u", "g"]
)
def test_other_dtypes(dtype, kwargs):
    img = data.camera()[100:180, 200:290]
    rng = np.random.default_rng(5)
    noisy = np.clip(img + rng.normal(0, 6, img.shape), 0, 255)
    if dtype == np.float64:
        a, b = img / 255.0, noisy / 255.0
        kwargs = {**kwargs, "data_range": 1.0}
    else:
        scale = 257 if dtype == np.uint16 else 1
        a = (img.astype(np.int64) * scale).astype(dtype)
        b = (noisy.astype(np.int64) * scale).astype(dtype)
    a0, b0 = a.copy(), b.copy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        # The kernel computes in float32: it matches scikit-image on the
        # float32 conversion (with the data_range of the original dtype)...
        dr = kwargs.get("data_range")
        if dr is None:
            dr = float(np.iinfo(dtype).max) - float(np.iinfo(dtype).min)
        mean, smap = ssim_map(a, b, **kwargs)
        _, ref32 = skimage_ssim(
            a.astype(np.float32), b.astype(np.float32), **{**kwargs, "data_range": dr}
        )
        np.testing.assert_allclose(smap, ref32, rtol=0, atol=TOL)
        # ... and scikit-image's float64 evaluation up to float32 rounding.
        ref_mean, ref64 = skimage_ssim(a, b, **kwargs)
    np.testing.assert_allclose(smap, ref64, rtol=0, atol=5e-4)
    assert mean == pytest.approx(float(ref_mean), abs=TOL)
    np.testing.assert_array_equal(a, a0)
    np.testing.assert_array_equal(b, b0)


def test_uint8_default_data_range_is_255():
    a = data.camera()[:64, :64]
    b = np.roll(a, 1, axis=1)
    mean, _ = ssim_map(a, b)
    mean_255, _ = ssim_map(a.astype(np.float32), b.astype(np.float32), data_range=255)
    assert mean == mean_255


def test_uint16_without_data_range_warns():
    a, b = pair((20, 20))
    a16, b16 = (a * 60000).astype(np.uint16), (b * 60000).astype(np.uint16)
    with pytest.warns(UserWarning, match="data_range = 65535"):
        ssim_map(a16, b16)


def test_mismatched_int_dtypes_warn():
    a = data.camera()[:20, :20]
    with pytest.warns(UserWarning, match="mismatched dtypes"):
        ssim_map(a, a.astype(np.uint16))


@pytest.mark.parametrize("rows", [None, 4])
@pytest.mark.parametrize("channel_axis", [-1, 0, 1])
@pytest.mark.parametrize(
    "kwargs", [{}, {"gaussian_weights": True, "win_size": None}], ids=["u", "g"]
)
def test_multichannel(channel_axis, kwargs, rows):
    a, b = pair((30, 27, 3), seed=11)
    a, b = np.moveaxis(a, -1, channel_axis), np.moveaxis(b, -1, channel_axis)
    with strips(rows):
        assert_matches(a, b, data_range=1.0, channel_axis=channel_axis, **kwargs)


def test_multichannel_rgb_uint8():
    a = data.astronaut()[::4, ::4]
    b = np.clip(a.astype(int) + 10, 0, 255).astype(np.uint8)
    assert_matches(
        a,
        b,
        tol=5e-4,
        reference=(a, b),
        channel_axis=-1,
    )


@pytest.mark.parametrize("shape", [(50,), (12, 13, 14), (9, 8, 7, 3)], ids=["1d", "3d", "4d"])
@pytest.mark.parametrize("rows", [None, 3])
def test_other_dimensionalities(shape, rows):
    a, b = pair(shape, seed=len(shape))
    win = min(min(shape), 7) | 1
    with strips(rows):
        assert_matches(a, b, data_range=1.0, win_size=win)


def test_non_contiguous_and_readonly_inputs():
    a, b = pair((60, 80), seed=2)
    at, bt = np.asfortranarray(a), b.T.copy().T
    at.flags.writeable = False
    with strips(7):
        assert_matches(at, bt, data_range=1.0)
        assert_matches(a[::2, 1::3], b[::2, 1::3], data_range=1.0)


@pytest.mark.parametrize(
    "kwargs", [{}, {"gaussian_weights": True, "win_size": None}], ids=["u", "g"]
)
def test_identical_images_give_one(kwargs):
    img = data.camera()[:90, :70].astype(np.float32) / 255
    with strips(8):
        mean, smap = ssim_map(img, img, data_range=1.0, **kwargs)
    assert mean == pytest.approx(1.0, abs=1e-6)
    np.testing.assert_allclose(smap, 1.0, atol=1e-5)


def test_inputs_not_mutated():
    a, b = pair((40, 41), seed=4)
    a0, b0 = a.copy(), b.copy()
    ssim_map(a, b, data_range=1.0)
    ssim_map(a, b, data_range=1.0, gaussian_weights=True)
    np.testing.assert_array_equal(a, a0)
    np.testing.assert_array_equal(b, b0)


# -- errors -----------------------------------------------------------------


@pytest.mark.parametrize(("a_shape", "b_shape"), [((10, 10), (10, 11)), ((10, 10), (10, 10, 1))])
def test_mismatched_shapes(a_shape, b_shape):
    with pytest.raises(SizeMismatchError, match="same shape") as info:
        ssim_map(np.zeros(a_shape), np.zeros(b_shape), data_range=1.0)
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize("win_size", [2, 4, 0, -3])
def test_bad_win_size(win_size):
    a = np.zeros((20, 20), np.float32)
    with pytest.raises(ParameterError, match="win_size must be odd"):
        ssim_map(a, a, data_range=1.0, win_size=win_size)


@pytest.mark.parametrize("win_size", [2.5, "7"])
def test_win_size_not_int(win_size):
    a = np.zeros((20, 20), np.float32)
    with pytest.raises(ParameterError, match="win_size"):
        ssim_map(a, a, data_range=1.0, win_size=win_size)


@pytest.mark.parametrize(
    ("shape", "kwargs"),
    [
        ((6, 20), {}),
        ((20, 6), {}),
        ((10, 10), {"gaussian_weights": True, "win_size": None}),
        ((5, 5, 3), {}),  # colour image without channel_axis
        ((10, 10, 3), {"channel_axis": 0}),
    ],
)
def test_win_size_exceeds_image(shape, kwargs):
    a = np.zeros(shape, np.float32)
    with pytest.raises(ImageShapeError, match="exceeds the image extent"):
        ssim_map(a, a, data_range=1.0, **kwargs)
    with pytest.raises(ValueError, match=r"win_size exceeds image extent|Window"):
        skimage_ssim(a, a, data_range=1.0, **kwargs)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16])
def test_float_requires_data_range(dtype):
    a = np.zeros((10, 10), dtype)
    with pytest.raises(ParameterError, match="data_range is required"):
        ssim_map(a, a)
    with pytest.raises(ParameterError, match="data_range is required"):
        ssim_map(a.astype(np.uint8), a)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("K1", -0.01),
        ("K2", -1),
        ("sigma", -1.5),
        ("data_range", 0),
        ("data_range", -1.0),
        ("data_range", float("nan")),
        ("K1", "big"),
    ],
)
def test_bad_numbers(name, value):
    a = np.zeros((10, 10), np.float32)
    kwargs = {"data_range": 1.0, name: value}
    with pytest.raises(ParameterError, match=name):
        ssim_map(a, a, **kwargs)


def test_bad_channel_axis_and_dims():
    a = np.zeros((10, 10), np.float32)
    with pytest.raises(ParameterError, match="channel_axis"):
        ssim_map(a, a, data_range=1.0, channel_axis=2)
    with pytest.raises(ParameterError, match="channel_axis"):
        ssim_map(a, a, data_range=1.0, channel_axis=1.0)
    with pytest.raises(ImageShapeError, match="spatial"):
        ssim_map(np.zeros(5), np.zeros(5), data_range=1.0, channel_axis=0)
    with pytest.raises(ImageShapeError, match="spatial"):
        ssim_map(np.float32(1), np.float32(1), data_range=1.0)


def test_complex_rejected():
    a = np.zeros((10, 10), np.complex64)
    with pytest.raises(ImageShapeError, match="real numbers"):
        ssim_map(a, a, data_range=1.0)


def test_sample_covariance_needs_window_above_one():
    a = np.zeros((10, 10), np.float32)
    with pytest.raises(ParameterError, match="use_sample_covariance"):
        ssim_map(a, a, data_range=1.0, win_size=1)


# -- property ---------------------------------------------------------------


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    height=st.integers(3, 40),
    width=st.integers(3, 40),
    win=st.integers(0, 4),
    gaussian=st.booleans(),
    sample_cov=st.booleans(),
    sigma=st.floats(0.3, 2.5),
    k=st.floats(0.001, 0.2),
    offset=st.floats(0.0, 0.9),
    rows=st.sampled_from([None, 1, 2, 5]),
    seed=st.integers(0, 2**16),
)
def test_property_matches_skimage(
    height, width, win, gaussian, sample_cov, sigma, k, offset, rows, seed
):
    win_size = min(2 * win + 3, height, width)
    win_size -= 1 - win_size % 2
    rng = np.random.default_rng(seed)
    # Bright, low-contrast content is where float32 SSIM is most fragile.
    scale = 1.0 - offset
    a = (offset + scale * rng.random((height, width))).astype(np.float32)
    b = (a + 0.05 * scale * rng.standard_normal(a.shape)).astype(np.float32)
    kwargs = {
        "win_size": win_size,
        "gaussian_weights": gaussian,
        "sigma": sigma,
        "use_sample_covariance": sample_cov,
        "K1": k,
        "K2": 3 * k,
        "data_range": 1.0,
    }
    with strips(rows):
        mean, smap = ssim_map(a, b, **kwargs)
    ref_mean, ref_map = skimage_ssim(a, b, **kwargs)
    np.testing.assert_allclose(smap, ref_map, rtol=0, atol=TOL)
    assert abs(mean - ref_mean) <= TOL
    assert -1.0 - TOL <= mean <= 1.0 + TOL


@pytest.mark.parametrize("gaussian", [False, True], ids=["box7", "gauss1.5"])
def test_filter_passes_round_like_scipy(gaussian):
    # Each filtered moment must be scipy's float32 value bit for bit: one ulp
    # in E[x^2] can move a flat region's SSIM by ~1e-4. 8-bit data makes many
    # box means fall exactly halfway between two float32 values, where only
    # an exact sum scaled once rounds like scipy's division.
    rng = np.random.default_rng(4)
    img = (rng.integers(0, 256, (96, 200)) / 255).astype(np.float32)
    if gaussian:
        plan_kw = {"gaussian": True, "sigma": 1.5, "win_size": 11}
        ref = ndimage.gaussian_filter(img, 1.5, truncate=3.5, mode="reflect")
    else:
        plan_kw = {"gaussian": False, "sigma": 1.5, "win_size": 7}
        ref = ndimage.uniform_filter(img, 7, mode="reflect")
    height = img.shape[0]
    plan = ssim_mod._Plan(
        img,
        img,
        np.empty_like(img),
        cov_norm=1.0,
        c1=0.0,
        c2=0.0,
        pad=0,
        n_spatial=2,
        strip_rows=height,
        **plan_kw,
    )
    r = plan.radius
    src = img[ssim_mod._reflect_indices(-r, height + r, height)]
    out = np.empty_like(img)
    plan._filter(src, height, out, plan.buffers(), fast=True)
    np.testing.assert_array_equal(out, ref)
