"""Tests of the size policies (``fit_frame``) and registration (``register``)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage as ndi
from skimage import data, transform

from imgdiff_widget import ImageDiffError, SizeMismatchError, compare
from imgdiff_widget._align import ALIGN_METHODS, SIZE_POLICIES, fit_frame, register


def _float(image: np.ndarray) -> np.ndarray:
    return (image / np.float32(255)).astype(np.float32)


# --- fit_frame -----------------------------------------------------------------


def test_same_size_is_untouched(make_texture):
    a, b = _float(make_texture((20, 30), 0)), _float(make_texture((20, 30), 1))
    for policy in SIZE_POLICIES:
        frame = fit_frame(a, b, policy)
        assert frame.a is a
        assert frame.b is b
        assert frame.valid.all()
        assert not frame.extra.any()


@pytest.mark.parametrize("policy", ["error", "auto"])
def test_error_names_both_sizes_and_the_options(policy):
    a = np.zeros((40, 60, 3), np.float32)
    b = np.zeros((90, 70, 3), np.float32)
    with pytest.raises(SizeMismatchError) as info:
        fit_frame(a, b, policy)
    message = str(info.value)
    for text in ("60x40", "70x90", "crop", "pad", "resize"):
        assert text in message


def test_crop_keeps_the_common_top_left(make_texture):
    a, b = _float(make_texture((40, 60), 0)), _float(make_texture((50, 55), 1))
    frame = fit_frame(a, b, "crop")
    assert frame.a.shape == frame.b.shape == (40, 55, 3)
    np.testing.assert_array_equal(frame.a, a[:40, :55])
    np.testing.assert_array_equal(frame.b, b[:40, :55])
    assert frame.valid.all()
    assert not frame.extra.any()


def test_pad_marks_the_extra_area_as_a_difference(make_texture):
    a, b = _float(make_texture((40, 60), 0)), _float(make_texture((50, 55), 1))
    frame = fit_frame(a, b, "pad")
    assert frame.a.shape == frame.b.shape == (50, 60, 3)
    expected_valid = np.zeros((50, 60), bool)
    expected_valid[:40, :55] = True
    np.testing.assert_array_equal(frame.valid, expected_valid)
    only_a = np.zeros((50, 60), bool)
    only_a[:40, 55:] = True
    only_b = np.zeros((50, 60), bool)
    only_b[40:, :55] = True
    np.testing.assert_array_equal(frame.extra, only_a | only_b)
    # Through the pipeline, the extra area is marked.
    result = compare(a, b, size_mismatch="pad", align="none")
    assert result.mask.shape == (50, 60)
    assert result.mask[frame.extra].all()


def test_resize_scales_b_to_a(make_texture):
    a = _float(make_texture((40, 60), 0))
    b = transform.resize(a, (80, 120), order=1).astype(np.float32)
    frame = fit_frame(a, b, "resize")
    assert frame.b.shape == a.shape
    assert frame.b.dtype == np.float32
    assert frame.valid.all()
    assert np.abs(frame.b - a).mean() < 0.05


def test_resize_compares_a_smaller_b_with_a_at_b_s_resolution(make_texture):
    a = _float(make_texture((80, 120), 0))
    small = transform.resize(a, (40, 60), order=1, anti_aliasing=True).astype(np.float32)
    frame = fit_frame(a, small, "resize")
    assert frame.a is a  # shown as it is
    assert frame.compared_a.shape == a.shape
    assert frame.compared_a.dtype == np.float32
    # The enlarged B lacks A's fine texture; the A it is compared with lacks it too.
    assert np.abs(frame.compared_a - frame.b).mean() < 0.2 * np.abs(a - frame.b).mean()
    # A larger B loses nothing by shrinking: it is compared with A itself.
    large = transform.resize(a, (160, 240), order=1).astype(np.float32)
    assert fit_frame(a, large, "resize").compared_a is a


@pytest.mark.parametrize("scale", [0.5, 0.7, 1.6])
def test_auto_resizes_a_copy_at_another_scale(scale):
    # A thumbnail, or a screenshot at another zoom: nothing differs but the scale.
    photo = data.astronaut()[::2, ::2]
    edited = photo.copy()
    edited[60:100, 150:200] = (20, 220, 40)
    b = transform.rescale(edited, scale, channel_axis=-1, anti_aliasing=True)
    b = (b * 255).round().astype(np.uint8)
    frame = fit_frame(_float(photo), _float(b), "auto")
    assert frame.b.shape == frame.a.shape
    assert frame.valid.all()
    assert (frame.a_matched is not None) == (scale < 1)
    result = compare(photo, b)
    assert [r.bbox for r in result.regions] == [pytest.approx((60, 150, 100, 200), abs=6)]
    # The overlays show A as it is (sharp), not the A that B was compared with.
    np.testing.assert_array_equal(result.overlay_a[:40, :40], photo[:40, :40])


@pytest.mark.parametrize("metric", ["combined", "pixel"])
def test_a_half_size_copy_resized_marks_nothing(metric):
    photo = data.astronaut()[::2, ::2]
    half = transform.rescale(photo, 0.5, channel_axis=-1, anti_aliasing=True)
    half = (half * 255).round().astype(np.uint8)
    result = compare(photo, half, metric=metric, size_mismatch="resize")
    assert result.regions == []


@pytest.mark.parametrize("delta", [(3, 0), (0, -4), (-2, 5)])
def test_auto_accepts_a_few_pixels(make_texture, delta):
    a = _float(make_texture((60, 80), 0))
    b = _float(make_texture((60 + delta[0], 80 + delta[1]), 0))
    frame = fit_frame(a, b, "auto")
    assert frame.a.shape == frame.b.shape == a.shape
    assert not frame.extra.any()  # the missing strip is not compared, not marked
    h, w = min(60, b.shape[0]), min(80, b.shape[1])
    assert frame.valid[:h, :w].all()
    assert frame.valid.sum() == h * w


def test_auto_refuses_a_big_difference():
    a = np.zeros((100, 100, 3), np.float32)
    with pytest.raises(SizeMismatchError, match="size_mismatch"):
        fit_frame(a, np.zeros((100, 130, 3), np.float32), "auto")
    with pytest.raises(SizeMismatchError):
        compare(a, np.zeros((60, 100, 3), np.float32))
    # Another shape at another scale (2 px off the scaled side) is no rescaled copy.
    with pytest.raises(SizeMismatchError):
        fit_frame(np.zeros((100, 150, 3), np.float32), np.zeros((52, 75, 3), np.float32), "auto")
    # One side at scale, the other 45 px off it: not a rescaled copy.
    with pytest.raises(SizeMismatchError):
        fit_frame(np.zeros((40, 3000, 3), np.float32), np.zeros((33, 2520, 3), np.float32), "auto")
    # Tiny images agree in shape by chance: not taken for rescaled copies.
    with pytest.raises(SizeMismatchError):
        fit_frame(np.zeros((20, 30, 3), np.float32), np.zeros((40, 60, 3), np.float32), "auto")


# --- register ------------------------------------------------------------------


@pytest.fixture
def astro(astronaut_small):
    return astronaut_small


def _inner(image, margin=12):
    return image[margin:-margin, margin:-margin]


def test_register_none_returns_b_as_is(astro):
    b = ndi.shift(astro, (2, 3, 0), order=1, mode="nearest")
    valid = np.ones(astro.shape[:2], bool)
    reg = register(astro, b, valid, "none")
    assert reg.method == "none"
    assert reg.shift == (0.0, 0.0)
    assert reg.b is b
    np.testing.assert_array_equal(reg.matrix, np.eye(3))


@pytest.mark.parametrize("shift", [(3.0, -5.0), (1.4, -2.7), (-0.6, 0.3)])
def test_translation_recovers_the_shift(astro, shift):
    b = ndi.shift(astro, (*shift, 0), order=3, mode="nearest").astype(np.float32)
    valid = np.ones(astro.shape[:2], bool)
    reg = register(astro, b, valid, "translation")
    assert reg.method == "translation"
    # B is moved back by the opposite of the shift applied to it.
    np.testing.assert_allclose(reg.shift, (-shift[0], -shift[1]), atol=0.2)
    before = np.abs(_inner(astro) - _inner(b)).mean()
    after = np.abs(_inner(astro) - _inner(reg.b)).mean()
    assert after < 0.5 * before  # linear resampling blurs a little
    # The area B could not fill is not valid.
    assert not reg.valid.all()
    assert reg.valid.mean() > 0.9


@pytest.fixture(scope="module")
def large_photo():
    """A 1300 x 1500 noisy photo: over 1024 px, so registered on a reduced copy."""
    photo = ndi.zoom(data.astronaut(), (1300 / 512, 1500 / 512, 1), order=1) / np.float32(255)
    rng = np.random.default_rng(0)
    return np.clip(photo + rng.normal(0, 0.02, photo.shape), 0, 1).astype(np.float32)


@pytest.mark.parametrize("shift", [(2.3, -1.6), (-7.45, 3.2)])
def test_translation_is_sub_pixel_exact_on_a_large_photo(large_photo, shift):
    # The shift is found on a reduced copy, then refined at full size. Phase
    # correlation of a non-periodic photo is biased towards zero (the jump
    # between opposite edges does not move): the Hann taper removes that
    # (untapered, these came out 0.15-0.3 px short).
    a = large_photo
    b = np.stack([ndi.shift(a[..., c], shift, order=3, mode="nearest") for c in range(3)], -1)
    reg = register(a, b, np.ones(a.shape[:2], bool), "translation")
    np.testing.assert_allclose(reg.shift, (-shift[0], -shift[1]), atol=0.06)


def test_auto_applies_a_3_px_shift(astro):
    b = ndi.shift(astro, (3, 0, 0), order=1, mode="nearest").astype(np.float32)
    reg = register(astro, b, np.ones(astro.shape[:2], bool), "auto")
    assert reg.method == "translation"
    np.testing.assert_allclose(reg.shift, (-3, 0), atol=0.2)


def test_auto_does_not_shift_identical_images(astro):
    reg = register(astro, astro.copy(), np.ones(astro.shape[:2], bool), "auto")
    assert reg.method == "none"
    assert reg.shift == (0.0, 0.0)
    np.testing.assert_array_equal(reg.b, astro)


def _two_crops(astro):
    # Two crops of one scene, B's view moved by (-2, +3): B sees real content everywhere.
    return astro[10:230, 10:230], astro[12:232, 7:227]


def test_auto_shift_through_compare_registers_two_crops(astro):
    a, b = _two_crops(astro)
    result = compare(a, b)
    assert result.alignment == "translation"
    np.testing.assert_allclose(result.shift, (2, -3), atol=0.2)
    # The rows and columns B cannot fill are left out of the comparison.
    assert not result.compared[:2].any()
    assert not result.compared[:, -3:].any()
    assert result.compared[20:-20, 20:-20].all()  # (a margin may be left out too)
    assert result.compared.mean() > 0.8
    # Unaligned, the same pair is full of differences.
    assert compare(a, b, align="none").diff_fraction > 0.3


def test_auto_shift_through_compare_marks_nothing(astro):
    a, b = _two_crops(astro)
    result = compare(a, b)
    assert result.regions == []


def test_homography_registers_a_rotated_scaled_copy(astro):
    similarity = transform.SimilarityTransform(
        scale=1.03, rotation=np.deg2rad(2), translation=(3, -2)
    )
    b = transform.warp(np.array(astro), similarity, order=1, mode="edge").astype(np.float32)
    valid = np.ones(astro.shape[:2], bool)
    reg = register(astro, b, valid, "homography")
    assert reg.method == "homography"
    margin = 20
    before = np.abs(_inner(astro, margin) - _inner(b, margin)).mean()
    after = np.abs(_inner(astro, margin) - _inner(reg.b, margin)).mean()
    assert after < 0.2 * before
    # B shows A at similarity(x); the registration maps A onto B, i.e. undoes it.
    expected = np.linalg.inv(similarity.params)
    np.testing.assert_allclose(reg.matrix[:2, :2], expected[:2, :2], atol=0.01)
    np.testing.assert_allclose(reg.matrix[:2, 2], expected[:2, 2], atol=1.0)


def test_homography_reports_the_shift_as_translation_does(astro):
    # Both say how far B was moved to register it onto A: here back by (-5, +7).
    b = ndi.shift(np.array(astro), (5, -7, 0), order=1, mode="nearest")
    valid = np.ones(astro.shape[:2], bool)
    by_translation = register(astro, b, valid, "translation").shift
    by_homography = register(astro, b, valid, "homography").shift
    np.testing.assert_allclose(by_translation, (-5, 7), atol=0.2)
    np.testing.assert_allclose(by_homography, (-5, 7), atol=0.5)


def test_homography_on_a_flat_image_is_an_image_diff_error():
    flat = np.full((64, 64, 3), 0.5, np.float32)
    with pytest.raises(ImageDiffError, match="homography"):
        register(flat, flat.copy(), np.ones((64, 64), bool), "homography")


@pytest.mark.parametrize("shape", [(1, 1), (1, 7), (2, 5)])
def test_homography_on_a_tiny_image_is_an_image_diff_error(shape):
    tiny = np.full((*shape, 3), 0.5, np.float32)
    with pytest.raises(ImageDiffError):
        register(tiny, tiny.copy(), np.ones(shape, bool), "homography")


def test_unknown_method_and_policy():
    a = np.zeros((8, 8, 3), np.float32)
    with pytest.raises(ImageDiffError):
        register(a, a, np.ones((8, 8), bool), "affine")
    with pytest.raises(ImageDiffError):
        fit_frame(a, np.zeros((8, 9, 3), np.float32), "stretch")
    assert set(ALIGN_METHODS) == {"auto", "none", "translation", "homography"}


def test_homography_through_compare(astro):
    # compare() hands register() the loaded, read-only arrays.
    similarity = transform.SimilarityTransform(scale=1.02, rotation=np.deg2rad(1.5))
    b = transform.warp(np.array(astro), similarity, order=1, mode="edge")
    result = compare(astro, (b * 255 + 0.5).astype(np.uint8), align="homography")
    assert result.alignment == "homography"
    assert result.diff_fraction < 0.05


@pytest.mark.parametrize(
    "shift", [(0.3, -1.7), (2.0, 3.0), (-3.25, 0.5), (0.0, 0.1), (0.0, 0.0), (12.5, -80.2)]
)
def test_shift_is_scipys_bilinear_shift(shift):
    """Four weighted slices give ndi.shift(order=1)'s values, edges and outside included."""
    from imgdiff_widget._align import _shift_bilinear

    rng = np.random.default_rng(0)
    image = rng.random((53, 71, 3), dtype=np.float32)
    expected = ndi.shift(image, (*shift, 0), order=1, mode="nearest")
    got = _shift_bilinear(image, *shift, edge=True)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, expected, rtol=0, atol=2e-7)
    present = (rng.random((53, 71)) > 0.1).astype(np.float32)
    expected = ndi.shift(present, shift, order=1, cval=0.0)
    np.testing.assert_allclose(_shift_bilinear(present, *shift, edge=False), expected, atol=2e-7)


