"""Parameter studies: sweep, truth metrics, best, plot_sweep, StudyWidget, Dask."""

from __future__ import annotations

import math

import matplotlib
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from imgdiff_widget import DiffParams, ImageLoadError, ParameterError, compare
from imgdiff_widget._regions import find_regions
from imgdiff_widget.study import aggregate, best, evaluate, plot_sweep, sweep
from imgdiff_widget.synthetic import make_pair

matplotlib.use("Agg")

NUISANCES = {"jpeg": (90, 85)}


@pytest.fixture(scope="module")
def photo():
    from skimage import data
    from skimage.transform import rescale

    small = rescale(data.coffee(), 0.5, channel_axis=-1, anti_aliasing=True)
    return (small * 255 + 0.5).astype(np.uint8)  # 200 x 300


@pytest.fixture(scope="module")
def pairs(photo):
    """Two pairs with obvious edits and one with none (JPEG noise only)."""
    return {
        "edited0": make_pair(photo, ("add", "recolor"), seed=0, nuisances=NUISANCES),
        "edited1": make_pair(photo, ("add", "small"), seed=1, nuisances=NUISANCES),
        "clean": make_pair(photo, (), seed=2, nuisances=NUISANCES),
    }


@pytest.fixture(scope="module")
def study(pairs):
    grid = {"min_area": [16, "auto"], "threshold": ["auto", 0.05, 0.3]}
    return sweep(pairs, grid, scheduler="sync")


@pytest.fixture(scope="module")
def client():
    import distributed

    cluster = distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
        silence_logs=50,
    )
    client = distributed.Client(cluster, set_as_default=False)
    yield client
    client.close()
    cluster.close()


def _files(pairs, folder):
    """Write each pair as two PNG files; return name -> (path_a, path_b)."""
    out = {}
    for name, pair in pairs.items():
        paths = (folder / f"{name}_a.png", folder / f"{name}_b.png")
        for path, image in zip(paths, (pair.a, pair.b), strict=True):
            Image.fromarray(image).save(path)
        out[name] = paths
    return out


# ---------------------------------------------------------------- rows and metrics


def test_one_row_per_pair_and_parameter_set(study, pairs):
    assert len(study) == len(pairs) * 6
    assert list(study.columns[:4]) == ["pair", "param_set", "min_area", "threshold"]
    for column in ("regions", "score", "threshold_used", "time", "recall", "precision"):
        assert column in study.columns
    assert list(study["pair"].unique()) == list(pairs)
    # Rows follow the grid (threshold varies fastest, as written), not the run order.
    first = study[study["pair"] == "edited0"]
    assert list(first["param_set"]) == list(range(6))
    assert list(first["threshold"]) == ["auto", 0.05, 0.3] * 2
    assert list(first["min_area"]) == [16] * 3 + ["auto"] * 3
    assert (study["time"] > 0).all()
    fixed = study[study["threshold"] == 0.3]
    assert (fixed["threshold_used"] == 0.3).all()


def test_obvious_edits_found_and_clean_pair_has_no_false_regions(study):
    default = study[(study["threshold"] == "auto") & (study["min_area"] == "auto")]
    edited = default[default["pair"] != "clean"]
    assert (edited["recall"] == 1.0).all()
    assert (edited["false_regions"] == 0).all()
    clean = default[default["pair"] == "clean"].iloc[0]
    assert clean["n_truth"] == 0
    assert clean["regions"] == 0
    assert clean["false_regions"] == 0
    assert math.isnan(clean["recall"])
    # Without truth items every region of the clean pair is false.
    clean = study[study["pair"] == "clean"]
    assert (clean["false_regions"] == clean["regions"]).all()
    assert (study["false_regions"] == study["regions"] - study["true_regions"]).all()
    assert (clean.loc[clean["regions"] > 0, "precision"] == 0).all()


def test_rows_match_fresh_comparisons(study, pairs):
    """The reused pipeline gives the numbers compare() gives from scratch."""
    for row in study.sample(5, random_state=0).itertuples():
        pair = pairs[row.pair]
        fresh = compare(pair.a, pair.b, threshold=row.threshold, min_area=row.min_area)
        assert row.regions == len(fresh.regions)
        assert row.diff_pixels == fresh.n_diff_pixels
        assert row.score == pytest.approx(fresh.score)
        assert row.threshold_used == pytest.approx(fresh.threshold)


