"""SSIM map (``ssim_map``): scikit-image's ``structural_similarity`` numbers, fast.

The kernel is a float32 re-implementation of
:func:`skimage.metrics.structural_similarity` (``full=True``) that works in
horizontal strips small enough to stay in cache and runs them on a thread pool.

How it matches scikit-image
---------------------------
scikit-image filters the whole image with a separable filter (first along
axis 0, then along the remaining axes) and stores every intermediate in the
working float type; the SSIM algebra then cancels large terms
(``E[x²] - E[x]²``), so one float32 ulp in a filtered moment can move the SSIM
of a flat bright region by ~1e-4. The kernel therefore reproduces the same
intermediate roundings, not just the same mathematics:

* the products ``x*x``, ``y*y``, ``x*y`` are rounded to float32 before
  filtering;
* along axis 0 each strip carries ``radius`` halo rows on each side, taken
  from the full image (mirrored with scipy's ``'reflect'`` rule at the top and
  bottom), so every filtered row sees exactly the whole-image neighbourhood;
* each pass sums the float64 products of the taps with float32 values and
  rounds once to float32, as scipy's C filters do. It is done as banded
  matrix products in BLAS: blocks of ``_ROW_BLOCK`` output rows (axis 0) or
  ``_COL_BLOCK`` output columns (axis 1 of a 2-D image, with the 'reflect'
  halo written around a float64 copy of the rows) times a small matrix
  holding the taps on its band. Only the order of the float64 additions
  differs from scipy. The box filter is summed with unit taps (exact for
  float32 data) and scaled by the reciprocal of its size, which reproduces
  scipy's division even where the mean falls exactly halfway between two
  float32 values (summing ``x / size`` term by term does not, in ~0.1 % of
  pixels);
* the axes past 1 of n-D and multichannel images are filtered with the very
  scipy calls scikit-image makes (``uniform_filter1d`` / ``gaussian_filter1d``
  with ``truncate=3.5``, ``mode='reflect'``), and so is every axis past 0 of
  a strip holding a non-finite value (where the band's zeros would turn into
  NaN), whose axis 0 is then summed tap by tap with numpy on whole rows;
* the element-wise algebra is evaluated in float32 in scikit-image's
  order, in place in per-strip buffers.

The mean is accumulated per strip in float64 over the interior (the border of
``(win_size - 1) // 2`` pixels is excluded, per channel image, as in
scikit-image).
"""

from __future__ import annotations

import math
import operator
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from numpy.lib.stride_tricks import as_strided
from scipy.ndimage import gaussian_filter1d, uniform_filter1d

from ._errors import ImageShapeError, ParameterError, SizeMismatchError
from ._parallel import cpu_count

__all__ = ["ssim_map"]

#: Target size in bytes of one float32 per-strip buffer (the strip height is
#: derived from it). About a dozen such buffers are live per worker.
_STRIP_BYTES = 512 * 1024
#: Lower bound of the strip height in rows (keeps the halo overhead small).
_MIN_STRIP_ROWS = 16
#: Upper bound on worker threads (each holds its own strip buffers).
_MAX_WORKERS = 8
#: Below this many pixels per call, do not bother starting threads.
_MIN_PARALLEL_PIXELS = 1 << 18

#: scikit-image's choice: an 11-tap filter for the default sigma of 1.5.
_TRUNCATE = 3.5

#: Output rows (axis 0) and columns (axis 1) per block of the matrix products
#: that apply the filter (see ``_Plan``): small blocks waste few multiplications
#: by the band's zeros; these were fastest for 7- to 11-tap filters.
_ROW_BLOCK = 4
_COL_BLOCK = 8


def _band_matrix(taps: np.ndarray, block: int) -> np.ndarray:
    """The ``(block, block + len(taps) - 1)`` matrix that correlates with `taps`.

    Row ``i`` holds the taps at columns ``i .. i + len(taps) - 1``, so
    ``M @ x`` filters ``block + len(taps) - 1`` halo'd input rows into
    ``block`` output rows.
    """
    m = np.zeros((block, block + len(taps) - 1))
    for i in range(block):
        m[i, i : i + len(taps)] = taps
    return m


