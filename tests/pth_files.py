"""``.pth`` weight files written without torch, for the reader's tests: fake ``torch`` modules
exist only while pickling, so the pickle names the same globals ``torch.save`` writes, in either
on-disk format (the zip archive or the legacy stream)."""

from __future__ import annotations

import collections
import contextlib
import io
import pickle
import struct
import sys
import types
import zipfile
from pathlib import Path

import numpy as np

from tfcompare.models.pth_reader import LEGACY_MAGIC

_TYPES = {
    np.dtype("float32"): "FloatStorage",
    np.dtype("int64"): "LongStorage",
    np.dtype("float64"): "DoubleStorage",
    np.dtype("uint8"): "ByteStorage",
}


class FakeStorage:
    def __init__(self, key: str, array: np.ndarray) -> None:
        self.key, self.array = key, array.reshape(-1)


class FakeTensor:
    def __init__(self, storage: FakeStorage, offset: int, size: tuple, stride: tuple) -> None:
        self.storage, self.offset, self.size, self.stride = storage, offset, size, stride


@contextlib.contextmanager
def fake_torch():
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


def pickle_state(obj, torch_mod, utils_mod, numel_of=None) -> bytes:
    class Writer(pickle.Pickler):
        def persistent_id(self, o):
            if isinstance(o, FakeStorage):
                cls = getattr(torch_mod, _TYPES[o.array.dtype])
                return ("storage", cls, o.key, "cpu", o.array.size)
            return None

        def reducer_override(self, o):
            if isinstance(o, FakeTensor):
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


def write_zip(path: Path, obj, storages: list[FakeStorage]) -> None:
    with fake_torch() as (torch_mod, utils_mod):
        data = pickle_state(obj, torch_mod, utils_mod)
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("archive/data.pkl", data)
        z.writestr("archive/byteorder", "little")
        for s in storages:
            z.writestr(
                f"archive/data/{s.key}", s.array.astype(s.array.dtype.newbyteorder("<")).tobytes()
            )


def write_legacy(
    path: Path, obj, storages: list[FakeStorage], *, main: bytes | None = None
) -> None:
    with fake_torch() as (torch_mod, utils_mod):
        data = main if main is not None else pickle_state(obj, torch_mod, utils_mod)
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


def sample_state():
    """A state dict with a transposed (non-contiguous) view, a 0-d tensor, an offset view."""
    rng = np.random.default_rng(3)
    base = rng.normal(size=(4, 6)).astype(np.float32)
    s_w = FakeStorage("0", base)  # stored (4,6) row-major
    s_n = FakeStorage("1", np.array([7], np.int64))
    s_d = FakeStorage("2", np.arange(10, dtype=np.float64))
    state = collections.OrderedDict(
        [
            (
                "fc.weight",
                FakeTensor(s_w, 0, (6, 4), (1, 6)),
            ),  # the transpose, as in the real file
            ("bn.num_batches_tracked", FakeTensor(s_n, 0, (), ())),
            ("tail", FakeTensor(s_d, 4, (3, 2), (2, 1))),
        ]
    )
    expected = {
        "fc.weight": base.T,
        "bn.num_batches_tracked": np.array(7),
        "tail": np.arange(4, 10, dtype=np.float64).reshape(3, 2),
    }
    return state, [s_w, s_n, s_d], expected