def test_score_stage_runs_once_per_early_parameter_set(pairs, monkeypatch):
    import imgdiff_widget._pipeline as pipeline

    calls = []
    original = pipeline.difference_components

    def counting(*args, **kwargs):
        calls.append(kwargs.get("smoothing"))
        return original(*args, **kwargs)

    monkeypatch.setattr(pipeline, "difference_components", counting)
    # Written with the score-stage parameter varying fastest: sweep reorders it.
    grid = {"threshold": ["auto", 0.1, 0.2, 0.3], "smoothing": [1.0, 2.0]}
    df = sweep({"p": pairs["edited0"]}, grid, scheduler="sync")
    assert len(df) == 8
    assert sorted(calls) == [1.0, 2.0]


def test_truth_as_boxes_points_and_single_mask(pairs):
    pair = pairs["edited0"]
    boxes, points = [], []
    for mask in pair.truth:
        rows, cols = np.nonzero(mask)
        boxes.append((rows.min(), cols.min(), rows.max() + 1, cols.max() + 1))
        r, c = rows[len(rows) // 2], cols[len(cols) // 2]
        points.append((r, c))
    far = (1, 1, 4, 4)  # a box nothing marks
    truths = {
        "boxes": boxes,
        "points": points,
        "mask": pair.truth_mask,
        "missed": [*boxes, far],
    }
    named = dict.fromkeys(truths, (pair.a, pair.b))
    df = sweep(named, {"threshold": ["auto"]}, truths, scheduler="sync").set_index("pair")
    for name in ("boxes", "points", "mask"):
        assert df.loc[name, "n_truth"] == len(pair.truth)
        assert df.loc[name, "recall"] == 1.0
        assert df.loc[name, "false_regions"] == 0
    assert math.isnan(df.loc["boxes", "iou"])
    assert math.isnan(df.loc["points", "iou"])
    assert 0.3 < df.loc["mask", "iou"] <= 1.0
    assert df.loc["missed", "recall"] == pytest.approx(len(boxes) / (len(boxes) + 1))


class _Result:
    def __init__(self, mask):
        self.mask = mask
        self.regions = find_regions(mask, mask.astype(np.float32))


def test_evaluate_thirty_percent_rule_and_false_regions():
    truth = np.zeros((40, 40), bool)
    truth[0:10, 0:10] = True  # 100 px
    mask = np.zeros((40, 40), bool)
    mask[0:3, 0:10] = True  # 30 % of the truth item: found
    mask[30:35, 30:35] = True  # touches nothing: a false region
    metrics = evaluate(_Result(mask), ("masks", ([truth], truth)))
    assert metrics["found"] == 1
    assert metrics["false_regions"] == 1
    assert metrics["precision"] == 0.5
    assert metrics["iou"] == pytest.approx(30 / (100 + 25))

    mask[2, :] = False  # 20 %: missed, yet the region still touches it
    metrics = evaluate(_Result(mask), ("masks", ([truth], truth)))
    assert metrics["found"] == 0
    assert metrics["recall"] == 0.0
    assert metrics["true_regions"] == 1


def test_best_pools_pairs(study):
    table = aggregate(study)
    assert len(table) == 6
    assert (table["pairs"] == 3).all()
    assert table["n_truth"].iloc[0] == study.groupby("param_set")["n_truth"].sum().iloc[0]
    choice = best(study, "f1")
    assert set(choice) == {"min_area", "threshold"}
    assert choice["threshold"] != 0.05  # the noisy cut loses on precision
    row = table[
        (table["threshold"] == choice["threshold"]) & (table["min_area"] == choice["min_area"])
    ]
    assert row["f1"].iloc[0] == table["f1"].max()
    fewest = best(study, "false_regions", minimize=True)
    assert (
        table.loc[
            (table["threshold"] == fewest["threshold"])
            & (table["min_area"] == fewest["min_area"]),
            "false_regions",
        ].iloc[0]
        == table["false_regions"].min()
    )
    by_function = best(study, lambda rows: -rows["regions"].sum())
    assert by_function == best(study, "regions", minimize=True)
    with pytest.raises(ParameterError, match="not a column"):
        best(study, "accuracy")


def test_best_keeps_whole_numbers_whole(pairs):
    # An all-numeric grid: the chosen set goes straight into DiffParams.
    grid = {"threshold": [0.2, 0.3], "min_area": [1, 50]}
    df = sweep({"p": pairs["edited0"]}, grid, scheduler="sync")
    choice = best(df, "f1")
    assert type(choice["min_area"]) is int
    assert type(choice["threshold"]) is float
    DiffParams(**choice)


def test_f1_is_zero_when_nothing_is_found(pairs):
    df = sweep({"p": pairs["edited0"]}, {"min_area": [10**6]}, scheduler="sync")
    row = df.iloc[0]
    assert row["n_truth"] > 0
    assert row["regions"] == 0
    assert row["recall"] == 0.0
    assert math.isnan(row["precision"])
    assert row["f1"] == 0.0


def test_best_passes_over_a_set_that_failed_on_a_pair(pairs):
    # size_mismatch="error" fails on the wider pair: its F1 on the other
    # pair alone must not make it the best.
    a, b = pairs["edited1"].a, pairs["edited1"].b
    wider = {"same": pairs["edited0"], "wider": (a, np.pad(b, ((0, 0), (0, 4), (0, 0))))}
    truth = {"same": pairs["edited0"].truth, "wider": pairs["edited1"].truth}
    grid = {"size_mismatch": ["crop", "error"]}
    df = sweep(wider, grid, truth, scheduler="sync", errors="record")
    table = aggregate(df).set_index("size_mismatch")
    assert table.loc["error", "failed"] == 1
    assert table.loc["crop", "failed"] == 0
    assert best(df, "f1") == {"size_mismatch": "crop"}
    assert best(df, lambda rows: -rows["regions"].sum()) == {"size_mismatch": "crop"}
    only_failing = df[df["size_mismatch"] == "error"]
    with pytest.raises(ParameterError, match="every parameter set failed"):
        best(only_failing, "f1")
    # A set that failed on every pair still has its row.
    wider_only = sweep({"wider": wider["wider"]}, grid, scheduler="sync", errors="record")
    table = aggregate(wider_only).set_index("size_mismatch")
    assert table.loc["error", ["pairs", "failed"]].tolist() == [0, 1]
    with pytest.raises(ParameterError, match="every parameter set failed"):
        best(wider_only[wider_only["size_mismatch"] == "error"], "regions")


def test_best_without_truth_needs_a_defined_objective(pairs):
    df = sweep({"p": (pairs["edited0"].a, pairs["edited0"].b)}, {"threshold": [0.2, 0.3]})
    assert "recall" not in df.columns
    with pytest.raises(ParameterError, match="need truth"):
        best(df, "f1")
    assert best(df, "regions") in ({"threshold": 0.2}, {"threshold": 0.3})


def test_plot_sweep_draws_one_curve_per_hue(study, tmp_path):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    returned = plot_sweep(study, x="threshold", y="f1", hue="min_area", ax=ax)
    assert returned is ax
    solid = [line for line in ax.lines if line.get_linestyle() == "-"]
    dashed = [line for line in ax.lines if line.get_linestyle() == "--"]
    assert len(solid) == 2  # min_area 16 and auto
    assert len(dashed) == 2  # threshold="auto" drawn as a level per curve
    np.testing.assert_array_equal(solid[0].get_xdata(), [0.05, 0.3])
    assert ax.get_legend() is not None
    fig.savefig(tmp_path / "plot.png")
    plt.close(fig)
    ax = plot_sweep(study, x="threshold", y="regions", per_pair=True)
    assert len([line for line in ax.lines if line.get_linestyle() == "-"]) == 3
    plt.close(ax.figure)


# ---------------------------------------------------------------- input errors


def test_bad_grid_and_truth_are_parameter_errors(pairs):
    pair = {"p": pairs["edited0"]}
    with pytest.raises(ParameterError, match="not DiffParams fields"):
        sweep(pair, {"treshold": [0.1]}, scheduler="sync")
    with pytest.raises(ParameterError, match="threshold"):
        sweep(pair, {"threshold": [2.0]}, scheduler="sync")
    with pytest.raises(ParameterError, match="not a list"):
        sweep(pair, {"threshold": 0.1}, scheduler="sync")
    with pytest.raises(ParameterError, match="truth"):
        sweep(pair, {"threshold": [0.1]}, {"p": "everything"}, scheduler="sync")
    with pytest.raises(ParameterError, match="unknown pair"):
        sweep(pair, {"threshold": [0.1]}, {"q": []}, scheduler="sync")
    with pytest.raises(ParameterError, match="one per pair"):
        sweep([(pairs["clean"].a, pairs["clean"].b)], {"threshold": [0.1]}, [[], []])
    masks = [np.zeros((200, 300), bool), np.zeros((100, 300), bool)]
    with pytest.raises(ParameterError, match="masks of pair 'p' differ in shape"):
        sweep(pair, {"threshold": [0.1]}, {"p": masks}, scheduler="sync")


def test_a_bad_pair_is_recorded_or_raised(pairs):
    good = pairs["edited1"]
    both = {"bad": (b"not an image", good.b), "good": (good.a, good.b)}
    df = sweep(both, {"threshold": ["auto", 0.3]}, scheduler="sync", errors="record")
    assert len(df) == 4
    bad = df[df["pair"] == "bad"]
    assert bad["error"].str.contains("not an image file").all()
    assert df.loc[df["pair"] == "good", "error"].isna().all()
    assert (df.loc[df["pair"] == "good", "regions"] > 0).all()
    assert len(aggregate(df)) == 2  # the failed pair does not count
    with pytest.raises(ImageLoadError):
        sweep(both, {"threshold": [0.3]}, scheduler="sync")


# ---------------------------------------------------------------- on a cluster


def test_sweep_on_a_cluster_matches_the_local_run(client, pairs, tmp_path):
    pairs = {name: pairs[name] for name in ("edited0", "clean")}
    files = _files(pairs, tmp_path)
    # A path for one pair, file:// URLs (read by the workers through fsspec) for the other.
    files["clean"] = tuple(p.as_uri() for p in files["clean"])
    truth = {name: pair.truth for name, pair in pairs.items()}
    grid = {"threshold": ["auto", 0.3]}
    remote = sweep(files, grid, truth, client=client)
    local = sweep(files, grid, truth, scheduler="sync")
    columns = ["pair", "param_set", "regions", "diff_pixels", "found", "false_regions"]
    pd.testing.assert_frame_equal(remote[columns], local[columns])
    assert remote["score"].to_numpy() == pytest.approx(local["score"].to_numpy())
    assert len(client.scheduler_info()["workers"]) == 2


def test_sources_sent_to_workers_do_not_depend_on_their_directory(tmp_path, monkeypatch):
    # Workers resolve a relative path in their own working directory.
    from imgdiff_widget.study import _for_workers

    class Cluster:
        def scatter(self, data, hash):
            return ("scattered", data.shape)

    monkeypatch.chdir(tmp_path)
    assert _for_workers("left/a.png", Cluster()) == str(tmp_path / "left" / "a.png")
    assert _for_workers(tmp_path / "b.png", Cluster()) == str(tmp_path / "b.png")
    assert _for_workers("s3://bucket/a.png", Cluster()) == "s3://bucket/a.png"
    assert _for_workers(np.zeros((2, 3)), Cluster()) == ("scattered", (2, 3))


def test_sweep_on_a_cluster_records_a_missing_url(client, pairs, tmp_path):
    files = _files({"edited0": pairs["edited0"]}, tmp_path)
    files["gone"] = ((tmp_path / "gone.png").as_uri(), str(files["edited0"][1]))
    df = sweep(files, {"threshold": [0.3]}, client=client, errors="record")
    assert df.set_index("pair").loc["gone", "error"].startswith("cannot read file://")
    with pytest.raises(ImageLoadError, match="cannot read"):
        sweep(files, {"threshold": [0.3]}, client=client)


def test_batch_runs_on_a_given_scheduler(client, pairs, tmp_path):
    from imgdiff_widget._batch import main

    left, right, out = tmp_path / "left", tmp_path / "right", tmp_path / "out"
    left.mkdir()
    right.mkdir()
    for name, pair in pairs.items():
        Image.fromarray(pair.a).save(left / f"{name}.png")
        Image.fromarray(pair.b).save(right / f"{name}.jpg")
    address = client.scheduler.address
    status = main([str(left), str(right), "-o", str(out), "--scheduler", address])
    assert status == 0
    summary = pd.read_csv(out / "summary.csv")
    assert list(summary["status"]) == ["ok"] * 3
    assert all((out / name / "regions.json").is_file() for name in pairs)


# ---------------------------------------------------------------- the widget


def test_study_widget_opens_a_row_with_its_parameters(study, pairs):
    # (ipywidgets and the widget come with the [test] extra: a failed import fails.)
    from imgdiff_widget.study import StudyWidget

    view = StudyWidget(study, pairs, sort_by="f1")
    assert len(view.rows.options) == len(study)
    index = study.index[(study["pair"] == "edited1") & (study["threshold"] == 0.3)][0]
    diff = view.open(index)
    assert diff is view.diff
    assert diff.threshold == 0.3
    assert diff.min_area == study.loc[index, "min_area"]
    assert len(diff.result.regions) == study.loc[index, "regions"]


def test_max_pixels_reaches_the_sweep_and_the_widget(pairs, tmp_path):
    # (The guard is for files: arrays are already decoded.)
    from imgdiff_widget.study import StudyWidget

    one = _files({"edited0": pairs["edited0"]}, tmp_path)
    limit = pairs["edited0"].a.shape[0] * pairs["edited0"].a.shape[1]
    grid = {"threshold": ["auto"]}
    refused = sweep(one, grid, scheduler="sync", errors="record", max_pixels=limit - 1)
    assert f"{limit - 1:,}" in refused.loc[0, "error"]
    df = sweep(one, grid, scheduler="sync", max_pixels=limit)
    assert df.loc[0, "regions"] >= 1
    view = StudyWidget(df, one, max_pixels=limit - 1)
    assert f"{limit - 1:,}" in view.open(0).error  # the limit the study was run with
    assert StudyWidget(df, one, max_pixels=limit).open(0).result is not None
