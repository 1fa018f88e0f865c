"""The batch command: pairing, summary, failures, resuming, exit status."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from testing_images import textured

import imgdiff_widget._pipeline as pipeline
from imgdiff_widget._batch import STAMP, fetch, main
from imgdiff_widget._errors import ImageLoadError
from imgdiff_widget._export import OUTPUT_FILES
from imgdiff_widget.synthetic import make_pair

GOOD = ("alpha", "beta", "gamma")


@pytest.fixture
def folders(tmp_path):
    """LEFT/RIGHT with three good pairs, a corrupt file and a file with no partner."""
    left, right = tmp_path / "left", tmp_path / "right"
    left.mkdir()
    right.mkdir()
    for seed, name in enumerate(GOOD):
        pair = make_pair(textured((120, 160), seed=seed), ("add",), seed=seed)
        Image.fromarray(pair.a).save(left / f"{name}.png")
        Image.fromarray(pair.b).save(right / f"{name}.jpg", quality=95)  # stems match
    (left / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    Image.fromarray(textured((60, 80))).save(right / "corrupt.png")
    Image.fromarray(textured((60, 80))).save(left / "lonely.png")
    (left / "notes.txt").write_text("not an image: ignored")
    return left, right, tmp_path / "out"


def _run(folders, *extra):
    left, right, out = folders
    return main([str(left), str(right), "-o", str(out), "--scheduler", "sync", *extra])


def _summary(out):
    return pd.read_csv(out / "summary.csv", keep_default_na=False).set_index("name")


@pytest.fixture
def count_compares(monkeypatch):
    """Count pipeline runs (one per pair compared) in this process."""
    calls = []
    original = pipeline.DiffPipeline.run

    def counting(self, params=None):
        calls.append(self.sources[0].stem if self.sources[0] else None)
        return original(self, params)

    monkeypatch.setattr(pipeline.DiffPipeline, "run", counting)
    return calls


def test_summary_records_every_pair(folders, count_compares, capsys):
    status = _run(folders)
    assert status == 1  # a corrupt file and a missing partner
    out = folders[2]
    summary = _summary(out)
    assert list(summary.index) == ["alpha", "beta", "corrupt", "gamma", "lonely"]
    assert summary.loc[list(GOOD), "status"].tolist() == ["ok"] * 3
    assert (summary.loc[list(GOOD), "regions"].astype(int) >= 1).all()
    assert summary.loc["corrupt", "status"] == "error"
    assert "corrupt.png" in summary.loc["corrupt", "error"]
    assert summary.loc["lonely", "status"] == "unmatched"
    assert "no partner" in summary.loc["lonely", "error"]
    for name in GOOD:
        assert all((out / name / f).is_file() for f in (*OUTPUT_FILES, STAMP))
    assert not (out / "corrupt" / STAMP).exists()
    assert sorted(count_compares) == sorted(GOOD)  # the corrupt pair never loaded

    data = json.loads((out / "summary.json").read_text())
    assert data["counts"] == {"ok": 3, "error": 1, "unmatched": 1}
    assert [row["name"] for row in data["pairs"]] == list(summary.index)
    regions = json.loads((out / "alpha" / "regions.json").read_text())
    assert data["pairs"][0]["regions"] == regions["n_regions"]
    err = capsys.readouterr().err
    assert "lonely" in err
    assert "corrupt" in err


def test_rerun_skips_finished_pairs(folders, count_compares):
    out = folders[2]
    _run(folders)
    before = {f: (out / "alpha" / f).stat().st_mtime_ns for f in OUTPUT_FILES}
    first = _summary(out)
    count_compares.clear()
    assert _run(folders) == 1
    assert count_compares == []  # the corrupt pair fails again at loading
    assert {f: (out / "alpha" / f).stat().st_mtime_ns for f in OUTPUT_FILES} == before
    summary = _summary(out)
    assert summary.loc[list(GOOD), "status"].tolist() == ["skipped"] * 3
    # Numbers of skipped pairs come from their stamps: nothing is lost.
    for column in ("regions", "diff_pixels", "score"):
        assert summary.loc[list(GOOD), column].tolist() == first.loc[list(GOOD), column].tolist()
    assert summary.loc["corrupt", "status"] == "error"


def test_ignore_mask_file_and_a_changed_mask_recomputes(folders, count_compares, tmp_path):
    left, _, out = folders
    width, height = Image.open(left / "alpha.png").size  # the three pairs' size
    half = height // 2
    drawn = np.zeros((height, width), np.uint8)
    drawn[:half] = 255  # the top half
    Image.fromarray(drawn).save(tmp_path / "top.png")
    assert _run(folders, "--ignore-mask", str(tmp_path / "top.png")) == 1
    summary = _summary(out)
    assert summary.loc[list(GOOD), "status"].tolist() == ["ok"] * 3
    # (The pair with no partner is unmatched; the corrupt one fails at loading.)
    marks = [np.asarray(Image.open(out / name / "mask.png"))[:half] for name in GOOD]
    assert not any(mark.any() for mark in marks)
    count_compares.clear()
    assert _run(folders, "--ignore-mask", str(tmp_path / "top.png")) == 1
    assert count_compares == []
    # Another mask of that size, painting as many pixels: the pairs are compared again.
    Image.fromarray(drawn[::-1].copy()).save(tmp_path / "bottom.png")
    assert _run(folders, "--ignore-mask", str(tmp_path / "bottom.png")) == 1
    assert sorted(count_compares) == sorted(GOOD)
    marks = [np.asarray(Image.open(out / name / "mask.png"))[-half:] for name in GOOD]
    assert not any(mark.any() for mark in marks)


def test_batch_never_writes_over_the_ignore_mask_file(folders):
    left, _, out = folders
    width, height = Image.open(left / "alpha.png").size
    (out / "alpha").mkdir(parents=True)
    drawn = np.zeros((height, width), np.uint8)
    drawn[:10] = 255
    Image.fromarray(drawn).save(out / "alpha" / "mask.png")
    before = (out / "alpha" / "mask.png").read_bytes()
    assert _run(folders, "--ignore-mask", str(out / "alpha" / "mask.png")) == 1
    summary = _summary(out)
    assert summary.loc["alpha", "status"] == "error"
    assert "refusing to write" in summary.loc["alpha", "error"]
    assert summary.loc[["beta", "gamma"], "status"].tolist() == ["ok"] * 2
    assert (out / "alpha" / "mask.png").read_bytes() == before


def test_a_bad_ignore_mask_is_a_usage_error(folders, tmp_path, capsys):
    assert _run(folders, "--ignore-mask", str(tmp_path / "none.png")) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert f"ignore mask {tmp_path / 'none.png'}: no such file" in err[0]


def test_interrupted_run_resumes_without_recomputing(folders, count_compares, monkeypatch):
    out = folders[2]
    counting = pipeline.DiffPipeline.run

    def interrupted(self, params=None):
        if len(count_compares) == 1:  # Ctrl-C during the second pair
            raise KeyboardInterrupt
        return counting(self, params)

    monkeypatch.setattr(pipeline.DiffPipeline, "run", interrupted)
    assert _run(folders) == 130
    summary = _summary(out)
    assert summary.loc["alpha", "status"] == "ok"
    assert summary.loc[["beta", "gamma"], "status"].tolist() == ["pending"] * 2
    assert summary.loc["lonely", "status"] == "unmatched"
    assert not (out / "beta" / STAMP).exists()
    alpha = (out / "alpha" / "mask.png").stat().st_mtime_ns

    monkeypatch.setattr(pipeline.DiffPipeline, "run", counting)
    count_compares.clear()
    assert _run(folders) == 1
    assert sorted(count_compares) == ["beta", "gamma"]  # alpha was not recomputed
    assert (out / "alpha" / "mask.png").stat().st_mtime_ns == alpha
    summary = _summary(out)
    assert summary.loc[list(GOOD), "status"].tolist() == ["skipped", "ok", "ok"]


def test_a_lost_cluster_still_writes_the_summary(folders, capsys, monkeypatch):
    import imgdiff_widget._batch as batch

    streamed = batch.stream

    def lost_after_one(client, fn, tasks):
        for count, item in enumerate(streamed(client, fn, tasks)):
            if count == 1:
                raise OSError("Timed out trying to connect to tcp://10.0.0.1:8786")
            yield item

    monkeypatch.setattr(batch, "stream", lost_after_one)
    out = folders[2]
    assert _run(folders) == 1
    err = capsys.readouterr().err
    assert "the batch stopped: " in err
    assert "Traceback" not in err
    summary = _summary(out)
    # The second pair was done (its stamp says so) when the cluster was lost.
    assert (summary["status"] == "ok").sum() == 2
    assert (summary["status"] == "pending").sum() == 2
    assert summary.loc[summary["status"] == "pending", "error"].str.contains("stopped").all()


def test_a_cancelled_task_is_an_error_row():
    # (A cluster whose scheduler went away ends its futures "cancelled".)
    from imgdiff_widget._batch import stream

    class Future:
        def __init__(self, key, status):
            self.key, self.status = key, status

        def done(self):
            return True

    class Client:
        loop = None

        def __init__(self):
            self.statuses = iter(["finished", "cancelled"])

        def submit(self, fn, *args, pure):
            return Future(args, next(self.statuses))

        def cancel(self, futures):
            pass

    import distributed

    def as_completed(futures, loop, with_results, raise_errors):
        return [(f, {"row": f.key}) for f in futures]

    original = distributed.as_completed
    distributed.as_completed = as_completed
    try:
        found = list(stream(Client(), None, [("a",), ("b",)]))
    finally:
        distributed.as_completed = original
    assert found[0] == (0, {"row": ("a",)}, None)
    index, row, error = found[1]
    assert (index, row) == (1, None)
    assert "cancelled" in str(error)


def test_an_input_saved_again_during_its_comparison_is_not_vouched_for(
    folders, count_compares, monkeypatch
):
    left, _, out = folders
    counting = pipeline.DiffPipeline.run

    def rewritten(self, params=None):
        result = counting(self, params)
        if self.sources[0].stem == "alpha":  # saved again after it was read
            Image.fromarray(np.zeros((120, 160, 3), np.uint8)).save(left / "alpha.png")
        return result

    monkeypatch.setattr(pipeline.DiffPipeline, "run", rewritten)
    _run(folders)
    assert "changed while it was compared" in _summary(out).loc["alpha", "error"]
    assert not (out / "alpha" / STAMP).exists()
    monkeypatch.setattr(pipeline.DiffPipeline, "run", counting)
    count_compares.clear()
    _run(folders)
    assert count_compares == ["alpha"]  # redone; the others were vouched for


def test_relative_folders_reach_workers_as_absolute_paths(folders, monkeypatch):
    # A cluster's workers resolve paths in their own working directory.
    import imgdiff_widget._batch as batch

    left, _, out = folders
    seen = []
    streamed = batch.stream

    def recording(client, fn, tasks):
        seen.extend(tasks)
        yield from streamed(client, fn, tasks)

    monkeypatch.setattr(batch, "stream", recording)
    monkeypatch.chdir(left.parent)
    width, height = Image.open(left / "alpha.png").size
    Image.fromarray(np.zeros((height, width), np.uint8)).save("mask.png")
    args = ["left", "right", "-o", "out", "--scheduler", "sync", "--ignore-mask", "mask.png"]
    assert main(args) == 1
    assert seen
    for _, a, b, _, directory, _, protect in seen:
        assert a.is_absolute()
        assert b.is_absolute()
        assert directory.is_absolute()
        assert protect == (left.parent / "mask.png",)
    assert (out / "alpha" / "mask.png").is_file()


def test_incomplete_or_stale_outputs_are_recomputed(folders, count_compares):
    left, _, out = folders
    _run(folders)
    (out / "alpha" / "mask.png").unlink()  # killed between two writes
    (out / "beta" / STAMP).unlink()  # killed before the stamp
    os.utime(left / "gamma.png", ns=(1, 1))  # the input changed since
    count_compares.clear()
    _run(folders)
    assert sorted(count_compares) == sorted(GOOD)
    assert (out / "alpha" / "mask.png").is_file()
    count_compares.clear()
    _run(folders, "--threshold", "0.3")  # other parameters: other results
    assert sorted(count_compares) == sorted(GOOD)
    count_compares.clear()
    _run(folders, "--threshold", "0.3", "--color", "red")
    assert sorted(count_compares) == sorted(GOOD)
    count_compares.clear()
    _run(folders, "--threshold", "0.3", "--color", "red", "--force")
    assert sorted(count_compares) == sorted(GOOD)


def test_all_ok_exits_zero(folders):
    left, right, out = folders
    (left / "corrupt.png").unlink()
    (right / "corrupt.png").unlink()
    (left / "lonely.png").unlink()
    assert _run(folders) == 0
    assert _run(folders) == 0  # all skipped
    assert set(_summary(out)["status"]) == {"skipped"}


def test_max_pixels_refuses_large_pairs_and_raising_it_lets_them_through(folders):
    left, right, out = folders
    for name in ("corrupt.png", "lonely.png"):
        (left / name).unlink()
    (right / "corrupt.png").unlink()
    assert _run(folders, "--max-pixels", "14975") == 1  # each image is 144 x 104
    summary = _summary(out)
    assert summary["status"].tolist() == ["error"] * 3
    assert summary["error"].str.contains("14,975").all()
    assert summary["error"].str.contains("--max-pixels").all()
    # A refused pair was never stamped: the higher limit compares it.
    assert _run(folders, "--max-pixels", "14976") == 0
    assert _summary(out)["status"].tolist() == ["ok"] * 3


def test_fetch_applies_max_pixels_to_urls(tmp_path):
    path = tmp_path / "image.png"
    Image.fromarray(textured((60, 80))).save(path)
    with pytest.raises(ImageLoadError, match="4,799"):
        fetch(path.as_uri(), max_pixels=4799)
    assert fetch(path.as_uri(), max_pixels=4800).shape == (60, 80, 3)


def test_ambiguous_stems_are_errors(folders):
    left, _, out = folders
    Image.fromarray(np.zeros((60, 80, 3), np.uint8)).save(left / "alpha.jpg")
    assert _run(folders) == 1
    row = _summary(out).loc["alpha"]
    assert row["status"] == "error"
    assert "alpha.jpg" in row["error"]
    assert "alpha.png" in row["error"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["{tmp}/nope", "{right}"], "LEFT_DIR"),
        (["{left}", "{left}/alpha.png"], "RIGHT_DIR"),
        (["{left}", "{right}", "--threshold", "2"], "threshold"),
        (["{left}", "{right}", "--workers", "0"], "--workers"),
    ],
)
def test_usage_errors_exit_2_with_one_line(folders, capsys, args, message):
    left, right, out = folders
    values = {"tmp": left.parent, "left": left, "right": right}
    argv = [a.format(**values) for a in args] + ["-o", str(out)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert message in err
    assert not out.exists() or not (out / "summary.csv").exists()


def test_output_that_is_a_file_is_a_usage_error(folders, capsys):
    left, right, out = folders
    out.write_text("")
    assert main([str(left), str(right), "-o", str(out)]) == 2
    assert "is a file" in capsys.readouterr().err


def test_without_the_study_extra_it_says_what_to_install(folders, capsys, monkeypatch):
    import importlib.util

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name: None if name == "tqdm" else find_spec(name)
    )
    left, right, out = folders
    assert main([str(left), str(right), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert "needs tqdm" in err
    assert "pip install 'imgdiff-widget[study]'" in err


def _cli(*args, timeout=120):
    return subprocess.run(
        [sys.executable, "-m", "imgdiff_widget", "batch", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_cli_reports_and_resumes(folders):
    left, right, out = folders
    done = _cli(left, right, "-o", out, "--scheduler", "sync")
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert "3 ok, 1 error, 1 unmatched" in done.stdout
    assert "unmatched: lonely" in done.stderr
    assert "error: corrupt" in done.stderr
    again = _cli(left, right, "-o", out, "--no-progress")
    assert again.returncode == 1
    assert "3 skipped, 1 error, 1 unmatched" in again.stdout


@pytest.mark.slow
def test_cli_on_local_worker_processes(folders):
    """The default: a local cluster of worker processes (here two)."""
    left, right, out = folders
    done = _cli(left, right, "-o", out, "--workers", "2")
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert "3 ok, 1 error, 1 unmatched" in done.stdout
    summary = _summary(out)
    assert summary.loc[list(GOOD), "status"].tolist() == ["ok"] * 3
    assert all((out / name / STAMP).is_file() for name in GOOD)


def test_cli_usage_error_has_no_traceback(tmp_path):
    done = _cli(tmp_path / "missing", tmp_path, "-o", tmp_path / "out")
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"imgdiff-widget batch: error: LEFT_DIR {tmp_path / 'missing'} does not exist; "
        "give a folder of images."
    ]


def test_worker_processes_start_deaf_to_ctrl_c():
    # Ctrl-C reaches the whole process group; only the batch itself handles it.
    import signal

    from imgdiff_widget._batch import _workers_ignore_ctrl_c

    handler = signal.getsignal(signal.SIGINT)
    with _workers_ignore_ctrl_c(processes=True):
        child = subprocess.run(
            [
                sys.executable,
                "-c",
                "import signal; print(signal.getsignal(signal.SIGINT) == signal.SIG_IGN)",
            ],
            capture_output=True,
            text=True,
            check=True,
        )
    assert child.stdout.strip() == "True"
    assert signal.getsignal(signal.SIGINT) is handler
