"""Tests of ``DiffParams``: defaults, validation, immutability, equality."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from imgdiff_widget import DiffParams, ParameterError, compare

CHOICES = {
    "metric": ("combined", "ssim", "color", "absdiff"),
    "align": ("auto", "none", "translation", "homography"),
    "size_mismatch": ("auto", "error", "crop", "pad", "resize"),
}

BAD_VALUES = {
    "metric": ["mse", "", "SSIM", None, 1],
    "align": ["affine", "", None, True],
    "size_mismatch": ["stretch", "", None, 0],
    "threshold": [0, 0.0, -0.1, 1.5, 2, "high", "0.5", None, True, float("nan"), float("inf")],
    "min_area": [-1, 2.5, "big", "10", None, True, float("nan")],
    "win_size": [1, 2, 4, 8, -7, 7.0, "7", None, True],
    "smoothing": [-1, -0.1, 21, float("nan"), float("inf"), "2", None, True],
    "morphology": [-1, 1.5, "1", None, True],
    "padding": [-1, 0.5, "2", None, False],
    "fill_holes": [1, 0, "yes", None, "True"],
    "alpha": [-0.1, 1.1, float("nan"), "0.5", None, True],
    "color": ["notacolour", (2, 0, 0), (1, 0), None, 12, "#12345"],
    "style": ["", "glow", "fill+glow", "fill,boxes", None],
    "ignore": [
        [(1, 2, 3)],
        [(5, 5, 1, 1)],
        [(0, 0, "a", 1)],
        "abc",
        5,
        np.zeros((6, 5), np.uint8),  # a 0/255 mask must be bool
        np.zeros((2, 4, 4), bool),
    ],
}

# What each message must mention besides the parameter's name.
ACCEPTED_HINT = {
    "threshold": "auto",
    "min_area": "auto",
    "win_size": "odd",
    "smoothing": "20",
    "morphology": ">= 0",
    "padding": ">= 0",
    "fill_holes": "True or False",
    "alpha": "0 to 1",
    "color": "matplotlib",
    "style": "fill",
    "ignore": "rectangles",
}


def test_defaults_are_valid_and_documented():
    params = DiffParams()
    assert params.threshold == "auto"
    assert params.min_area == "auto"
    assert params.metric == "combined"
    assert params.ignore is None
    names = {f.name for f in dataclasses.fields(DiffParams)}
    required = {"metric", "threshold", "min_area", "align", "color", "alpha", "style", "ignore"}
    assert required <= names
    for name in names:
        assert name in DiffParams.__doc__, name


@pytest.mark.parametrize(
    ("name", "value"),
    [(name, value) for name, values in BAD_VALUES.items() for value in values],
    ids=lambda v: repr(v)[:20],
)
def test_bad_values_raise_parameter_error_naming_the_parameter(name, value):
    with pytest.raises(ParameterError) as info:
        DiffParams(**{name: value})
    message = str(info.value)
    assert message.startswith(f"{name}=")
    for option in CHOICES.get(name, ()):
        assert repr(option) in message
    if name in ACCEPTED_HINT:
        assert ACCEPTED_HINT[name] in message


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("threshold", 1),
        ("threshold", 0.001),
        ("threshold", np.float32(0.3)),
        ("min_area", 0),
        ("min_area", np.int64(50)),
        ("win_size", 3),
        ("win_size", 11),
        ("smoothing", 0),
        ("smoothing", 20),
        ("morphology", 0),
        ("padding", 5),
        ("fill_holes", False),
        ("fill_holes", np.bool_(True)),
        ("alpha", 0),
        ("alpha", 1),
        ("color", "#00ff00"),
        ("color", (0, 0, 1)),
        ("style", "heatmap+boxes"),
        ("ignore", [(0, 0, 5, 5)]),
        ("ignore", [[0, 0, 5, 5], (1, 1, 2, 2)]),
        ("ignore", []),
    ],
)
def test_good_values_are_accepted(name, value):
    DiffParams(**{name: value})


@pytest.mark.parametrize(
    ("name", "value", "saved"),
    [
        ("threshold", np.float32(0.25), 0.25),
        ("min_area", np.int64(50), 50),
        ("fill_holes", np.bool_(False), False),
        ("ignore_antialiasing", np.bool_(True), True),
        ("color", np.array([1.0, 0.0, 0.5]), [1.0, 0.0, 0.5]),
        ("color", (0, 0, 1), [0, 0, 1]),
        ("color", list(np.array([1, 0, 0], np.float32)), [1.0, 0.0, 0.0]),
        ("threshold", np.longdouble(0.5), 0.5),
    ],
)
def test_numpy_values_are_saved_as_json(name, value, saved):
    # Slider and grid values come as NumPy scalars; results save params as JSON.
    params = DiffParams(**{name: value})
    assert not isinstance(getattr(params, name), np.generic)
    assert json.loads(json.dumps(params.to_dict()))[name] == saved


@pytest.mark.parametrize(("name", "options"), CHOICES.items())
def test_every_choice_is_accepted(name, options):
    for option in options:
        assert getattr(DiffParams(**{name: option}), name) == option


def test_unknown_names_raise_type_error():
    with pytest.raises(TypeError, match="bogus"):
        DiffParams(bogus=1)
    with pytest.raises(TypeError, match="bogus"):
        DiffParams().replace(bogus=1)
    image = np.zeros((8, 8), np.uint8)
    with pytest.raises(TypeError, match="bogus"):
        compare(image, image, bogus=1)


@pytest.mark.parametrize(
    ("mask", "says"),
    [
        (np.full((6, 5), 255, np.uint8), "uint8 array of shape 6x5"),
        (np.zeros((6, 5, 3), bool), "bool array of shape 6x5x3"),
    ],
)
def test_a_mask_that_is_not_2d_bool_says_how_to_make_one(mask, says):
    # (A PNG mask reads as 0/255 uint8, often with three channels.)
    with pytest.raises(ParameterError, match="mask > 0") as info:
        DiffParams(ignore=mask)
    assert says in str(info.value)


def test_bad_value_through_compare_is_a_parameter_error():
    image = np.zeros((8, 8), np.uint8)
    with pytest.raises(ParameterError, match="threshold"):
        compare(image, image, threshold=5)
    with pytest.raises(ParameterError, match="alpha"):
        compare(image, image, params=DiffParams(), alpha=-1)


def test_frozen():
    params = DiffParams()
    with pytest.raises(dataclasses.FrozenInstanceError):
        params.threshold = 0.3
    with pytest.raises(dataclasses.FrozenInstanceError):
        params.color = "red"


def test_equality_and_hash():
    assert DiffParams() == DiffParams()
    assert hash(DiffParams()) == hash(DiffParams())
    assert DiffParams(threshold=0.3) != DiffParams(threshold=0.4)
    assert DiffParams(color="red") != DiffParams()
    assert DiffParams() != "not params"
    assert len({DiffParams(), DiffParams(), DiffParams(alpha=0.2)}) == 2
    # Rectangles given as lists or tuples are the same parameter.
    assert DiffParams(ignore=[[1, 2, 3, 4]]) == DiffParams(ignore=((1, 2, 3, 4),))
    assert DiffParams(ignore=[]) == DiffParams()


def test_equality_and_hash_with_an_ignore_mask():
    mask = np.zeros((6, 7), bool)
    mask[1:3, 2:4] = True
    one, two = DiffParams(ignore=mask), DiffParams(ignore=mask.copy())
    assert one == two
    assert hash(one) == hash(two)
    other = mask.copy()
    other[5, 6] = True
    assert DiffParams(ignore=other) != one
    assert DiffParams(ignore=mask[:, :6]) != one  # another shape
    assert one != DiffParams()


def test_the_ignore_mask_is_a_frozen_copy():
    mask = np.zeros((4, 4), bool)
    params = DiffParams(ignore=mask)
    mask[0, 0] = True  # the caller's later edit does not leak in
    assert not params.ignore.any()
    assert not params.ignore.flags.writeable


def test_replace_returns_a_validated_copy():
    params = DiffParams()
    changed = params.replace(threshold=0.25, color="lime")
    assert changed.threshold == 0.25
    assert changed.color == "lime"
    assert params.threshold == "auto"  # the original is untouched
    assert changed.replace(threshold="auto", color="magenta") == params
    with pytest.raises(ParameterError, match="threshold"):
        params.replace(threshold=3)


def test_to_dict_is_json_ready():
    mask = np.zeros((3, 3), bool)
    mask[1, 1] = True
    for params in (DiffParams(), DiffParams(ignore=[(0, 0, 1, 1)]), DiffParams(ignore=mask)):
        data = json.loads(json.dumps(params.to_dict()))
        assert set(data) == {f.name for f in dataclasses.fields(DiffParams)}
    summary = DiffParams(ignore=mask).to_dict()["ignore"]
    assert {key: summary[key] for key in ("mask_shape", "pixels")} == {
        "mask_shape": [3, 3],
        "pixels": 1,
    }
    # Another mask of that size and count is told apart (batch's resume compares these).
    other = np.zeros((3, 3), bool)
    other[0, 2] = True
    assert DiffParams(ignore=other).to_dict()["ignore"]["sha1"] != summary["sha1"]
