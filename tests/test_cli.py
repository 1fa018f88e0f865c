"""Tests of the command line.

Through real processes (``python -m imgdiff_widget``) for what a user sees; the
long tables of bad values go through the same ``main()`` in-process, since each
process pays about a second of imports.
"""

from __future__ import annotations

import dataclasses
import json
import os
import struct
import subprocess
import sys
import warnings

import numpy as np
import pytest
from PIL import Image

from imgdiff_widget import DiffParams
from imgdiff_widget._cli import main
from imgdiff_widget._export import OUTPUT_FILES


def run(*args) -> subprocess.CompletedProcess:
    return run_many([args])[0]


def run_many(arg_lists) -> list[subprocess.CompletedProcess]:
    """Run several commands side by side (each pays the import time once)."""
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "imgdiff_widget", *map(str, args)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for args in arg_lists
    ]
    done = []
    for proc, args in zip(procs, arg_lists, strict=True):
        stdout, stderr = proc.communicate(timeout=120)
        done.append(subprocess.CompletedProcess(args, proc.returncode, stdout, stderr))
    return done


def _check_error(proc: subprocess.CompletedProcess, phrase: str) -> None:
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("imgdiff-widget: error:")
    assert phrase in lines[0]
    assert proc.stdout == ""


@pytest.fixture
def pair(tmp_path, make_texture):
    a = make_texture((60, 80), 0)
    b = a.copy()
    b[20:35, 30:50] = (255, 0, 255)
    paths = tmp_path / "a.png", tmp_path / "b.png"
    Image.fromarray(a).save(paths[0])
    Image.fromarray(b).save(paths[1])
    return paths