@pytest.mark.parametrize("shape", [(64, 80), (67, 83), (5, 3)])
def test_small_gray_is_the_block_mean_of_the_grey_image(shape):
    from skimage.color import rgb2gray
    from skimage.transform import downscale_local_mean

    from imgdiff_widget._align import _small_gray

    image = np.random.default_rng(1).random((*shape, 3), dtype=np.float32)
    gray = rgb2gray(image)
    got = _small_gray(image, 4)
    assert got.shape == (-(-shape[0] // 4), -(-shape[1] // 4))
    whole = (shape[0] // 4, shape[1] // 4)
    expected = downscale_local_mean(gray, (4, 4))[: whole[0], : whole[1]]
    np.testing.assert_allclose(got[: whole[0], : whole[1]], expected, rtol=0, atol=2e-7)
    # A block cut by the edge averages the pixels it has.
    assert got[-1, -1] == pytest.approx(
        gray[4 * (got.shape[0] - 1) :, 4 * (got.shape[1] - 1) :].mean()
    )


def test_auto_keeps_b_in_place_when_a_change_touches_the_top_left_edge():
    # On a blank image phase correlation finds a spurious (-0.75, -0.75);
    # moving B by it pushes the change out of the measured area, which
    # looked like a better match.
    a = np.full((400, 600, 3), 255, np.uint8)
    b = a.copy()
    b[0:6, 300:306] = 0
    result = compare(a, b, metric="pixel")
    assert result.alignment == "none"
    assert result.n_diff_pixels == 36
    b = a.copy()
    b[0:8, 0:8] = 0
    assert compare(a, b).alignment == "none"


def test_auto_does_not_take_half_the_picture_replaced_for_a_camera_move():
    # Rocket with a 71 % square of another photo pasted in: phase correlation
    # peaks at a large spurious shift (121, -73) that "helps" the measure;
    # applied, it marked 35 % of the unchanged area.
    import io

    from PIL import Image

    def jpeg(image):
        buffer = io.BytesIO()
        Image.fromarray(image).save(buffer, "JPEG", quality=90)
        return np.asarray(Image.open(buffer))

    a = data.rocket()
    h, w = a.shape[:2]
    b = a.copy()
    ph, pw = int(h * 0.71), int(w * 0.71)
    b[h // 8 : h // 8 + ph, w // 8 : w // 8 + pw] = data.astronaut()[:ph, :pw]
    result = compare(jpeg(a), jpeg(b))
    assert result.alignment == "none"
    changed = np.zeros((h, w), bool)
    changed[h // 8 : h // 8 + ph, w // 8 : w // 8 + pw] = True
    assert not (result.mask & ~ndi.binary_dilation(changed, iterations=6)).any()
    # Asked for, the shift found is applied.
    assert compare(jpeg(a), jpeg(b), align="translation").alignment == "translation"


@pytest.mark.parametrize("fraction", [0.08, 0.12, 0.15])
def test_auto_shifts_a_photo_reframed_by_a_tenth_of_its_side(fraction):
    # Up to 1/16 of the side auto applied a shift; reframed by 8 % of it, the
    # whole picture was marked (68 % of the astronaut's pixels).
    photo = data.astronaut()
    d = int(fraction * 512)
    a, b = photo[: 512 - d, : 512 - d], photo[d:, d // 2 : 512 - d + d // 2]
    b = b.copy()
    b[200:240, 200:260] = (20, 220, 40)  # and one real change
    with pytest.warns(UserWarning, match=r"% of A has no counterpart in B and is not compared"):
        result = compare(a, b)
    assert result.alignment == "translation"
    assert result.shift == pytest.approx((d, d // 2), abs=0.2)
    assert len(result.regions) == 1
    # B's (200, 200) shows the scene's (200 + d, 200 + d // 2), as A's pixel there does.
    expected = (200 + d, 200 + d // 2, 240 + d, 260 + d // 2)
    assert result.regions[0].bbox == pytest.approx(expected, abs=5)


@pytest.mark.filterwarnings("ignore:B was moved")  # (a large shift, as meant)
@pytest.mark.parametrize("cols", [35, -35])
def test_a_large_shift_is_not_read_along_a_sky(cols):
    # The plain cross-correlation of the rocket photo moved by (64, 35) px
    # peaked at (-0.2, 35.7): the sky's broad gradient held the rows at zero.
    photo = data.rocket()
    h, w = photo.shape[:2]
    rows = 64
    a = photo[rows:, max(cols, 0) : w + min(cols, 0)]
    b = photo[: h - rows, max(-cols, 0) : w + min(-cols, 0)]
    result = compare(a, b)
    assert result.alignment == "translation"
    assert result.shift == pytest.approx((-rows, -cols), abs=0.2)
    assert result.regions == []


def _page(sidebar: bool) -> np.ndarray:
    """A drawn page of text lines and a box; with a sidebar that pushes it 150 px right."""
    page = np.full((800, 1280, 3), 255, np.uint8)
    left = 150 if sidebar else 0
    if sidebar:
        page[:, :150] = (40, 44, 52)
        page[30:200:40, 20:110] = 255  # its menu, as white bars
    rng = np.random.default_rng(1)
    for row in range(20, 770, 29):  # lines of "words": dark bars with gaps
        col = left + 40
        for width in rng.integers(20, 90, 8):
            page[row : row + 12, col : col + width] = 0
            col += width + 12
    page[100:300, left + 800 : left + 1000][[0, -1]] = (0, 0, 128)
    page[100:300, left + 800 : left + 1000][:, [0, -1]] = (0, 0, 128)
    return page


@pytest.mark.parametrize("metric", ["combined", "pixel"])
def test_a_page_whose_content_moved_is_not_moved_back(metric):
    # Moved back by 150 px (within 1/5 of the side), the sidebar and the
    # pushed content fell in the strip left uncompared: 0 regions.
    result = compare(_page(False), _page(True), metric=metric)
    assert result.alignment == "none"
    assert result.diff_fraction > 0.1


def test_a_turn_carries_no_shift_over_the_layout_limit():
    # The turn's fit moved B by 28-32 px with layout's limit at 25 px: its
    # bound had been overwritten by a patch's threshold of the same name.
    photo = data.astronaut().astype(np.float32) / 255
    turned = _turned(photo, 1.0)
    for d in (28, 32):
        a = np.ascontiguousarray(photo[40 : 472 - d, 40 : 472 - d])
        b = np.ascontiguousarray(turned[40 + d : 472, 40 + d : 472])
        found = register(a, b, np.ones(a.shape[:2], bool), "auto", layout=True)
        assert max(abs(v) for v in found.shift) <= min(a.shape[:2]) / 16


def test_a_thin_image_takes_no_large_shift():
    # 1/5 of a 40 px side is 8 px: a shift read poorly along it was applied
    # and the pixel metric marked 388 regions.
    strip = np.ascontiguousarray(np.resize(data.astronaut(), (3006, 46, 3)))
    a, b = strip[3:3003, 3:43], strip[6:3006, 4:44]
    result = compare(a, b, metric="pixel")
    assert result.alignment == "none"
    assert len(result.regions) <= 1


def _turned(image: np.ndarray, degrees: float, scale: float = 1.0) -> np.ndarray:
    """`image` turned and zoomed about its centre (as a camera held twice by hand)."""
    h, w = image.shape[:2]
    centre = transform.AffineTransform(translation=(-w / 2, -h / 2))
    turn = transform.AffineTransform(rotation=np.deg2rad(degrees), scale=scale)
    back = transform.AffineTransform(translation=(w / 2, h / 2))
    return transform.warp(image, (centre + turn + back).inverse, order=3, mode="edge")


def _jpeg_u8(image: np.ndarray, quality: int = 90) -> np.ndarray:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray((np.clip(image, 0, 1) * 255 + 0.5).astype(np.uint8)).save(
        buffer, "JPEG", quality=quality
    )
    return np.asarray(Image.open(buffer))


@pytest.mark.parametrize(("degrees", "scale"), [(0.2, 1.0), (0.0, 1.005), (-0.5, 0.995)])
def test_auto_turns_and_zooms_a_photo_taken_twice(degrees, scale):
    # Turned by 0.2 degrees, auto's shift alone left 46 false regions on the
    # coffee photo (10 % marked); zoomed by 0.5 %, 48.
    a = data.coffee().astype(np.float32) / 255
    b = _turned(a, degrees, scale)
    b[60:100, 400:460] = (0.1, 0.6, 0.9)  # and one real change
    crop = (slice(12, -12), slice(12, -12))
    result = compare(_jpeg_u8(a)[crop], _jpeg_u8(b)[crop])
    assert result.alignment == "affine"
    _check_marks_only(result, (slice(48, 88), slice(388, 448)))


def _check_marks_only(result, change: tuple[slice, slice]) -> None:
    """The change is marked (90 % of it at least), and nothing farther than 6 px from it."""
    where = np.zeros(result.mask.shape, bool)
    where[change] = True
    assert result.mask[where].mean() > 0.9
    near = ndi.binary_dilation(where, np.ones((3, 3), bool), iterations=6)
    assert not (result.mask & ~near).any()


@pytest.mark.parametrize(("degrees", "scale"), [(4.0, 1.0), (-3.0, 1.06), (2.0, 0.93)])
def test_auto_turns_a_photo_held_crooked(degrees, scale):
    # Turned by 3 degrees or more, auto refused to turn B back (its limit was
    # about 3 degrees and 5 %) and marked half the picture.
    photo = data.coffee().astype(np.float32) / 255
    b = _turned(photo, degrees, scale)
    a = photo.copy()
    a[160:200, 300:360] = (0.1, 0.6, 0.9)  # and one real change (in A's frame)
    crop = (slice(40, -40), slice(40, -40))  # (B's turned edges are smeared)
    result = compare(_jpeg_u8(a)[crop], _jpeg_u8(b)[crop])
    assert result.alignment == "affine"
    _check_marks_only(result, (slice(120, 160), slice(260, 320)))


@pytest.mark.filterwarnings("ignore:B was moved")  # (a large shift, as meant)
@pytest.mark.parametrize(
    ("photo", "degrees"), [("astronaut", 4.0), ("coffee", 2.0), ("chelsea", -3.0)]
)
def test_auto_turns_a_photo_reframed_and_held_crooked(photo, degrees):
    # Moved by a tenth of its side and turned: the patches' own shifts were
    # lost (each moved by half a patch) and only the shift was applied,
    # leaving 26-36 false regions on coffee.
    image = getattr(data, photo)().astype(np.float32) / 255
    h, w = image.shape[:2]
    d, m = int(0.1 * min(h, w)), 40
    a = image[m : h - m - d, m : w - m - d]
    b = _turned(image, degrees)[m + d : h - m, m + d : w - m]
    result = compare(_jpeg_u8(a), _jpeg_u8(b))
    assert result.alignment == "affine"
    assert result.regions == []


def test_the_affine_registration_maps_a_onto_b():
    a = data.coffee().astype(np.float32) / 255
    b = _turned(a, 0.4).astype(np.float32)
    reg = register(a, b, np.ones(a.shape[:2], bool), "auto")
    assert reg.method == "affine"
    # reg.matrix maps A's (col, row) onto B's: B shows A's corner turned by
    # 0.4 degrees about the centre (which stays put: no shift).
    h, w = a.shape[:2]
    turn = transform.AffineTransform(rotation=np.deg2rad(0.4))
    for col, row in ((0.0, 0.0), (w - 1.0, h - 1.0), (w / 2, h / 2)):
        seen = reg.matrix @ np.array([col, row, 1.0])
        expected = turn(np.array([[col - w / 2, row - h / 2]]))[0] + (w / 2, h / 2)
        np.testing.assert_allclose(seen[:2], expected, atol=0.3)
    np.testing.assert_allclose(reg.shift, (0, 0), atol=0.3)
    assert reg.valid[h // 2, w // 2]
    assert not reg.valid[0, 0]  # turned in from outside B


def test_auto_keeps_a_plain_shift_a_shift():
    a = data.coffee().astype(np.float32) / 255
    b = ndi.shift(a, (2.5, -1.5, 0), order=3, mode="nearest")
    result = compare(_jpeg_u8(a)[10:-10, 10:-10], _jpeg_u8(b)[10:-10, 10:-10])
    assert result.alignment == "translation"
    assert result.regions == []


def test_auto_turns_a_soft_photo_registered_at_a_reduced_scale():
    # Chelsea upscaled 3x (soft, 900 x 1353: registered on a half-size copy)
    # and turned 0.4 degrees: unnormalised patch correlations fell short of
    # the turn, and 37 false regions were left.
    a = transform.resize(data.chelsea(), (900, 1353), order=1).astype(np.float32)
    b = _turned(a, 0.4)
    result = compare(_jpeg_u8(a), _jpeg_u8(b))
    assert result.alignment == "affine"
    assert result.regions == []


# --- registration reads only what is looked at -------------------------------------


def _replaced(image: np.ndarray, fraction: float) -> tuple[np.ndarray, list]:
    """`image` with its left `fraction` replaced by another picture, and that area to ignore."""
    h, w = image.shape[:2]
    cut = int(w * fraction)
    out = np.array(image, copy=True)
    other = np.resize(data.camera(), (h, cut))[..., None]
    out[:, :cut] = other if out.dtype == np.uint8 else other / np.float32(255)
    return out, [(0, 0, h, cut + 6)]


@pytest.mark.parametrize("fraction", [0.5, 0.7])
@pytest.mark.parametrize("shift", [(2.4, -1.7), (0.0, 0.0), (3.0, -2.0)])
@pytest.mark.parametrize("photo", ["coffee", "chelsea"])
def test_a_changed_area_that_is_ignored_moves_nothing(photo, fraction, shift):
    # The camera moved and a large area changed (a screen, a passer-by); the
    # user ignores that area. Read over the whole picture, the shift was
    # refused and the moved rest marked: 31 regions with 70 % of the coffee photo.
    # (Measured once under the fade, chelsea's narrow band gave 0.4 px less.)
    a = getattr(data, photo)()
    moved = ndi.shift(a.astype(np.float32), (*shift, 0), order=3, mode="nearest")
    b, ignore = _replaced(np.clip(moved, 0, 255).round().astype(np.uint8), fraction)
    result = compare(a, b, ignore=ignore)
    assert result.alignment == ("none" if shift == (0.0, 0.0) else "translation")
    np.testing.assert_allclose(result.shift, (-shift[0], -shift[1]), atol=0.1)
    assert result.regions == []


def test_a_large_photo_is_refined_where_it_is_looked_at(large_photo):
    # Over 1024 px the shift is refined on a full-size window: the central
    # one lies in the ignored area here, so a looked-at one is used.
    shift = (-7.45, 3.2)
    moved = np.stack([ndi.shift(large_photo[..., c], shift, order=3) for c in range(3)], -1)
    b, rectangles = _replaced(moved.astype(np.float32), 0.6)
    ignored = np.zeros(b.shape[:2], bool)
    ignored[:, : rectangles[0][3]] = True
    reg = register(large_photo, b, np.ones(b.shape[:2], bool), "auto", ignored=ignored)
    assert reg.method == "translation"
    np.testing.assert_allclose(reg.shift, (-shift[0], -shift[1]), atol=0.06)


@pytest.mark.parametrize("fraction", [0.45, 0.7])
def test_a_turned_photo_is_turned_back_beside_an_ignored_area(fraction):
    # The patch grid covers the band looked at: over the whole picture, 70 %
    # ignored left fewer than 6 patches, and a shift alone left 14 regions.
    a = data.coffee().astype(np.float32) / 255
    b, _ = _replaced(_turned(a, 0.4), fraction)
    crop = (slice(12, -12), slice(12, -12))
    ignore = [(0, 0, a.shape[0], int(a.shape[1] * fraction) - 12 + 6)]
    result = compare(_jpeg_u8(a)[crop], _jpeg_u8(b)[crop], ignore=ignore)
    assert result.alignment == "affine"
    assert result.regions == []


def test_nothing_looked_at_registers_nothing(astro):
    b = ndi.shift(astro, (3, 0, 0), order=1, mode="nearest").astype(np.float32)
    everything = np.ones(astro.shape[:2], bool)
    for method in ("auto", "translation", "homography"):
        reg = register(astro, b, everything, method, ignored=everything)
        assert reg.method == "none"
        assert reg.b is b
    # An empty ignore mask is no ignore mask.
    nothing = np.zeros(astro.shape[:2], bool)
    with_empty = register(astro, b, everything, "auto", ignored=nothing)
    assert with_empty.shift == register(astro, b, everything, "auto").shift


def test_homography_matches_no_feature_in_an_ignored_area(astro, monkeypatch):
    import skimage.feature

    similarity = transform.SimilarityTransform(
        scale=1.02, rotation=np.deg2rad(1), translation=(3, -2)
    )
    b = transform.warp(np.array(astro), similarity, order=1, mode="edge").astype(np.float32)
    b, rectangles = _replaced(b, 0.4)
    ignored = np.zeros(b.shape[:2], bool)
    ignored[:, : rectangles[0][3]] = True
    matched = []
    original = skimage.feature.match_descriptors

    def recording(d1, d2, **kwargs):
        matched.append((len(d1), len(d2)))
        return original(d1, d2, **kwargs)

    monkeypatch.setattr(skimage.feature, "match_descriptors", recording)
    valid = np.ones(b.shape[:2], bool)
    reg = register(astro, b, valid, "homography", ignored=ignored)
    expected = np.linalg.inv(similarity.params)
    np.testing.assert_allclose(reg.matrix[:2, :2], expected[:2, :2], atol=0.01)
    everywhere = register(astro, b, valid, "homography")
    assert reg.method == everywhere.method == "homography"
    # Fewer features were offered for matching: those in the ignored area went.
    assert matched[0][0] < matched[1][0]
    assert matched[0][1] < matched[1][1]


def _speckled(shape, spacing: int, seed: int = 0) -> np.ndarray:
    """A mask of 3 x 3 specks about `spacing` px apart (text found, dust, timestamps)."""
    rng = np.random.default_rng(seed)
    count = shape[0] * shape[1] // spacing**2
    mask = np.zeros(shape, bool)
    mask[rng.integers(0, shape[0], count), rng.integers(0, shape[1], count)] = True
    return ndi.binary_dilation(mask)


@pytest.mark.parametrize("spacing", [20, 8])
def test_many_small_ignored_specks_do_not_hold_the_shift(large_photo, spacing):
    # Faded out towards each speck, the fixed pattern of fades pulled the
    # shift to zero on a photo over 1024 px: 158 false regions at 3 % ignored.
    shift = (3.4, -2.2)
    b = np.stack([ndi.shift(large_photo[..., c], shift, order=3) for c in range(3)], -1)
    ignored = _speckled(b.shape[:2], spacing)
    reg = register(large_photo, b, np.ones(b.shape[:2], bool), "auto", ignored=ignored)
    np.testing.assert_allclose(reg.shift, (-shift[0], -shift[1]), atol=0.06)


@pytest.fixture(scope="module")
def large_coffee():
    """The coffee photo at 1100 x 1650 (uint8): over 1024 px, registered on a reduced copy."""
    return transform.resize(data.coffee(), (1100, 1650), order=1, preserve_range=True).astype(
        np.uint8
    )


@pytest.mark.parametrize("policy", ["pad", "crop"])
@pytest.mark.parametrize("corner", [(500, 800), (120, 1250)])
def test_a_small_looked_at_window_of_a_large_photo_is_registered(large_coffee, policy, corner):
    # 200 x 200 px looked at, B shorter (part of the frame without B): the
    # masked estimate on the reduced copy was applied unrefined, 0.9 px off.
    # Off centre, the full-size refinement must find a window that sees it.
    shift = (3.4, -2.2)
    moved = ndi.shift(large_coffee.astype(np.float32), (*shift, 0), order=3, mode="nearest")
    b = np.clip(moved, 0, 255).round().astype(np.uint8)[:1050, :1600]
    looked = (slice(corner[0], corner[0] + 200), slice(corner[1], corner[1] + 200))
    mask = np.ones(large_coffee.shape[:2], bool)
    mask[looked] = False
    result = compare(large_coffee, b, size_mismatch=policy, ignore=mask)
    np.testing.assert_allclose(result.shift, (-shift[0], -shift[1]), atol=0.03)
    assert not result.mask[looked].any()


def test_a_comb_of_ignored_lines_is_read_as_a_whole(large_photo):
    # Every other column ignored leaves no solid looked-at area: the picture
    # is registered whole, as without ignore (not left unshifted).
    shift = (3.4, -2.2)
    b = np.stack([ndi.shift(large_photo[..., c], shift, order=3) for c in range(3)], -1)
    comb = np.zeros(b.shape[:2], bool)
    comb[:, ::2] = True
    valid = np.ones(b.shape[:2], bool)
    reg = register(large_photo, b, valid, "translation", ignored=comb)
    assert reg.shift == register(large_photo, b, valid, "translation").shift


def test_a_homography_that_throws_b_out_of_the_frame_is_refused(astro, monkeypatch):
    import skimage.measure

    def far_away(data, model_class, **kwargs):
        model = model_class()
        model.params = np.array([[1.0, 0.0, 5000.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
        return model, np.ones(len(data[0]), bool)

    monkeypatch.setattr(skimage.measure, "ransac", far_away)
    b = ndi.shift(np.array(astro), (3, -2, 0), order=1, mode="nearest")
    with pytest.raises(ImageDiffError, match="out of A's frame"):
        register(astro, b, np.ones(astro.shape[:2], bool), "homography")


def _moved_u8(image: np.ndarray, shift) -> np.ndarray:
    """A uint8 RGB image moved by a sub-pixel `shift` (cubic splines)."""
    moved = ndi.shift(image.astype(np.float32), (*shift, 0), order=3, mode="nearest")
    return np.clip(moved, 0, 255).round().astype(np.uint8)


def _rgb(image: np.ndarray) -> np.ndarray:
    return np.repeat(image[..., None], 3, -1) if image.ndim == 2 else image


@pytest.mark.parametrize(
    ("photo", "shift", "where", "filler", "dark"),
    [
        # The peak search one axis at a time climbed a side peak (5 px off).
        ("rocket", (1.36, 1.18), "corner", "astronaut", False),
        # A strided pixel sample fell in one column phase (0.9 px off, 66 regions).
        ("moon", (0.75, -1.3), "left", "astronaut", False),
        # Half-ignored reduced blocks let the replaced noise in (1.3 px off).
        ("coffee", (0.12, -1.71), "blobs", "noise", True),
    ],
)
def test_hard_ignore_cases_found_by_review(photo, shift, where, filler, dark):
    a = _rgb(getattr(data, photo)())
    if dark:
        a = (a * 0.1).astype(np.uint8)
    h, w = a.shape[:2]
    ignored = np.zeros((h, w), bool)
    if where == "corner":  # 80 %
        ignored[int(h * 0.106) :, int(w * 0.106) :] = True
    elif where == "left":  # 20 %
        ignored[:, : int(w * 0.2)] = True
    else:  # 60 % in blobs
        noise = ndi.gaussian_filter(
            np.random.default_rng(5).standard_normal((h, w)), min(h, w) / 20
        )
        ignored = noise < np.quantile(noise, 0.6)
    b = _moved_u8(a, shift)
    rng = np.random.default_rng(1)
    if filler == "noise":
        other = rng.integers(0, 256, a.shape, dtype=np.uint8)
    else:
        other = transform.resize(data.astronaut(), a.shape, order=1, preserve_range=True)
    changed = ndi.shift(ignored.astype(np.float32), shift, order=0) > 0.5
    b[changed] = other.astype(np.uint8)[changed]
    result = compare(a, b, ignore=ignored)
    np.testing.assert_allclose(result.shift, (-shift[0], -shift[1]), atol=0.1)
    near = ndi.binary_dilation(ignored, iterations=3)
    assert not (result.mask & ~near).any()
