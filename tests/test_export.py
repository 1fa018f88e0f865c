"""Writing results: whole sets of files, usual permissions, clear errors."""

from __future__ import annotations

import errno
import os
import stat

import numpy as np
import pytest

from imgdiff_widget import ImageDiffError, compare
from imgdiff_widget import _export as export
from imgdiff_widget._cli import main
from imgdiff_widget._export import OUTPUT_FILES


@pytest.fixture
def result():
    a = np.zeros((40, 50, 3))
    b = a.copy()
    b[10:20, 15:30] = 1.0
    return compare(a, b)


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


@pytest.mark.skipif(not hasattr(os, "fchmod"), reason="POSIX permissions")
def test_files_get_the_permissions_of_a_new_file(result, tmp_path, umask_022):
    # mkstemp makes its file 0600; a shared output folder needs the umask's.
    for path in result.save(tmp_path / "out").values():
        assert stat.S_IMODE(path.stat().st_mode) == 0o644, path
    export.atomic_write(tmp_path / "out" / "table.csv", b"a,b\n")
    assert stat.S_IMODE((tmp_path / "out" / "table.csv").stat().st_mode) == 0o644


def test_a_directory_in_the_way_writes_nothing(result, tmp_path):
    out = tmp_path / "out"
    (out / "mask.png").mkdir(parents=True)
    with pytest.raises(ImageDiffError, match="a directory of that name is in the way"):
        result.save(out)
    assert sorted(p.name for p in out.iterdir()) == ["mask.png"]


def test_a_full_disk_keeps_the_old_files_whole(result, tmp_path, monkeypatch):
    out = tmp_path / "out"
    result.save(out)
    before = {name: (out / name).read_bytes() for name in OUTPUT_FILES}
    write = export._write_temporary
    calls = []

    def full_disk_on_the_third(path, data):
        calls.append(path)
        if len(calls) == 3:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return write(path, data)

    monkeypatch.setattr(export, "_write_temporary", full_disk_on_the_third)
    changed = compare(np.zeros((40, 50, 3)), np.ones((40, 50, 3)), color="lime")
    with pytest.raises(ImageDiffError, match=r"mask\.png.*free space"):
        changed.save(out)
    assert {name: (out / name).read_bytes() for name in OUTPUT_FILES} == before
    assert sorted(p.name for p in out.iterdir()) == sorted(OUTPUT_FILES)  # no temporaries


def test_cli_prints_one_line_when_it_cannot_write(tmp_path, capsys):
    from PIL import Image

    a, b = tmp_path / "a.png", tmp_path / "b.png"
    Image.fromarray(np.zeros((40, 50, 3), np.uint8)).save(a)
    Image.fromarray(np.full((40, 50, 3), 200, np.uint8)).save(b)
    out = tmp_path / "out"
    (out / "overlay_b.png").mkdir(parents=True)
    assert main([str(a), str(b), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert "in the way" in err


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="Linux's /proc")
def test_reading_the_umask_does_not_set_it(monkeypatch):
    # Setting it, even for a moment, would give another thread's new file that mask.
    old = os.umask(0o027)
    try:
        monkeypatch.setattr(os, "umask", lambda mask: pytest.fail("the umask was set"))
        assert export._umask() == 0o027
    finally:
        monkeypatch.undo()
        os.umask(old)


def test_a_failed_rename_leaves_no_temporary(tmp_path):
    (tmp_path / "summary.csv").mkdir()  # in the way of the rename
    with pytest.raises(IsADirectoryError):
        export.atomic_write(tmp_path / "summary.csv", b"a,b\n")
    assert [p.name for p in tmp_path.iterdir()] == ["summary.csv"]
