"""Detection quality of ``compare`` beside the two usual recipes, on pairs with known truth.

Usage::

    python benchmarks/quality.py [--split tune|heldout|all] [--pairs 12] [--seed 0]
                                 [--jobs 1] [--params key=value ...] [--dump DIR]
                                 [--csv FILE]

Pairs come from :func:`imgdiff_widget.synthetic.make_pair` on colour photos
that scikit-image ships (no download): coffee, astronaut,
immunohistochemistry, retina and the left half of the Hubble deep field for
tuning; chelsea, rocket, motorcycle and the right half of the Hubble deep
field held out. Six tracks add different
nuisances (what must not be marked):

- clean: JPEG on both sides (qualities 65-95 each);
- noisy: JPEG + exposure change of B (gain 0.93-1.07, offset -6..6 /255) +
  sensor noise on both sides (sigma 1-4 /255);
- shifted: JPEG + B's view moved by 1-5 px + B a few px larger or smaller;
- resampled: JPEG + B scaled by 0.80-0.95 and back, then re-encoded;
- grainy: JPEG + grain on both sides: sensor noise of sigma 4-7 /255
  spread over neighbouring pixels (blurred 0.7 px), as in a photo taken in
  dim light;
- handheld: JPEG + a photo taken twice by hand: B's view moved by 2-6 % of
  the shorter side, turned by 0.5-3 degrees either way, zoomed by 0.97-1.03,
  and its exposure changed (gain 0.95-1.05).

Each pair carries 5-7 edits; within a track every kind appears equally often
(up to one). Split: "tune" uses even seeds and the first five photos,
"heldout" odd seeds and the other four, so held-out numbers are not fitted.

Methods, run in one process on the same pairs:

- ours: ``imgdiff_widget.compare(a, b)`` with the defaults (or ``--params``);
- subtract: grey, ``cv2.subtract(a, b)`` (one-sided, saturating), Otsu;
- ssim-otsu: grey SSIM map, ``(S*255).astype(uint8)``, inverse Otsu, outer
  contours with area > 40, filled (see ``_baselines.py``).

Baselines crop differently sized images to the common top-left area; their
masks are padded back into A's frame, where the truth lives.

Scores, per track and method:

- recall: an edit is found when >= 30 % of its truth pixels are marked;
- false/pair: marked 8-connected components that touch no edit's truth
  dilated by 3 px, per pair; false px: their pixels, per pair (a 1-px speck
  and a large false blob count alike in false/pair);
- IoU: of the union of all truth vs the mask, averaged over pairs;
- mark/truth: marked pixels / truth pixels, averaged over pairs (> 1: marks
  spill over; < 1: marks are partial);
- ms/pair: wall time of the method alone (pair generation excluded).

Then recall per edit kind, ours per photo, then the real pairs in ../shared/peers whose
differences are documented (skipped when absent).
"""

from __future__ import annotations

import argparse
import ast
import os
import sys
import time
import warnings
from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage as ndi
from skimage import data
from skimage.morphology import disk
from skimage.segmentation import find_boundaries
from skimage.transform import rescale

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _baselines import ssim_otsu, subtract_otsu

from imgdiff_widget import DiffParams, compare
from imgdiff_widget.synthetic import EDIT_KINDS, make_pair

PEERS = Path(__file__).resolve().parents[2] / "shared" / "peers"

FOUND_FRACTION = 0.30  # an edit is found when this share of its truth is marked
TOUCH_RADIUS = 3  # px: a mark within this distance of an edit is not false
METHODS = ("ours", "subtract", "ssim-otsu")
TRACKS = ("clean", "noisy", "shifted", "resampled", "grainy", "handheld")
_EIGHT = np.ones((3, 3), bool)


# --- photos -----------------------------------------------------------------------


def _to_uint8(image: np.ndarray) -> np.ndarray:
    return (np.clip(image, 0, 1) * 255 + 0.5).astype(np.uint8)


def _downscaled(image: np.ndarray, factor: float) -> np.ndarray:
    return _to_uint8(rescale(image, factor, channel_axis=-1, anti_aliasing=True))