def _blocks(array: np.ndarray, block: int, halo: int, *, axis: int) -> np.ndarray:
    """Overlapping windows of ``block + halo`` along `axis` of a 2-D array, every `block`.

    The windows are stacked on a new first axis: ``(n, block + halo, cols)``
    for ``axis=0`` and ``(n, rows, block + halo)`` for ``axis=1``. A view,
    read-only where the windows overlap.
    """
    n = (array.shape[axis] - halo) // block
    shape = [*array.shape]
    shape[axis] = block + halo
    step = block * array.strides[axis]
    return as_strided(
        array, shape=(n, *shape), strides=(step, *array.strides), writeable=halo == 0
    )


def _moderate(values: np.ndarray) -> bool:
    """Whether every value is finite and its square is too (one BLAS pass).

    The band matrices multiply the zeros of the band with every input value;
    ``0 * inf`` is NaN, so a strip holding non-finite values (or values whose
    float32 square overflows) takes the tap-by-tap path, which keeps a NaN
    inside its own window as scipy does.
    """
    flat = values.reshape(-1)
    return bool(np.isfinite(np.dot(flat, flat)))


def _reflect_indices(start: int, stop: int, n: int) -> np.ndarray:
    """Indices ``start..stop-1`` folded into ``0..n-1`` with scipy's 'reflect'.

    scipy's ``'reflect'`` (half-sample symmetric, ``d c b a | a b c d``) is
    periodic with period ``2 n``, which also covers halos longer than the
    image.
    """
    idx = np.arange(start, stop) % (2 * n)
    return np.where(idx >= n, 2 * n - 1 - idx, idx)


