"""The ``imgdiff-widget`` command.

``imgdiff-widget A B -o DIR`` compares two images and writes overlay_a.png,
overlay_b.png, mask.png and regions.json; ``imgdiff-widget demo -o DIR`` does
the same on the bundled sample pair. Expected failures print one line on
stderr (after argparse's usage line, for a bad option) and exit with status 2.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import warnings
from collections.abc import Sequence
from dataclasses import fields
from importlib import resources
from pathlib import Path

from ._errors import ImageDiffError
from ._io import DEFAULT_MAX_PIXELS, load_mask
from ._mask import ignore_mask
from ._params import DiffParams
from ._pipeline import compare

__all__ = ["main"]

PROG = "imgdiff-widget"
# An ignore mask painting more than this share of the picture is probably inverted.
_MASK_MOSTLY = 0.9
EXIT_ERROR = 2
_HELP = {
    "metric": "how pixels are scored: combined = SSIM structure + CIEDE2000 colour",
    "threshold": "score above which a pixel differs, in (0, 1], or 'auto' (above the noise floor)",
    "min_area": "smallest region kept, in pixels, or 'auto' (scales with the image)",
    "align": "registration of B onto A",
    "size_mismatch": "what to do when the sizes differ",
    "win_size": "SSIM window side (odd)",
    "smoothing": "Gaussian sigma in pixels before scoring (suppresses JPEG noise)",
    "morphology": "radius of the speckle-removing opening/closing, in pixels",
    "fill_holes": "fill holes inside regions",
    "padding": "grow each mark by this many pixels",
    "ignore_antialiasing": (
        "never mark anti-aliased pixels: true (pixelmatch's detector and the aliased-vs-smoothed "
        "edge test), false, or auto (pixelmatch's detector alone for pixel, false otherwise)"
    ),
    "ignore": "a rectangle never marked, ROW0,COL0,ROW1,COL1 (repeatable)",
    "ignore_mask": (
        "an image of A's size whose painted pixels (neither black nor transparent) are never "
        "marked; combines with --ignore"
    ),
    "color": "colour of the marks (any matplotlib colour: red, '#00ff00', C1)",
    "alpha": "opacity of the fill, 0 to 1",
    "style": "fill, outline, boxes, heatmap, or a combination like fill+boxes",
}


def _auto_or(kind):
    what = {int: "a whole number", float: "a number"}.get(kind, "true or false")

    def parse(text: str):
        if text == "auto":
            return "auto"
        try:
            return kind(text)
        except (ValueError, argparse.ArgumentTypeError):
            raise argparse.ArgumentTypeError(f"expected 'auto' or {what}, got {text!r}") from None

    return parse


def _rectangle(text: str) -> tuple[int, int, int, int]:
    try:
        values = tuple(int(v) for v in text.split(","))
    except ValueError:
        values = ()
    if len(values) != 4:
        raise argparse.ArgumentTypeError(
            f"expected ROW0,COL0,ROW1,COL1 (4 integers), got {text!r}"
        )
    return values  # type: ignore[return-value]


def param_values(args: argparse.Namespace) -> dict:
    """DiffParams' values from the parsed options.

    The ``--ignore-mask`` file is read (painted pixels ignored) and joined to
    the ``--ignore`` rectangles. Raises ImageDiffError when it cannot be read.
    """
    values = {f.name: getattr(args, f.name) for f in fields(DiffParams)}
    if args.ignore_mask is not None:
        mask = load_mask(
            args.ignore_mask, name=f"ignore mask {args.ignore_mask}", max_pixels=args.max_pixels
        )
        if args.ignore:
            mask |= ignore_mask(args.ignore, mask.shape)
        if mask.mean() > _MASK_MOSTLY:
            warnings.warn(
                f"the ignore mask {args.ignore_mask} paints {100 * mask.mean():.0f} % of the "
                "picture, so little is compared; painted pixels (neither black nor "
                "transparent) are the ones ignored. Is the mask inverted?",
                stacklevel=2,
            )
        values["ignore"] = mask
    return values


def _bool(text: str) -> bool:
    lowered = text.lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def _add_param_options(parser: argparse.ArgumentParser) -> None:
    from ._align import ALIGN_METHODS, SIZE_POLICIES
    from ._metrics import METRICS

    choices = {
        "metric": tuple(METRICS),
        "align": ALIGN_METHODS,
        "size_mismatch": SIZE_POLICIES,
    }
    types = {
        "threshold": _auto_or(float),
        "min_area": _auto_or(int),
        "win_size": int,
        "smoothing": float,
        "morphology": int,
        "padding": int,
        "alpha": float,
        "fill_holes": _bool,
        "ignore_antialiasing": _auto_or(_bool),
    }
    group = parser.add_argument_group("comparison parameters (see DiffParams)")
    for f in fields(DiffParams):
        option = "--" + f.name.replace("_", "-")
        if f.name == "ignore":
            group.add_argument(
                option,
                type=_rectangle,
                action="append",
                metavar="R0,C0,R1,C1",
                help=_HELP[f.name] + " (default: none)",
            )
            group.add_argument("--ignore-mask", metavar="FILE", help=_HELP["ignore_mask"])
            continue
        group.add_argument(
            option,
            type=types.get(f.name, str),
            choices=choices.get(f.name),
            default=f.default,
            help=_HELP[f.name] + " (default: %(default)s)",
        )


def _build_parser(demo: bool) -> argparse.ArgumentParser:
    if demo:
        parser = argparse.ArgumentParser(
            prog=f"{PROG} demo",
            description="Compare the bundled sample pair (coffee photo with six edits, JPEG).",
        )
    else:
        parser = argparse.ArgumentParser(
            prog=PROG,
            description=(
                "Mark where two images of the same scene differ. Writes overlay_a.png, "
                "overlay_b.png (both images with the differences highlighted), mask.png "
                "(the differences only) and regions.json into the output directory. "
                f"Also: '{PROG} demo -o DIR' runs on the bundled sample pair, and "
                f"'{PROG} batch LEFT_DIR RIGHT_DIR -o DIR' compares whole folders (see "
                f"'{PROG} batch --help')."
            ),
        )
        parser.add_argument("image_a", help="first image (the reference)")
        parser.add_argument("image_b", help="second image, registered onto the first")
    parser.add_argument(
        "-o", "--output", required=True, help="output directory (created if missing)"
    )
    _add_max_pixels(parser)
    _add_param_options(parser)
    return parser


def _add_max_pixels(parser: argparse.ArgumentParser) -> None:
    """The ``--max-pixels`` option (``args.max_pixels``), for every command that reads images."""
    parser.add_argument(
        "--max-pixels",
        type=_positive_int,
        default=DEFAULT_MAX_PIXELS,
        metavar="N",
        help="refuse larger images, a guard against decompression bombs (default: %(default)s)",
    )


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return value


def sample_paths() -> tuple[Path, Path]:
    """Paths of the bundled sample pair."""
    data = resources.files("imgdiff_widget") / "data"
    return Path(str(data / "coffee_a.jpg")), Path(str(data / "coffee_b.jpg"))


@contextlib.contextmanager
def one_line_warnings(prog: str):
    """Print each warning raised meanwhile as one line, ``PROG: warning: message``.

    A library's warning (Pillow's about a file's corrupt EXIF, say) would
    otherwise print its source file and line beside the command's own
    one-line messages. Which warnings are shown, and how often, is Python's
    usual filtering.
    """

    def show(message, category, filename, lineno, file=None, line=None):
        text = " ".join(str(message).split())
        print(f"{prog}: warning: {text}", file=sys.stderr if file is None else file)

    with warnings.catch_warnings():
        warnings.showwarning = show
        yield


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list and args_list[0] == "batch":
        from ._batch import PROG as BATCH_PROG
        from ._batch import main as batch_main

        with one_line_warnings(BATCH_PROG):
            return batch_main(args_list[1:])
    with one_line_warnings(PROG):
        return _compare_command(args_list)


def _compare_command(args_list: list[str]) -> int:
    """The comparison (or the demo): compare, save, report."""
    demo = bool(args_list) and args_list[0] == "demo"
    parser = _build_parser(demo)
    args = parser.parse_args(args_list[1:] if demo else args_list)
    image_a, image_b = sample_paths() if demo else (args.image_a, args.image_b)
    try:
        values = param_values(args)
        result = compare(image_a, image_b, max_pixels=args.max_pixels, **values)
        written = result.save(args.output, protect=[args.ignore_mask] if args.ignore_mask else [])
    except ImageDiffError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except MemoryError:
        print(
            f"{PROG}: error: not enough memory to compare these images; downscale them "
            "or free memory.",
            file=sys.stderr,
        )
        return EXIT_ERROR
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    shift = result.shift
    moved = {
        "translation": "B shifted by",
        "affine": "B turned and zoomed, moved at the centre by",
        "homography": "B warped, moved at the centre by",
    }.get(result.alignment)
    print(
        f"{len(result.regions)} region(s) differ ({result.n_diff_pixels} px, "
        f"{100 * result.diff_fraction:.2f} %); threshold {result.threshold:.3f}"
        + (f"; {moved} ({shift[0]:+.1f}, {shift[1]:+.1f}) px" if moved else "")
    )
    for path in written.values():
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