def _hubble(half: int) -> np.ndarray:
    """One half (0: left, 1: right) of the Hubble deep field, at 0.6 scale (523x300)."""
    image = data.hubble_deep_field()
    return _downscaled(image[:, :500] if half == 0 else image[:, 500:], 0.6)


# Each split mixes everyday, dark and microscopy-like content; the Hubble deep
# field (dense small stars: the hardest texture here) is cut in two so that
# each split has one half of it.
PHOTOS = {
    "coffee": data.coffee,
    "astronaut": data.astronaut,
    "immunohistochemistry": data.immunohistochemistry,
    "retina": lambda: _downscaled(data.retina(), 0.36),  # 1411 -> 508
    "hubble-left": lambda: _hubble(0),
    "chelsea": data.chelsea,
    "rocket": data.rocket,
    "motorcycle": lambda: data.stereo_motorcycle()[0],
    "hubble-right": lambda: _hubble(1),
}
SPLIT_PHOTOS = {"tune": tuple(PHOTOS)[:5], "heldout": tuple(PHOTOS)[5:]}
SPLIT_PARITY = {"tune": 0, "heldout": 1}


@cache
def photo(name: str) -> np.ndarray:
    image = np.asarray(PHOTOS[name]())
    return np.ascontiguousarray(image[..., :3])


# --- pair specifications -------------------------------------------------------------


@dataclass(frozen=True)
class Spec:
    split: str
    track: str
    index: int
    photo: str
    seed: int
    kinds: tuple[str, ...]
    nuisances: dict = field(hash=False)

    @property
    def name(self) -> str:
        return f"{self.split}-{self.track}-{self.index:02d}-{self.photo}-s{self.seed}"


def _nuisances(track: str, rng: np.random.Generator) -> dict:
    out: dict = {"jpeg": tuple(int(q) for q in rng.integers(65, 96, size=2))}
    if track == "noisy":
        out["gain"] = round(float(rng.uniform(0.93, 1.07)), 3)
        out["offset"] = round(float(rng.uniform(-6, 6)), 2)
        out["noise"] = round(float(rng.uniform(1, 4)), 2)
    elif track == "shifted":
        while True:
            shift = tuple(int(v) for v in rng.integers(-5, 6, size=2))
            if max(abs(shift[0]), abs(shift[1])) >= 1:
                break
        out["shift"] = shift
        # make_pair's scene margin is 8 px: shift + size_delta must stay within it.
        out["size_delta"] = tuple(int(rng.integers(-3, min(3, 8 - s) + 1)) for s in shift)
    elif track == "resampled":
        out["resample"] = round(float(rng.uniform(0.80, 0.95)), 3)
    elif track == "grainy":
        out["noise"] = round(float(rng.uniform(4, 7)), 2)
        out["noise_blur"] = 0.7
    elif track == "handheld":
        # (In pixels of a 512 px side; make_pair's margin grows to hold the view.)
        out["shift"] = tuple(int(v) for v in rng.choice([-1, 1], 2) * rng.integers(10, 31, 2))
        out["turn"] = round(float(rng.choice([-1, 1]) * rng.uniform(0.5, 3.0)), 2)
        out["zoom"] = round(float(rng.uniform(0.97, 1.03)), 3)
        out["gain"] = round(float(rng.uniform(0.95, 1.05)), 3)
    elif track != "clean":
        raise ValueError(f"unknown track {track!r}")
    return out


def make_specs(split: str, track: str, pairs: int, seed: int) -> list[Spec]:
    """The pairs of one split and track: balanced kinds, seeds of the split's parity."""
    t = TRACKS.index(track)
    rng = np.random.default_rng([seed, t, SPLIT_PARITY[split]])
    # Drawn pair by pair from one stream, so pair i is the same whatever --pairs is.
    pool: list[str] = []
    specs, start = [], 0
    photos = SPLIT_PHOTOS[split]
    for i in range(pairs):
        count = int(rng.integers(5, 8))
        while len(pool) < start + count:
            pool.extend(rng.permutation(EDIT_KINDS))
        kinds = tuple(str(k) for k in rng.permutation(pool[start : start + count]))
        start += count
        pair_seed = 2 * (seed * 100_000 + t * 1_000 + i) + SPLIT_PARITY[split]
        nuisances = _nuisances(track, np.random.default_rng(pair_seed))
        specs.append(Spec(split, track, i, photos[i % len(photos)], pair_seed, kinds, nuisances))
    return specs