def test_help_shows_every_option_with_its_default(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    for field in dataclasses.fields(DiffParams):
        option = "--" + field.name.replace("_", "-")
        assert option in text
        if field.name != "ignore":
            assert f"(default: {field.default})" in text, option
    assert "--output" in text
    assert "demo" in text
    assert "batch LEFT_DIR RIGHT_DIR" in text


def test_demo_writes_the_four_files(tmp_path):
    out = tmp_path / "demo-out"
    proc = run("demo", "-o", out)
    assert proc.returncode == 0, proc.stderr
    assert sorted(os.listdir(out)) == sorted(OUTPUT_FILES)
    summary = json.loads((out / "regions.json").read_text())
    first = proc.stdout.splitlines()[0]
    assert first.startswith(f"{summary['n_regions']} region(s) differ")
    assert summary["n_regions"] >= 1


def test_compare_two_files(pair, tmp_path):
    out = tmp_path / "out"
    proc = run(*pair, "-o", out, "--color", "lime", "--style", "boxes", "--threshold", "0.3")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    assert sorted(os.listdir(out)) == sorted(OUTPUT_FILES)
    summary = json.loads((out / "regions.json").read_text())
    assert summary["n_regions"] == 1
    assert summary["params"]["color"] == "lime"
    assert summary["threshold"] == pytest.approx(0.3)
    assert proc.stdout.startswith("1 region(s) differ")
    overlay = np.asarray(Image.open(out / "overlay_a.png"))
    assert ((overlay == (0, 255, 0)).all(axis=-1)).any()  # lime boxes
    mask = np.asarray(Image.open(out / "mask.png"))
    assert set(np.unique(mask).tolist()) == {0, 255}


def test_ignore_option_in_process(pair, tmp_path, capsys):
    out = tmp_path / "out"
    code = main(
        [*map(str, pair), "-o", str(out), "--ignore", "15,25,40,55", "--ignore", "0,0,1,1"]
    )
    assert code == 0
    assert capsys.readouterr().out.startswith("0 region(s) differ")
    summary = json.loads((out / "regions.json").read_text())
    assert summary["n_regions"] == 0
    assert summary["params"]["ignore"] == [[15, 25, 40, 55], [0, 0, 1, 1]]


def test_ignore_mask_file(pair, tmp_path, capsys):
    # White on black, and a stroke on a transparent layer: both mean "ignore here".
    drawn = np.zeros((60, 80), np.uint8)
    drawn[15:40, 25:55] = 255
    Image.fromarray(drawn).save(tmp_path / "grey.png")
    layer = np.zeros((60, 80, 4), np.uint8)
    layer[..., :3] = 255  # hidden colour under alpha 0 does not count
    layer[15:40, 25:55] = (255, 0, 0, 255)
    Image.fromarray(layer).save(tmp_path / "layer.png")
    for mask in ("grey.png", "layer.png"):
        out = tmp_path / f"out-{mask}"
        assert main([*map(str, pair), "-o", str(out), "--ignore-mask", str(tmp_path / mask)]) == 0
        assert capsys.readouterr().out.startswith("0 region(s) differ")
        ignored = json.loads((out / "regions.json").read_text())["params"]["ignore"]
        assert ignored["pixels"] == 25 * 30
    # Half the change in the mask, the other half in a rectangle: nothing left.
    drawn[:] = 0
    drawn[15:40, 25:40] = 255
    Image.fromarray(drawn).save(tmp_path / "half.png")
    args = [*map(str, pair), "--ignore-mask", str(tmp_path / "half.png")]
    assert main([*args, "-o", str(tmp_path / "half")]) == 0
    assert capsys.readouterr().out.startswith("1 region(s) differ")
    assert main([*args, "-o", str(tmp_path / "both"), "--ignore", "15,38,40,55"]) == 0
    assert capsys.readouterr().out.startswith("0 region(s) differ")


def test_an_inverted_ignore_mask_is_warned_about(pair, tmp_path, capsys):
    drawn = np.full((60, 80), 255, np.uint8)  # a black stroke on white: the other convention
    drawn[25:35, 30:50] = 0
    Image.fromarray(drawn).save(tmp_path / "inverted.png")
    out = tmp_path / "out"
    assert (
        main([*map(str, pair), "-o", str(out), "--ignore-mask", str(tmp_path / "inverted.png")])
        == 0
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert err[0].startswith("imgdiff-widget: warning: the ignore mask")
    assert "paints 96 %" in err[0]
    assert "inverted" in err[0]


def test_never_writes_over_the_ignore_mask_file(pair, tmp_path, capsys):
    # The mask drawn over an earlier run's mask.png, saved where it was.
    out = tmp_path / "out"
    out.mkdir()
    drawn = np.zeros((60, 80), np.uint8)
    drawn[15:40, 25:55] = 255
    Image.fromarray(drawn).save(out / "mask.png")
    before = (out / "mask.png").read_bytes()
    code = main([*map(str, pair), "-o", str(out), "--ignore-mask", str(out / "mask.png")])
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "refusing to write" in err[0]
    assert (out / "mask.png").read_bytes() == before
    assert sorted(os.listdir(out)) == ["mask.png"]  # nothing half-written beside it


def test_bad_ignore_mask_file_is_one_line(pair, tmp_path, capsys):
    Image.fromarray(np.zeros((30, 40), np.uint8)).save(tmp_path / "small.png")
    (tmp_path / "junk.png").write_bytes(b"not a png")
    for mask, phrase in (
        ("missing.png", "no such file"),
        ("junk.png", "not an image file"),
        ("small.png", "pass a mask of image A's size"),
    ):
        out = tmp_path / "out"
        code = main([*map(str, pair), "-o", str(out), "--ignore-mask", str(tmp_path / mask)])
        assert code == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1, err
        assert phrase in err[0]
        if mask != "small.png":
            assert f"ignore mask {tmp_path / mask}" in err[0]
        assert not out.exists()


def test_bad_inputs_one_line_no_traceback(tmp_path, pair):
    missing = tmp_path / "missing.png"
    truncated = tmp_path / "half.png"
    data = pair[0].read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    out = tmp_path / "out"
    cases = [(missing, "no such file"), (truncated, "trunc")]
    procs = run_many([(pair[0], bad, "-o", out) for bad, _ in cases])
    for (bad, phrase), proc in zip(cases, procs, strict=True):
        _check_error(proc, phrase)
        assert "image B" in proc.stderr
        assert str(bad) in proc.stderr
    assert not out.exists()


def test_more_bad_inputs_in_process(tmp_path, pair, capsys):
    text = tmp_path / "notes.jpg"
    text.write_text("not an image")
    small = tmp_path / "small.png"
    Image.fromarray(np.zeros((20, 20, 3), np.uint8)).save(small)
    out = tmp_path / "out"
    cases = [(tmp_path, "directory"), (text, "not an image"), (small, "size_mismatch")]
    for bad, phrase in [*cases, (pair[0], "")]:
        code = main([str(bad), str(pair[1]), "-o", str(out), "--threshold", "0.3"])
        err = capsys.readouterr().err
        if phrase:
            assert code == 2
            assert len(err.strip().splitlines()) == 1
            assert phrase in err
        else:
            assert code == 0


def test_max_pixels_option_and_running_out_of_memory(tmp_path, pair, capsys, monkeypatch):
    out = tmp_path / "out"
    # The guard's message names the option that raises it, and the option works.
    code = main([str(pair[0]), str(pair[1]), "-o", str(out), "--max-pixels", "100"])
    err = capsys.readouterr().err
    assert code == 2
    assert len(err.strip().splitlines()) == 1
    assert "--max-pixels" in err
    assert main([str(pair[0]), str(pair[1]), "-o", str(out), "--max-pixels", "4800"]) == 0
    capsys.readouterr()

    def no_memory(*args, **kwargs):
        raise MemoryError

    monkeypatch.setattr("imgdiff_widget._cli.compare", no_memory)
    code = main([str(pair[0]), str(pair[1]), "-o", str(out)])
    err = capsys.readouterr().err
    assert code == 2
    assert err.strip().splitlines() == [
        "imgdiff-widget: error: not enough memory to compare these images; downscale them "
        "or free memory."
    ]


def test_flat_images_print_no_warnings(tmp_path, capsys):
    # Blank screenshots: registration finds no shift; skimage's warning must not leak.
    flat = tmp_path / "flat.png"
    Image.fromarray(np.zeros((40, 60, 3), np.uint8)).save(flat)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        code = main([str(flat), str(flat), "-o", str(tmp_path / "out")])
    assert code == 0
    assert [str(w.message) for w in caught] == []
    captured = capsys.readouterr()
    assert captured.err == ""
    assert captured.out.startswith("0 region(s) differ")


def test_never_writes_over_an_input(pair, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    victim = out / "overlay_a.png"
    victim.write_bytes(pair[0].read_bytes())
    original = victim.read_bytes()
    proc = run(victim, pair[1], "-o", out)
    _check_error(proc, "input")
    assert str(victim) in proc.stderr
    assert victim.read_bytes() == original
    assert sorted(os.listdir(out)) == ["overlay_a.png"]  # nothing else written, no temp files


BAD_OPTIONS = [
    (["--threshold", "7"], "threshold"),
    (["--threshold", "high"], "--threshold"),
    (["--min-area", "-3"], "min_area"),
    (["--min-area", "2.5"], "--min-area"),
    (["--win-size", "4"], "win_size"),
    (["--metric", "mse"], "--metric"),
    (["--align", "affine"], "--align"),
    (["--size-mismatch", "stretch"], "--size-mismatch"),
    (["--color", "notacolour"], "color"),
    (["--style", "glow"], "style"),
    (["--alpha", "2"], "alpha"),
    (["--fill-holes", "maybe"], "--fill-holes"),
    (["--ignore-antialiasing", "maybe"], "expected 'auto' or true or false"),
    (["--min-area", "big"], "expected 'auto' or a whole number"),
    (["--ignore", "1,2,3"], "--ignore"),
    (["--ignore", "5,5,1,1"], "ignore"),
    (["--smoothing", "x"], "--smoothing"),
    (["--padding", "-1"], "padding"),
]


def _check_option_error(code, stderr, phrase):
    assert code == 2, stderr
    assert "Traceback" not in stderr
    last = stderr.strip().splitlines()[-1]
    assert last.startswith("imgdiff-widget: error:")
    assert phrase in last


def test_bad_option_values_exit_2(pair, tmp_path):
    # Through a real process: argparse's own check (a DiffParams check takes the same
    # path as the bad inputs above).
    sample = [BAD_OPTIONS[1]]
    out = tmp_path / "out"
    procs = run_many([(*pair, "-o", out, *args) for args, _ in sample])
    for (_, phrase), proc in zip(sample, procs, strict=True):
        _check_option_error(proc.returncode, proc.stderr, phrase)
    assert not out.exists()


@pytest.mark.parametrize(("args", "phrase"), BAD_OPTIONS)
def test_every_bad_option_value_exits_2_in_process(pair, tmp_path, capsys, args, phrase):
    # The same entry point in-process, for every option (a process each would be slow).
    out = tmp_path / "out"
    try:
        code = main([*map(str, pair), "-o", str(out), *args])
    except SystemExit as exc:  # argparse's own errors
        code = exc.code
    _check_option_error(code, capsys.readouterr().err, phrase)
    assert not out.exists()


def test_missing_output_option_exits_2(pair, capsys):
    with pytest.raises(SystemExit) as info:
        main([str(p) for p in pair])
    assert info.value.code == 2
    assert "--output" in capsys.readouterr().err


def _with_corrupt_exif(image: np.ndarray, path) -> None:
    """Save a JPEG whose EXIF description claims more bytes than the file holds."""
    exif = Image.Exif()
    exif[0x010E] = "a description"  # ImageDescription
    data = bytearray(exif.tobytes())
    tiff = 6  # after b"Exif\0\0"; Pillow writes big-endian ("MM")
    for k in range(struct.unpack_from(">H", data, tiff + 8)[0]):
        entry = tiff + 10 + 12 * k
        if struct.unpack_from(">H", data, entry)[0] == 0x010E:
            struct.pack_into(">I", data, entry + 4, 5000)  # the count
    Image.fromarray(image).save(path, "JPEG", quality=95, exif=bytes(data))


def test_a_library_warning_is_one_line(tmp_path, make_texture):
    # Pillow warns about the EXIF; printed as Python prints warnings, the line
    # came with Pillow's file and line number beside our one-line messages.
    a = make_texture((60, 80), 0)
    paths = tmp_path / "a.jpg", tmp_path / "b.jpg"
    for path in paths:
        _with_corrupt_exif(a, path)
    done = run(*paths, "-o", tmp_path / "out")
    assert done.returncode == 0, done.stderr
    lines = done.stderr.strip().splitlines()
    assert lines, "Pillow no longer warns about this EXIF: make the file another way"
    assert all(line.startswith("imgdiff-widget: warning: ") for line in lines), lines
    assert any("Tag data larger than file" in line for line in lines)
    assert "0 region(s) differ" in done.stdout