class _Plan:
    """Everything one strip needs: filter definition, constants, geometry."""

    def __init__(
        self,
        a: np.ndarray,
        b: np.ndarray,
        out: np.ndarray,
        *,
        gaussian: bool,
        sigma: float,
        win_size: int,
        cov_norm: float,
        c1: float,
        c2: float,
        pad: int,
        n_spatial: int,
        strip_rows: int,
    ) -> None:
        self.a = a  # channel axis (if any) moved last; a view
        self.b = b
        self.out = out  # float32 view with the same layout as a
        self.gaussian = gaussian
        self.sigma = sigma
        self.win_size = win_size
        self.cov_norm = cov_norm
        self.c1 = c1
        self.c2 = c2
        self.pad = pad
        self.n_spatial = n_spatial
        self.strip_rows = strip_rows
        self.height = a.shape[0]
        self.rest = a.shape[1:]
        self.multichannel = a.ndim > n_spatial

        if gaussian:
            if sigma > 1e-15:  # scipy's gaussian_filter skips smaller sigmas
                self.radius = int(_TRUNCATE * sigma + 0.5)
                # The exact float64 taps scipy uses: filter a unit impulse.
                impulse = np.zeros(2 * self.radius + 1)
                impulse[self.radius] = 1.0
                self.weights = gaussian_filter1d(
                    impulse, sigma, truncate=_TRUNCATE, mode="constant"
                )
                self.identity = False
            else:
                self.radius, self.weights, self.identity = 0, None, True
        else:
            self.radius = win_size // 2
            self.weights = None
            self.identity = win_size == 1  # scipy skips size-1 axes
        self.box_levels = [1]
        while not gaussian and 2 * self.box_levels[-1] <= win_size:
            self.box_levels.append(2 * self.box_levels[-1])
        # The fast path applies the float64 taps as banded matrix products
        # (BLAS) on blocks of rows, and of columns when the image is 2-D grey.
        self.row_matrix = self.col_matrix = None
        if not self.identity:
            # The box is summed with unit taps, then scaled once (see _round).
            taps = self.weights if gaussian else np.ones(win_size)
            self.row_matrix = _band_matrix(taps, _ROW_BLOCK)
            if n_spatial == 2 and not self.multichannel:
                self.col_matrix = np.ascontiguousarray(_band_matrix(taps, _COL_BLOCK).T)
                width, r = self.rest[0], self.radius
                self.col_blocks = -(-width // _COL_BLOCK)
                self.left = _reflect_indices(-r, 0, width)
                self.right = _reflect_indices(width, width + r, width)

        # Interior (used for the mean): spatial axes cropped by pad.
        self.interior = tuple(slice(pad, n - pad) for n in a.shape[1:n_spatial])

    # -- buffers -----------------------------------------------------------

    def buffers(self) -> dict[str, np.ndarray]:
        h, r, rest = self.strip_rows, self.radius, self.rest
        n = h + 2 * r
        f32 = np.float32
        # Whole blocks of rows for the matrix products; zeros, so that the
        # rows past a short last strip are finite.
        blocked = -(-h // _ROW_BLOCK) * _ROW_BLOCK
        bufs = {
            "x": np.empty((n, *rest), f32),
            "y": np.empty((n, *rest), f32),
            "p": np.empty((n, *rest), f32),
            "x64": np.zeros((blocked + 2 * r, *rest), np.float64),
            "acc": np.empty((blocked, *rest), np.float64),
        }
        if self.row_matrix is not None:
            # The overlapping blocks of rows the matrix products read and
            # write, made once (as_strided is slow next to a small product).
            flat = bufs["x64"].reshape(blocked + 2 * r, -1)
            bufs["row_windows"] = _blocks(flat, _ROW_BLOCK, 2 * r, axis=0)
            bufs["row_out"] = bufs["acc"].reshape(blocked // _ROW_BLOCK, _ROW_BLOCK, -1)
        if self.col_matrix is not None:
            cols = self.col_blocks * _COL_BLOCK
            bufs["ext"] = np.zeros((h, cols + 2 * r))
            bufs["cols"] = np.empty((h, cols))
            bufs["col_windows"] = _blocks(bufs["ext"], _COL_BLOCK, 2 * r, axis=1)
            bufs["col_out"] = _blocks(bufs["cols"], _COL_BLOCK, 0, axis=1)
        for name in ("ux", "uy", "uxx", "uyy", "uxy", "t1", "t2"):
            bufs[name] = np.empty((h, *rest), f32)
        return bufs

    def _tap_buffers(self, bufs) -> None:
        """Add the tap-by-tap path's buffers to `bufs` (only strips that need it)."""
        h, rest = self.strip_rows, self.rest
        n = h + 2 * self.radius
        bufs["tmp"] = np.empty((h, *rest), np.float64)
        # Box sums of 2, 4, 8, ... rows (uniform window, see _filter).
        for level in self.box_levels[1:]:
            bufs[f"s{level}"] = np.empty((n - level + 1, *rest), np.float64)

    # -- filtering ---------------------------------------------------------

    def _filter_by_blocks(self, src: np.ndarray, h: int, dst: np.ndarray, bufs) -> None:
        """`_filter` by banded matrix products; `src` holds moderate values only.

        Each output is the float64 sum of the same float64 products as in
        scipy, rounded once to float32, so only the order of the additions
        differs (a float32 result differs only where the float64 sum falls
        within ~1e-16 of a rounding boundary).
        """
        r, n = self.radius, h + 2 * self.radius
        blocks = -(-h // _ROW_BLOCK)
        x64 = bufs["x64"]
        np.copyto(x64[:n], src)
        x64[n:] = 0.0  # rows past a short strip: stale values could be NaN
        np.matmul(self.row_matrix, bufs["row_windows"][:blocks], out=bufs["row_out"][:blocks])
        self._round(bufs["acc"][:h], dst)
        if self.col_matrix is None:
            self._filter_other_axes(dst)
            return
        # Axis 1 of a 2-D image: the same on blocks of columns, with the
        # 'reflect' halo written around a float64 copy of the rows.
        width = self.rest[0]
        ext, cols = bufs["ext"][:h], bufs["cols"][:h]
        np.copyto(ext[:, r : r + width], dst)
        ext[:, :r] = dst[:, self.left]
        ext[:, r + width : 2 * r + width] = dst[:, self.right]
        np.matmul(bufs["col_windows"][:, :h], self.col_matrix, out=bufs["col_out"][:, :h])
        self._round(cols[:, :width], dst)

    def _round(self, sums: np.ndarray, dst: np.ndarray) -> None:
        """Store filtered float64 `sums` as float32 (box sums as means).

        A box sum is scaled by the float64 reciprocal of the size: within one
        float64 rounding of scipy's division, and much cheaper.
        """
        if not self.gaussian:
            np.multiply(sums, 1.0 / self.win_size, out=sums)  # scratch
        np.copyto(dst, sums, casting="same_kind")

    def _filter_other_axes(self, dst: np.ndarray) -> None:
        """Filter `dst` along axes 1.. with the scipy calls scikit-image makes."""
        for axis in range(1, self.n_spatial):
            if self.gaussian:
                gaussian_filter1d(
                    dst,
                    self.sigma,
                    axis=axis,
                    output=dst,
                    mode="reflect",
                    truncate=_TRUNCATE,
                )
            else:
                uniform_filter1d(dst, self.win_size, axis=axis, output=dst, mode="reflect")

    def _filter(self, src: np.ndarray, h: int, dst: np.ndarray, bufs, fast: bool) -> None:
        """Filter the halo'd strip ``src`` (h + 2 r rows) into ``dst`` (h rows)."""
        r = self.radius
        if self.identity:
            np.copyto(dst, src[r : r + h])
            return
        if fast:
            self._filter_by_blocks(src, h, dst, bufs)
            return
        if "tmp" not in bufs:
            self._tap_buffers(bufs)
        n = h + 2 * r
        acc = bufs["acc"][:h]
        # Axis 0: exact float64 taps on a float64 copy (one conversion pass,
        # then same-dtype passes), rounded once to float32 like scipy does.
        x64 = bufs["x64"][:n]
        np.copyto(x64, src)
        if self.gaussian:
            w = self.weights
            tmp = bufs["tmp"][:h]
            np.multiply(x64[r : r + h], w[r], out=acc)
            for j in range(1, r + 1):
                np.add(x64[r + j : r + j + h], x64[r - j : r - j + h], out=tmp)
                np.multiply(tmp, w[r + j], out=tmp)
                np.add(acc, tmp, out=acc)
            np.copyto(dst, acc, casting="same_kind")
        else:
            # Window sum from power-of-two partial sums: s[L][i] is the sum of
            # rows i .. i+L-1; win = sum of its binary digits (7 = 4 + 2 + 1).
            sums = {1: x64}
            for level in self.box_levels[1:]:
                prev = level // 2
                cur = bufs[f"s{level}"][: n - level + 1]
                np.add(sums[prev][:-prev], sums[prev][prev:], out=cur)
                sums[level] = cur
            offset = 0
            terms = []
            for level in reversed(self.box_levels):
                if self.win_size & level:
                    terms.append(sums[level][offset : offset + h])
                    offset += level
            np.add(terms[0], terms[1], out=acc)
            for term in terms[2:]:
                np.add(acc, term, out=acc)
            np.divide(acc, self.win_size, out=dst, casting="same_kind")
        self._filter_other_axes(dst)

    # -- one strip ---------------------------------------------------------

    def strip(self, s0: int, s1: int, bufs) -> np.ndarray:
        """Compute rows ``s0:s1`` of the map; return the interior sum(s)."""
        h, r, height = s1 - s0, self.radius, self.height
        n = h + 2 * r
        x, y, p = bufs["x"][:n], bufs["y"][:n], bufs["p"][:n]
        lo, hi = s0 - r, s1 + r
        if lo >= 0 and hi <= height:
            np.copyto(x, self.a[lo:hi], casting="unsafe")
            np.copyto(y, self.b[lo:hi], casting="unsafe")
        else:
            rows = _reflect_indices(lo, hi, height)
            np.copyto(x, self.a[rows], casting="unsafe")
            np.copyto(y, self.b[rows], casting="unsafe")

        ux, uy = bufs["ux"][:h], bufs["uy"][:h]
        uxx, uyy, uxy = bufs["uxx"][:h], bufs["uyy"][:h], bufs["uxy"][:h]
        t1, t2 = bufs["t1"][:h], bufs["t2"][:h]
        fast = _moderate(x) and _moderate(y)
        self._filter(x, h, ux, bufs, fast)
        self._filter(y, h, uy, bufs, fast)
        np.multiply(x, x, out=p)
        self._filter(p, h, uxx, bufs, fast)
        np.multiply(y, y, out=p)
        self._filter(p, h, uyy, bufs, fast)
        np.multiply(x, y, out=p)
        self._filter(p, h, uxy, bufs, fast)

        # scikit-image, in float32 and in this order:
        #   vx = cov_norm * (uxx - ux * ux)     (likewise vy, vxy)
        #   A1 = 2 * ux * uy + C1      A2 = 2 * vxy + C2
        #   B1 = ux**2 + uy**2 + C1    B2 = vx + vy + C2
        #   S = (A1 * A2) / (B1 * B2)
        cn, c1, c2 = self.cov_norm, self.c1, self.c2
        np.multiply(ux, ux, out=t1)  # ux²
        np.multiply(uy, uy, out=t2)  # uy²
        np.subtract(uxx, t1, out=uxx)
        np.subtract(uyy, t2, out=uyy)
        if cn != 1.0:
            np.multiply(uxx, cn, out=uxx)  # vx
            np.multiply(uyy, cn, out=uyy)  # vy
        np.add(uxx, uyy, out=uxx)
        np.add(uxx, c2, out=uxx)  # B2
        np.add(t1, t2, out=t1)
        np.add(t1, c1, out=t1)  # B1
        np.multiply(t1, uxx, out=t1)  # D = B1 * B2
        np.multiply(ux, uy, out=t2)
        np.subtract(uxy, t2, out=uxy)
        if cn != 1.0:
            np.multiply(uxy, cn, out=uxy)  # vxy
        np.multiply(uxy, 2, out=uxy)
        np.add(uxy, c2, out=uxy)  # A2
        # (2 * ux) * uy is 2 * (ux * uy) exactly (doubling is exact): reuse t2.
        np.multiply(t2, 2, out=t2)
        np.add(t2, c1, out=t2)  # A1
        np.multiply(t2, uxy, out=t2)  # A1 * A2
        dst = self.out[s0:s1]
        np.divide(t2, t1, out=dst)

        # Interior sum(s) for the mean.
        r0, r1 = max(s0, self.pad), min(s1, height - self.pad)
        if r1 <= r0:
            shape = self.rest[-1:] if self.multichannel else ()
            return np.zeros(shape)
        core = dst[(slice(r0 - s0, r1 - s0), *self.interior)]
        axes = tuple(range(self.n_spatial))
        return core.sum(axis=axes, dtype=np.float64)


def _run(plan: _Plan) -> np.ndarray:
    height, h = plan.height, plan.strip_rows
    bounds = [(s, min(s + h, height)) for s in range(0, height, h)]
    n_pixels = plan.a.size
    workers = min(_MAX_WORKERS, cpu_count(), len(bounds))
    if workers <= 1 or n_pixels < _MIN_PARALLEL_PIXELS:
        bufs = plan.buffers()
        return sum(plan.strip(s0, s1, bufs) for s0, s1 in bounds)

    todo = iter(bounds)  # shared: next() on a list iterator is atomic

    def work() -> np.ndarray:
        bufs = plan.buffers()
        return sum(plan.strip(s0, s1, bufs) for s0, s1 in todo)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(work) for _ in range(workers)]
        return sum(f.result() for f in futures)


def _strip_rows(row_bytes: int, height: int) -> int:
    rows = max(_MIN_STRIP_ROWS, _STRIP_BYTES // max(row_bytes, 1))
    return max(1, min(rows, height))


def _check_number(name: str, value, *, allow_zero: bool = True) -> float:
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise ParameterError(f"{name} must be a real number, got {value!r}.") from None
    if not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ParameterError(f"{name} must be a finite number {bound}, got {value!r}.")
    return value


def _default_data_range(a: np.ndarray, b: np.ndarray) -> float:
    if a.dtype.kind == "f" or b.dtype.kind == "f":
        raise ParameterError(
            "data_range is required for floating-point images: the range of "
            "the data cannot be guessed from a float dtype. Pass "
            "data_range=1.0 for images in [0, 1] (or data_range=255.0 for "
            "0..255 values stored as float)."
        )
    if a.dtype != b.dtype:
        warnings.warn(
            f"Inputs have mismatched dtypes. Setting data_range based on a.dtype ({a.dtype}).",
            stacklevel=3,
        )
    if a.dtype.kind == "b":
        return 1.0
    info = np.iinfo(a.dtype)
    data_range = float(info.max) - float(info.min)
    if a.dtype != np.uint8:
        warnings.warn(
            f"Setting data_range based on a.dtype ({a.dtype}): data_range = "
            f"{data_range:.0f}. Please specify data_range explicitly to avoid "
            "mistakes.",
            stacklevel=3,
        )
    return data_range


def ssim_map(
    a: np.ndarray,
    b: np.ndarray,
    *,
    win_size: int | None = 7,
    gaussian_weights: bool = False,
    sigma: float = 1.5,
    data_range: float | None = None,
    use_sample_covariance: bool = True,
    K1: float = 0.01,
    K2: float = 0.03,
    channel_axis: int | None = None,
) -> tuple[float, np.ndarray]:
    """Compute the mean structural similarity and its full map.

    Gives the numbers of ``skimage.metrics.structural_similarity(a, b,
    full=True, ...)`` called with the same arguments, computed in float32, in
    cache-sized strips, on all CPU cores. For float32 input the map agrees
    with scikit-image to ~1e-7 (the same float32 roundings). Other dtypes are
    converted to float32 while scikit-image evaluates them in float64; the
    map then differs by float32 rounding, up to ~3e-4 in flat, bright regions
    where ``E[x²] - E[x]²`` cancels (the mean by ~1e-5).

    Two differences from scikit-image's own defaults and edge cases:

    * `win_size` defaults to 7 with either window. scikit-image's default
      (None) means 11 with ``gaussian_weights=True``; it sets the border left
      out of the mean and the sample-covariance factor, so pass
      ``win_size=None`` (or 11) for scikit-image's Gaussian default mean.
    * A NaN or infinite input value makes NaN the map pixels whose windows
      hold it, and with the uniform window more: scipy's running-sum box
      filter carries it on to the end of the line, which scikit-image applies
      along every axis and ``ssim_map`` along the last one only. The NaN
      areas of the two maps differ.

    Parameters
    ----------
    a, b : ndarray
        Images of the same shape and any real dtype (bool, integer, float),
        with any number of spatial dimensions (plus one channel axis if
        `channel_axis` is given). They are not modified.
    win_size : int or None, optional
        Side of the sliding window (odd, at least 1 and at most the smallest
        spatial side). With ``gaussian_weights=True`` the filter itself is
        set by `sigma`, and `win_size` only sets the border excluded from the
        mean and the sample-covariance normalisation, as in scikit-image;
        None derives it from `sigma` like scikit-image does
        (``2 * int(3.5 * sigma + 0.5) + 1``, i.e. 11 for ``sigma=1.5``) and
        means 7 for the uniform window.
    gaussian_weights : bool, optional
        Weight the window with a Gaussian of width `sigma` (truncated at 3.5
        sigma) instead of a uniform `win_size` box.
    sigma : float, optional
        Standard deviation of the Gaussian window.
    data_range : float, optional
        Dynamic range of the data (max - min possible value), > 0. Required
        for float input as in scikit-image; for integer input it defaults to
        the range of the dtype of `a` (255 for uint8).
    use_sample_covariance : bool, optional
        Normalise covariances by N - 1 instead of N, N being the number of
        pixels in the window.
    K1, K2 : float, optional
        Stabilising constants (>= 0).
    channel_axis : int, optional
        Axis of colour channels, or None for a single-channel image. Each
        channel is compared separately; the mean is the average of the
        per-channel means.

    Returns
    -------
    mean : float
        Mean SSIM over the image, border of ``(win_size - 1) // 2`` excluded
        as in scikit-image.
    map : ndarray of float32
        The full SSIM map, the same shape as `a`.

    Raises
    ------
    SizeMismatchError
        If `a` and `b` differ in shape.
    ImageShapeError
        If the images are not real-valued arrays with at least one spatial
        dimension, or are smaller than the window.
    ParameterError
        If a parameter is out of range (even `win_size`, negative `K1`,
        missing `data_range` for float input, ...).
    """
    a = np.asarray(a)
    b = np.asarray(b)
    if a.shape != b.shape:
        raise SizeMismatchError(
            f"The two images must have the same shape, got {a.shape} and "
            f"{b.shape}. Resize or crop one of them first."
        )
    for name, im in (("a", a), ("b", b)):
        if im.dtype.kind not in "biuf":
            raise ImageShapeError(
                f"Image {name} has dtype {im.dtype}; SSIM needs real numbers "
                "(bool, integer or float). Convert it, e.g. take the "
                "magnitude of complex data."
            )

    # -- channel axis ----------------------------------------------------
    if channel_axis is not None:
        try:
            channel_axis = operator.index(channel_axis)
        except TypeError:
            raise ParameterError(
                f"channel_axis must be an int or None, got {channel_axis!r}."
            ) from None
        if not -a.ndim <= channel_axis < a.ndim:
            raise ParameterError(
                f"channel_axis={channel_axis} is out of range for an image with "
                f"{a.ndim} dimension(s) (shape {a.shape}). Use -1 for "
                "channels-last images, or None for a single-channel image."
            )
        channel_axis %= a.ndim
        n_spatial = a.ndim - 1
    else:
        n_spatial = a.ndim
    if n_spatial < 1:
        raise ImageShapeError(
            f"The images have shape {a.shape}: no spatial dimension left "
            f"{'besides the channel axis' if channel_axis is not None else ''}. "
            "Pass images with at least one spatial axis."
        )
    spatial_shape = a.shape if channel_axis is None else np.delete(a.shape, channel_axis)

    # -- scalar parameters (scikit-image's checks, clearer messages) --------
    K1 = _check_number("K1", K1)
    K2 = _check_number("K2", K2)
    sigma = _check_number("sigma", sigma)
    gaussian = bool(gaussian_weights)
    if win_size is None:
        win_size = 2 * int(_TRUNCATE * sigma + 0.5) + 1 if gaussian else 7
    else:
        try:
            win_size = operator.index(win_size)
        except TypeError:
            raise ParameterError(
                f"win_size must be an odd int (or None), got {win_size!r}."
            ) from None
    if win_size < 1 or win_size % 2 == 0:
        raise ParameterError(
            f"win_size must be odd and >= 1, got {win_size}. Use e.g. 7, or "
            f"{win_size + 1 if win_size > 0 else 1}."
        )
    if any(n < win_size for n in spatial_shape):
        hint = (
            " If the images have colour channels, set channel_axis to the channel axis."
            if channel_axis is None
            else ""
        )
        raise ImageShapeError(
            f"win_size={win_size} exceeds the image extent "
            f"{tuple(int(n) for n in spatial_shape)}: every spatial side must "
            f"be at least win_size. Pass a smaller odd win_size (at most "
            f"{int(min(spatial_shape))}) or larger images.{hint}"
        )
    n_window = win_size**n_spatial
    if use_sample_covariance:
        if n_window == 1:
            raise ParameterError(
                "use_sample_covariance=True needs a window of more than one "
                "pixel (N - 1 = 0). Use win_size >= 3 or "
                "use_sample_covariance=False."
            )
        cov_norm = n_window / (n_window - 1)
    else:
        cov_norm = 1.0

    if data_range is None:
        data_range = _default_data_range(a, b)
    else:
        data_range = _check_number("data_range", data_range, allow_zero=False)
    c1 = (K1 * data_range) ** 2
    c2 = (K2 * data_range) ** 2
    pad = (win_size - 1) // 2

    # -- compute ---------------------------------------------------------
    out = np.empty(a.shape, dtype=np.float32)
    if channel_axis is not None:
        a_w = np.moveaxis(a, channel_axis, -1)
        b_w = np.moveaxis(b, channel_axis, -1)
        out_w = np.moveaxis(out, channel_axis, -1)
    else:
        a_w, b_w, out_w = a, b, out
    row_bytes = 4 * math.prod(a_w.shape[1:])
    plan = _Plan(
        a_w,
        b_w,
        out_w,
        gaussian=gaussian,
        sigma=sigma,
        win_size=win_size,
        cov_norm=cov_norm,
        c1=c1,
        c2=c2,
        pad=pad,
        n_spatial=n_spatial,
        strip_rows=_strip_rows(row_bytes, a_w.shape[0]),
    )
    sums = _run(plan)
    n_interior = math.prod(n - 2 * pad for n in spatial_shape)
    mean = float(np.mean(np.asarray(sums, dtype=np.float64) / n_interior))
    return mean, out