# --- methods -------------------------------------------------------------------------


def _in_frame(mask: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Pad (or crop) a top-left-anchored mask into A's frame."""
    out = np.zeros(shape, bool)
    h, w = min(shape[0], mask.shape[0]), min(shape[1], mask.shape[1])
    out[:h, :w] = mask[:h, :w]
    return out


def run_method(method: str, a: np.ndarray, b: np.ndarray, params: dict) -> np.ndarray:
    if method == "ours":
        return compare(a, b, **params).mask
    if method == "subtract":
        return subtract_otsu(a, b)
    if method == "ssim-otsu":
        return ssim_otsu(a, b)
    raise ValueError(method)


# --- scoring -------------------------------------------------------------------------


def score(mask: np.ndarray, truth: list[np.ndarray]) -> dict:
    """Per-edit coverage, false components, IoU of one mask against the edits' truth."""
    union = np.zeros(mask.shape, bool)
    for t in truth:
        union |= t
    near = ndi.binary_dilation(union, structure=disk(TOUCH_RADIUS))
    coverage = [float(mask[t].mean()) for t in truth]
    labels, count = ndi.label(mask, structure=_EIGHT)
    touching = np.unique(labels[near & mask])
    false_labels = np.setdiff1d(np.arange(1, count + 1), touching)
    inter = np.count_nonzero(mask & union)
    total = np.count_nonzero(mask | union)
    return {
        "coverage": coverage,
        "found": [c >= FOUND_FRACTION for c in coverage],
        "components": count,
        "false": len(false_labels),
        "false_px": int(np.isin(labels, false_labels).sum()) if len(false_labels) else 0,
        "false_labels": false_labels,
        "labels": labels,
        "iou": inter / total if total else 1.0,
        "mark_ratio": np.count_nonzero(mask) / max(np.count_nonzero(union), 1),
    }


def evaluate(spec: Spec, params: dict, dump: str | None, dump_methods: tuple) -> list[dict]:
    with warnings.catch_warnings():
        # lab2rgb clips out-of-gamut colours of the recolour edits, and says so.
        warnings.filterwarnings("ignore", "Conversion from CIE-LAB", UserWarning)
        pair = make_pair(photo(spec.photo), spec.kinds, seed=spec.seed, nuisances=spec.nuisances)
    shape = pair.a.shape[:2]
    rows = []
    for method in METHODS:
        t0 = time.perf_counter()
        raw = run_method(method, pair.a, pair.b, params if method == "ours" else {})
        elapsed = time.perf_counter() - t0
        mask = _in_frame(raw, shape)
        s = score(mask, pair.truth)
        if dump and method in dump_methods and (s["false"] or not all(s["found"])):
            _dump(Path(dump), spec, method, pair, mask, s)
        rows.append(
            {
                "split": spec.split,
                "track": spec.track,
                "pair": spec.name,
                "photo": spec.photo,
                "method": method,
                "ms": 1e3 * elapsed,
                "edits": len(pair.truth),
                "kinds": list(pair.kinds),
                "coverage": s["coverage"],
                "found": s["found"],
                "components": s["components"],
                "false": s["false"],
                "false_px": s["false_px"],
                "iou": s["iou"],
                "mark_ratio": s["mark_ratio"],
                "dropped": len(spec.kinds) - len(pair.kinds),
                "touching_edits": _touching_edits(pair.truth),
            }
        )
    return rows


def _touching_edits(truth: list[np.ndarray]) -> int:
    """Edits whose truth lies within TOUCH_RADIUS of another edit's (placement collisions)."""
    near = [ndi.binary_dilation(t, structure=disk(TOUCH_RADIUS)) for t in truth]
    return sum(
        any(near[i][truth[j]].any() for j in range(len(truth)) if j != i)
        for i in range(len(truth))
    )


# --- failure overlays ------------------------------------------------------------------


def _box(image: np.ndarray, sl: tuple[slice, slice], color, pad: int = 3) -> None:
    h, w = image.shape[:2]
    r0, r1 = max(sl[0].start - pad, 0), min(sl[0].stop + pad, h) - 1
    c0, c1 = max(sl[1].start - pad, 0), min(sl[1].stop + pad, w) - 1
    for r in (r0, r1):
        image[r, c0 : c1 + 1] = color
    for c in (c0, c1):
        image[r0 : r1 + 1, c] = color


def _dump(directory: Path, spec: Spec, method: str, pair, mask: np.ndarray, s: dict) -> None:
    """A | B | A with the mask (magenta), truth outlines (green), misses and false marks boxed.

    Missed edits are boxed red, false regions yellow.
    """
    directory.mkdir(parents=True, exist_ok=True)
    a = pair.a
    b = np.full_like(a, 255)
    h, w = min(a.shape[0], pair.b.shape[0]), min(a.shape[1], pair.b.shape[1])
    b[:h, :w] = pair.b[:h, :w]
    over = a.astype(np.float32)
    over[mask] = 0.5 * over[mask] + 0.5 * np.array([255, 0, 255])
    over = over.astype(np.uint8)
    for t in pair.truth:
        over[find_boundaries(t, mode="outer")] = (0, 255, 0)
    for t, found in zip(pair.truth, s["found"], strict=True):
        if not found:
            _box(over, ndi.find_objects(t.astype(np.uint8))[0], (255, 0, 0))
    objects = ndi.find_objects(s["labels"])
    for label in s["false_labels"]:
        _box(over, objects[label - 1], (255, 255, 0))
    gap = np.full((a.shape[0], 4, 3), 255, np.uint8)
    Image.fromarray(np.hstack([a, gap, b, gap, over])).save(
        directory / f"{spec.name}-{method}.png"
    )


# --- peers ---------------------------------------------------------------------------

# Documented bounds as (x0, y0, x1, y1) boxes, inclusive, from shared/peers/README.md.
PEER_PAIRS = (
    ("odiff orange", "odiff/png/orange.png", "odiff/png/orange_changed.png",
     ((150, 30, 310, 105), (20, 175, 105, 200))),
    ("odiff tiger", "odiff/jpg/tiger.jpg", "odiff/jpg/tiger-2.jpg", None),
    ("resemble People", "resemblejs/demoassets/People.jpg",
     "resemblejs/demoassets/People2.jpg", ((22, 58, 450, 431),)),
    ("resemble ghost", "resemblejs/demoassets/ghost1.png",
     "resemblejs/demoassets/ghost2.png", ((90, 107, 157, 138),)),
)  # fmt: skip


def peer_rows(params: dict) -> list[dict]:
    rows = []
    for name, path_a, path_b, boxes in PEER_PAIRS:
        pa, pb = PEERS / path_a, PEERS / path_b
        if not (pa.exists() and pb.exists()):
            continue
        with Image.open(pa) as image:
            shape = image.size[::-1]
        for method in METHODS:
            # Every method from the files, decoding included, each as its user
            # would read them: ours from the paths (alpha composited over white),
            # the recipes as cv2.imread(path) does (alpha dropped, as
            # convert("RGB") drops it).
            t0 = time.perf_counter()
            if method == "ours":
                raw = compare(pa, pb, **params).mask
            else:
                a = np.asarray(Image.open(pa).convert("RGB"))
                b = np.asarray(Image.open(pb).convert("RGB"))
                raw = run_method(method, a, b, {})
            elapsed = time.perf_counter() - t0
            mask = _in_frame(raw, shape)
            _, count = ndi.label(mask, structure=_EIGHT)
            marked = int(np.count_nonzero(mask))
            row = {"pair": name, "method": method, "regions": count, "marked": marked,
                   "ms": 1e3 * elapsed, "inside": None, "bbox": None}  # fmt: skip
            if boxes is not None:
                allowed = np.zeros(mask.shape, bool)
                for x0, y0, x1, y1 in boxes:
                    allowed[y0 : y1 + 1, x0 : x1 + 1] = True
                row["inside"] = np.count_nonzero(mask & allowed) / marked if marked else None
            if marked:
                rr, cc = np.nonzero(mask)
                row["bbox"] = (int(cc.min()), int(rr.min()), int(cc.max()), int(rr.max()))
            rows.append(row)
    return rows


# --- tables --------------------------------------------------------------------------


def _print_head(head: str) -> None:
    """A markdown table's header row and the rule under it."""
    print(head)
    print("|" + "|".join("-" * len(c) for c in head.split("|")[1:-1]) + "|")


def _mean(values) -> float:
    values = list(values)
    return float(np.mean(values)) if values else float("nan")


def print_tables(split: str, rows: list[dict]) -> None:
    pairs = len({r["pair"] for r in rows})
    edits = sum(r["edits"] for r in rows if r["method"] == METHODS[0])
    touching = sum(r["touching_edits"] for r in rows if r["method"] == METHODS[0])
    dropped = sum(r["dropped"] for r in rows if r["method"] == METHODS[0])
    print(f"\n## split: {split}  ({pairs} pairs, {edits} edits; photos: "
          f"{', '.join(SPLIT_PHOTOS[split])})")  # fmt: skip
    print(f"   {touching} edits lie within {TOUCH_RADIUS} px of another edit; "
          f"{dropped} planned edits were invisible (< 4 px) and dropped")  # fmt: skip
    head = (f"| {'track':<9} | {'method':<9} | {'recall':>6} | {'found':>7} | "
            f"{'false/pair':>10} | {'false px':>8} | {'IoU':>5} | {'mark/truth':>10} | "
            f"{'ms/pair':>7} |")  # fmt: skip
    print()
    _print_head(head)
    by = defaultdict(list)
    for r in rows:
        by[r["track"], r["method"]].append(r)
    for track in TRACKS:
        for method in METHODS:
            group = by.get((track, method))
            if not group:
                continue
            found = [f for r in group for f in r["found"]]
            print(
                f"| {track:<9} | {method:<9} | {_mean(found):6.3f} | "
                f"{sum(found):>3}/{len(found):<3} | {_mean(r['false'] for r in group):10.2f} | "
                f"{_mean(r['false_px'] for r in group):8.0f} | "
                f"{_mean(r['iou'] for r in group):5.3f} | "
                f"{_mean(r['mark_ratio'] for r in group):10.2f} | "
                f"{_mean(r['ms'] for r in group):7.1f} |"
            )
    # Recall per kind.
    print(f"\nrecall per edit kind ({split}; found/total over the split's tracks in the "
          "'all' rows)\n")  # fmt: skip
    head = f"| {'track':<9} | {'method':<9} | " + " | ".join(f"{k:>7}" for k in EDIT_KINDS) + " |"
    _print_head(head)
    for track in (*TRACKS, "all"):
        for method in METHODS:
            group = [r for r in rows if r["method"] == method and track in ("all", r["track"])]
            if not group:
                continue
            per = defaultdict(list)
            for r in group:
                for kind, f in zip(r["kinds"], r["found"], strict=True):
                    per[kind].append(f)
            cells = []
            for k in EDIT_KINDS:
                if track == "all":
                    cells.append(f"{sum(per[k]):>3}/{len(per[k]):<3}")
                else:
                    cells.append(f"{_mean(per[k]):7.2f}" if per[k] else f"{'-':>7}")
            print(f"| {track:<9} | {method:<9} | " + " | ".join(cells) + " |")


def print_photos(split: str, rows: list[dict]) -> None:
    """Ours per photo, all tracks pooled: which content the defaults struggle with."""
    print(f"\nours per photo ({split}, all tracks)\n")
    head = (f"| {'photo':<20} | {'pairs':>5} | {'recall':>6} | {'false/pair':>10} | "
            f"{'false px':>8} | {'IoU':>5} |")  # fmt: skip
    _print_head(head)
    for name in SPLIT_PHOTOS[split]:
        group = [r for r in rows if r["method"] == "ours" and r["photo"] == name]
        if not group:
            continue
        found = [f for r in group for f in r["found"]]
        print(
            f"| {name:<20} | {len(group):>5} | {_mean(found):6.3f} | "
            f"{_mean(r['false'] for r in group):10.2f} | "
            f"{_mean(r['false_px'] for r in group):8.0f} | {_mean(r['iou'] for r in group):5.3f} |"
        )


def print_peers(rows: list[dict]) -> None:
    if not rows:
        print(f"\n(peer pairs skipped: {PEERS} not found)")
        return
    print("\n## real pairs from ../shared/peers (inside = marked pixels within the "
          "documented bounds)\n")  # fmt: skip
    head = (f"| {'pair':<15} | {'method':<9} | {'regions':>7} | {'marked px':>9} | "
            f"{'inside':>6} | {'bbox of marks (x0,y0,x1,y1)':<27} | {'ms':>6} |")  # fmt: skip
    _print_head(head)
    for r in rows:
        inside = "-" if r["inside"] is None else f"{r['inside']:.3f}"
        bbox = "-" if r["bbox"] is None else str(r["bbox"])
        print(
            f"| {r['pair']:<15} | {r['method']:<9} | {r['regions']:>7} | {r['marked']:>9} | "
            f"{inside:>6} | {bbox:<27} | {r['ms']:6.1f} |"
        )


# --- command line --------------------------------------------------------------------


def parse_params(items: list[str]) -> dict:
    """``key=value`` strings to compare() keywords (values parsed as Python literals)."""
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"--params expects key=value, got {item!r}")
        try:
            out[key] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            out[key] = value
    try:
        DiffParams().replace(**out)  # fail early on a bad name or value
    except (TypeError, ValueError) as error:
        raise SystemExit(f"--params: {error}") from None
    return out


