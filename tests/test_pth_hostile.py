"""Crafted ``.pth`` weight files: every one is a PthError with a clear message, sizes are bounded
by what the file really holds, and nothing a file does changes how the next file is read."""

from __future__ import annotations

import collections
import io
import pickle
import pickletools
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest
from pth_files import (
    FakeStorage,
    FakeTensor,
    fake_torch,
    sample_state,
    write_legacy,
    write_zip,
)

from tfcompare.models.pth_reader import (
    LEGACY_MAGIC,
    PthError,
    UnsafePickleError,
    load,
    load_state_dict,
)


def zip_with_pickle(path: Path, payload: bytes) -> Path:
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("archive/data.pkl", payload)
    return path


def _binunicode(text: str) -> bytes:
    raw = text.encode()
    return b"X" + struct.pack("<I", len(raw)) + raw


def test_build_on_an_allowed_global_cannot_change_the_allow_list(tmp_path):
    """BUILD on torch.FloatStorage used to rewrite the shared entry: a good file loaded later in
    the same process then failed."""
    for state in (
        b"}" + _binunicode("dtype") + b"K\x01s",  # a __dict__ update
        b"N}" + _binunicode("dtype") + b"K\x01s\x86",  # (None, slot state): setattr
    ):
        for target in (b"ctorch\nFloatStorage\n", b"ctorch._utils\n_rebuild_tensor_v2\n"):
            evil = zip_with_pickle(tmp_path / "evil.pth", b"\x80\x02" + target + state + b"b.")
            with pytest.raises(UnsafePickleError, match="refusing to change"):
                load(evil)
    state, storages, expected = sample_state()
    good = tmp_path / "good.pth"
    write_zip(good, state, storages)
    loaded = load_state_dict(good)
    np.testing.assert_array_equal(loaded["fc.weight"], expected["fc.weight"])
    assert loaded["fc.weight"].dtype == np.float32


def test_build_cannot_rewrite_a_checked_tensor_view(tmp_path):
    """A tensor built through the checks, then given a new shape by BUILD, is refused."""
    s = FakeStorage("0", np.zeros(4, np.float32))
    path = tmp_path / "w.pth"
    write_zip(path, {"w": FakeTensor(s, 0, (2, 2), (2, 1))}, [s])
    with zipfile.ZipFile(path) as z:
        payload = z.read("archive/data.pkl")
    # right after the REDUCE that makes the tensor (the last one), BUILD it with a huge size
    at = [pos for op, _, pos in pickletools.genops(payload) if op.name == "REDUCE"][-1] + 1
    build = b"}" + _binunicode("size") + b"J\x00\xca\x9a;\x85sb"  # {"size": (10**9,)}
    rebuilt = payload[:at] + build + payload[at:]
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("archive/data.pkl", rebuilt)
        z.writestr("archive/data/0", np.zeros(4, np.float32).tobytes())
    with pytest.raises(UnsafePickleError, match="refusing to change"):
        load(path)


def test_reduce_on_a_storage_type_is_a_pth_error(tmp_path):
    path = zip_with_pickle(tmp_path / "r.pth", b"\x80\x02ctorch\nFloatStorage\n)R.")
    with pytest.raises(UnsafePickleError, match="refusing to call torch.FloatStorage"):
        load(path)


def test_a_self_referencing_list_is_a_pth_error(tmp_path):
    path = zip_with_pickle(tmp_path / "loop.pth", b"\x80\x02]q\x00h\x00a.")  # l = []; l.append(l)
    with pytest.raises(PthError, match="contains itself"):
        load(path)


def test_deep_nesting_and_shared_subtrees_stay_bounded(tmp_path):
    deep = zip_with_pickle(tmp_path / "deep.pth", b"\x80\x02" + b"]" * 5000 + b"a" * 4999 + b".")
    with pytest.raises(PthError, match="nested more than"):
        load(deep)
    # 60 levels of [x, x]: 2**60 paths through one shared object, resolved once each
    payload = b"\x80\x02N"
    for _ in range(60):
        payload += b"q\x00h\x00\x86"  # memo the top, push it again, make a pair
    shared = zip_with_pickle(tmp_path / "shared.pth", payload + b".")
    tree = load(shared)
    assert isinstance(tree, tuple) and tree[0] is tree[1]


def test_a_stride_zero_view_cannot_inflate_a_tiny_storage(tmp_path):
    s = FakeStorage("0", np.ones(1, np.float32))  # 4 bytes of storage
    path = tmp_path / "s0.pth"
    write_zip(path, {"w": FakeTensor(s, 0, (1000, 1000), (0, 0))}, [s])
    with pytest.raises(PthError, match="holds only 1"):
        load(path)


def test_a_huge_shape_is_a_pth_error_not_a_memory_error(tmp_path):
    s = FakeStorage("0", np.ones(1, np.float32))
    path = tmp_path / "big.pth"
    write_zip(path, {"w": FakeTensor(s, 0, (10**6, 10**6), (0, 0))}, [s])
    with pytest.raises(PthError, match="holds only 1"):
        load(path)
    write_zip(path, {"w": FakeTensor(s, 0, (0, 2**70), (1, 1))}, [s])
    with pytest.raises(PthError, match="malformed tensor size"):
        load(path)


def test_a_compressed_storage_cannot_inflate_past_the_archive(tmp_path):
    """A few tens of KB that deflate to 40 MB of tensor (the issue's file: 380 KB → 400 MB)."""
    s = FakeStorage("0", np.zeros(10_000_000, np.float32))
    path = tmp_path / "bomb.pth"
    write_zip(path, {"w": FakeTensor(s, 0, (10_000_000,), (1,))}, [])
    with zipfile.ZipFile(path, "a", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("archive/data/0", s.array.tobytes())
    assert path.stat().st_size < 200_000
    with pytest.raises(PthError, match="zip bomb"):
        load(path)


def test_a_legacy_count_of_2_to_the_40_is_bounded_by_the_file(tmp_path):
    with fake_torch() as (torch_mod, utils_mod):

        class Writer(pickle.Pickler):
            def persistent_id(self, o):
                if isinstance(o, FakeStorage):
                    return ("storage", torch_mod.FloatStorage, o.key, "cpu", 2**40)
                return None

            def reducer_override(self, o):
                if isinstance(o, FakeTensor):
                    return utils_mod._rebuild_tensor_v2, (
                        o.storage,
                        0,
                        (4,),
                        (1,),
                        False,
                        collections.OrderedDict(),
                    )
                return NotImplemented

        s = FakeStorage("0", np.ones(4, np.float32))
        buf = io.BytesIO()
        Writer(buf, protocol=2).dump({"w": FakeTensor(s, 0, (4,), (1,))})
    path = tmp_path / "legacy.pth"
    with path.open("wb") as f:
        for header in (LEGACY_MAGIC, 1001, {"little_endian": True}):
            pickle.dump(header, f, protocol=2)
        f.write(buf.getvalue())
        pickle.dump(["0"], f, protocol=2)
        f.write(struct.pack("<q", 2**40) + s.array.tobytes())
    with pytest.raises(PthError, match="truncated"):
        load(path)


def test_legacy_and_zip_good_files_still_load(tmp_path):
    state, storages, expected = sample_state()
    for writer in (write_zip, write_legacy):
        path = tmp_path / f"{writer.__name__}.pth"
        writer(path, state, storages)
        loaded = load_state_dict(path)
        for key, value in expected.items():
            np.testing.assert_array_equal(loaded[key], value)
