"""Writing results: atomically, and never over an input image."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from ._errors import ImageDiffError

if TYPE_CHECKING:
    from ._pipeline import DiffResult

__all__ = ["OUTPUT_FILES", "atomic_write", "write_result"]

OUTPUT_FILES = ("overlay_a.png", "overlay_b.png", "mask.png", "regions.json")


def atomic_write(path: Path, data: bytes, protected: Iterable[Path | None] = ()) -> None:
    """Write `data` to `path` through a temporary file and a rename.

    A reader never sees a half-written file, and an interrupted write leaves
    the old file (if any) in place. The file gets the permissions a new file
    gets (0666 less the umask), as ``open()`` would give it.

    Raises
    ------
    ImageDiffError
        If `path` is one of the `protected` files (an input image).
    OSError
        If the file cannot be written (its ``filename`` is `path`).
    """
    _check_not_input(path, protected)
    path.parent.mkdir(parents=True, exist_ok=True)
    _replace_all({path: data})


def _replace_all(files: dict[Path, bytes]) -> None:
    """Write every file to a temporary beside it, then rename each over its path.

    Every file is written before any is replaced, so a full disk leaves the
    old set (if any) whole; no temporary outlives the call. An OSError
    names the path being written when it happened.
    """
    temporaries: dict[Path, str] = {}
    path = None
    try:
        for path, data in files.items():
            temporaries[path] = _write_temporary(path, data)
        for path, tmp in temporaries.items():
            os.replace(tmp, path)
    except OSError as exc:
        raise OSError(exc.errno, exc.strerror or str(exc), str(path)) from exc
    finally:
        for tmp in temporaries.values():
            Path(tmp).unlink(missing_ok=True)


def _write_temporary(path: Path, data: bytes) -> str:
    """Write `data` to a new temporary file beside `path`; return its name."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            if hasattr(os, "fchmod"):  # mkstemp makes it 0600, whatever the umask
                os.fchmod(fh.fileno(), 0o666 & ~_umask())
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return tmp


def _umask() -> int:
    """The process's umask, read without changing it where the system allows."""
    try:  # Linux: no window in which another thread's new file gets a wrong mask
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)  # elsewhere reading the umask means setting it
    os.umask(mask)
    return mask


def _check_not_input(path: Path, protected: Iterable[Path | None]) -> None:
    for source in protected:
        if source is not None and _same_file(path, source):
            raise ImageDiffError(
                f"refusing to write {path}: it is one of the inputs. Choose "
                "another output directory."
            )


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def png_bytes(image: np.ndarray) -> bytes:
    """Encode a uint8 array (H x W or H x W x 3) as PNG."""
    import io

    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()


def write_result(
    result: DiffResult, directory: Path, protected: Iterable[Path] = ()
) -> dict[str, Path]:
    """Write a result's four files into `directory`; see :meth:`DiffResult.save`."""
    if directory.exists() and not directory.is_dir():
        raise ImageDiffError(
            f"output {directory} exists and is not a directory; choose a directory."
        )
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ImageDiffError(
            f"cannot create output directory {directory}: {exc.strerror}."
        ) from None
    payloads = {
        "overlay_a.png": png_bytes(result.overlay_a),
        "overlay_b.png": png_bytes(result.overlay_b),
        "mask.png": png_bytes(result.mask_image),
        "regions.json": json.dumps(result.summary(), indent=2).encode(),
    }
    for name in payloads:
        # Refuse before writing anything, so a refusal leaves no half-written folder.
        _check_not_input(directory / name, [*result.sources, *protected])
        if (directory / name).is_dir():
            raise ImageDiffError(
                f"cannot write {directory / name}: a directory of that name is in the "
                "way; remove it or choose another output directory."
            )
    written = {name: directory / name for name in payloads}
    try:
        # All four or none: not new overlays beside an old mask.
        _replace_all({written[name]: data for name, data in payloads.items()})
    except OSError as exc:
        raise ImageDiffError(
            f"cannot write {exc.filename}: {exc.strerror}; check that the output "
            "directory is writable and has free space."
        ) from None
    return written