def _evaluate_all(specs, params, dump, dump_methods, jobs) -> list[dict]:
    rows: list[dict] = []
    if jobs <= 1:
        for spec in specs:
            rows.extend(evaluate(spec, params, dump, dump_methods))
        return rows
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        futures = [pool.submit(evaluate, s, params, dump, dump_methods) for s in specs]
        for future in futures:
            rows.extend(future.result())
    return rows


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--split", choices=("tune", "heldout", "all"), default="tune")
    parser.add_argument("--pairs", type=int, default=12, help="pairs per track and split")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tracks", nargs="+", choices=TRACKS, default=list(TRACKS))
    parser.add_argument(
        "--jobs", type=int, default=1, help="worker processes (timings get noisier)"
    )
    parser.add_argument("--params", nargs="*", default=[], metavar="KEY=VALUE",
                        help="non-default compare() parameters for 'ours'")  # fmt: skip
    parser.add_argument("--dump", metavar="DIR", help="save overlays of pairs with failures")
    parser.add_argument("--dump-methods", nargs="+", choices=METHODS, default=["ours"])
    parser.add_argument("--csv", metavar="FILE", help="write one row per pair and method")
    parser.add_argument("--no-peers", action="store_true")
    args = parser.parse_args(argv)
    params = parse_params(args.params)

    splits = ("tune", "heldout") if args.split == "all" else (args.split,)
    print(f"# detection quality: {args.pairs} pairs per track and split, seed {args.seed}, "
          f"ours with {params or 'the defaults'}")  # fmt: skip
    print(f"# found: >= {FOUND_FRACTION:.0%} of an edit's truth marked; false region: a "
          f"marked component farther than {TOUCH_RADIUS} px from every edit")  # fmt: skip
    all_rows = []
    for split in splits:
        specs = [s for t in args.tracks for s in make_specs(split, t, args.pairs, args.seed)]
        t0 = time.perf_counter()
        rows = _evaluate_all(specs, params, args.dump, tuple(args.dump_methods), args.jobs)
        print_tables(split, rows)
        print_photos(split, rows)
        print(f"\n({time.perf_counter() - t0:.0f} s for the {split} split, {args.jobs} job(s))")
        all_rows.extend(rows)
    if not args.no_peers:
        print_peers(peer_rows(params))
    if args.csv:
        import pandas as pd

        pd.DataFrame(all_rows).to_csv(args.csv, index=False)
    return all_rows


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    main()
