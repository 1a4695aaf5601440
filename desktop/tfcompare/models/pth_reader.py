"""Read PyTorch ``.pth`` weight files without importing torch.

A ``.pth`` file is a pickle, and unpickling runs whatever callables the file names: loading an
untrusted one with plain ``pickle``/``torch.load`` is code execution. This reader uses a restricted
unpickler that resolves only the handful of names a tensor state dict needs (tensor/storage
reconstruction and ``OrderedDict``) and refuses everything else with :class:`UnsafePickleError`.
Tensor storages are read as numpy arrays, and every tensor view is bounds-checked against its
storage before it is materialised.

Both on-disk formats are supported: the zip archive written by ``torch.save`` since 1.6
(``<prefix>/data.pkl`` + ``<prefix>/data/<key>``) and the older "legacy" stream (magic number,
protocol, system info, the pickle, the storage key list, then each storage as int64 count + bytes).
"""

from __future__ import annotations

import collections
import io
import pickle
import struct
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

__all__ = ["PthError", "UnsafePickleError", "load", "load_state_dict"]

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
LEGACY_PROTOCOL = 1001


class PthError(ValueError):
    """The file is not a readable PyTorch weight file (corrupt, truncated, unknown layout)."""


class UnsafePickleError(PthError):
    """The pickle asks for something other than tensor reconstruction; refused, never executed."""


_STORAGE_DTYPES: dict[str, np.dtype] = {
    "FloatStorage": np.dtype("<f4"),
    "DoubleStorage": np.dtype("<f8"),
    "HalfStorage": np.dtype("<f2"),
    "LongStorage": np.dtype("<i8"),
    "IntStorage": np.dtype("<i4"),
    "ShortStorage": np.dtype("<i2"),
    "CharStorage": np.dtype("i1"),
    "ByteStorage": np.dtype("u1"),
    "BoolStorage": np.dtype("?"),
}


@dataclass(frozen=True)
class _StorageType:
    """Stand-in for ``torch.FloatStorage`` etc.: only carries the numpy dtype."""

    name: str
    dtype: np.dtype


@dataclass
class _Storage:
    key: str
    dtype: np.dtype
    numel: int
    data: np.ndarray | None = None


@dataclass
class _TensorRef:
    """A tensor view (offset/size/stride) into a storage whose bytes may not be read yet."""

    storage: _Storage
    offset: int
    size: tuple[int, ...]
    stride: tuple[int, ...]
    extra: dict[str, Any] = field(default_factory=dict)


def _as_int_tuple(value: Any, what: str) -> tuple[int, ...]:
    if not isinstance(value, tuple) or not all(type(v) is int and v >= 0 for v in value):
        raise PthError(f"malformed tensor {what}: {value!r}")
    return value


def _rebuild_tensor(storage: Any, offset: Any, size: Any, stride: Any, *rest: Any) -> _TensorRef:
    if not isinstance(storage, _Storage):
        raise PthError("tensor does not refer to a storage")
    if type(offset) is not int or offset < 0:
        raise PthError(f"malformed tensor offset: {offset!r}")
    size_t = _as_int_tuple(size, "size")
    stride_t = _as_int_tuple(stride, "stride")
    if len(size_t) != len(stride_t):
        raise PthError("tensor size and stride differ in length")
    return _TensorRef(storage, offset, size_t, stride_t)


def _rebuild_parameter(data: Any, requires_grad: Any = False, hooks: Any = None, *rest: Any) -> Any:
    if not isinstance(data, _TensorRef):
        raise PthError("parameter does not wrap a tensor")
    return data


def _ordered_dict(*args: Any) -> collections.OrderedDict:
    if args and not (len(args) == 1 and isinstance(args[0], list | tuple)):
        raise UnsafePickleError("unexpected OrderedDict arguments")
    return collections.OrderedDict(*args)


_ALLOWED: dict[tuple[str, str], Callable[..., Any] | _StorageType] = {
    ("collections", "OrderedDict"): _ordered_dict,
    ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    **{("torch", name): _StorageType(name, dtype) for name, dtype in _STORAGE_DTYPES.items()},
}


class _RestrictedUnpickler(pickle.Unpickler):
    """Resolves only the names in ``_ALLOWED``; storages become :class:`_Storage` placeholders."""

    def __init__(self, file: BinaryIO, storages: dict[str, _Storage]) -> None:
        super().__init__(file)
        self._storages = storages

    def find_class(self, module: str, name: str) -> Any:
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise UnsafePickleError(
                f"refusing to load {module}.{name}: a weight file may only rebuild tensors "
                "(this file could run code if loaded with torch.load)"
            ) from None

    def persistent_load(self, pid: Any) -> Any:
        if not (isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage"):
            raise UnsafePickleError(f"unexpected persistent id {pid!r:.80}")
        storage_type, key, _location, numel = pid[1:5]
        if not isinstance(storage_type, _StorageType):
            raise UnsafePickleError("persistent id does not name a known storage type")
        if not isinstance(key, str) or type(numel) is not int or numel < 0:
            raise PthError(f"malformed storage reference {pid!r:.80}")
        view = pid[5] if len(pid) > 5 else None
        if view is not None:
            raise PthError("storage views (legacy view_metadata) are not supported")
        storage = self._storages.get(key)
        if storage is None:
            storage = self._storages[key] = _Storage(key, storage_type.dtype, numel)
        elif storage.dtype != storage_type.dtype or storage.numel != numel:
            raise PthError(f"storage {key} is referenced with two different types or sizes")
        return storage


def _materialise(ref: _TensorRef) -> np.ndarray:
    data = ref.storage.data
    if data is None:
        raise PthError(f"storage {ref.storage.key} has no data in the file")
    if any(n == 0 for n in ref.size):
        return np.zeros(ref.size, dtype=data.dtype)
    last = ref.offset + sum((n - 1) * s for n, s in zip(ref.size, ref.stride, strict=True))
    if last >= data.size:
        raise PthError(f"tensor view runs past the end of storage {ref.storage.key}")
    item = data.dtype.itemsize
    view = np.lib.stride_tricks.as_strided(
        data[ref.offset :], shape=ref.size, strides=tuple(s * item for s in ref.stride), writeable=False
    )
    return view.copy(order="C")


def _resolve(obj: Any) -> Any:
    if isinstance(obj, _TensorRef):
        return _materialise(obj)
    if isinstance(obj, dict):
        out = type(obj)() if isinstance(obj, collections.OrderedDict) else {}
        for key, value in obj.items():
            out[key] = _resolve(value)
        return out
    if isinstance(obj, list):
        return [_resolve(v) for v in obj]
    if isinstance(obj, tuple):
        return tuple(_resolve(v) for v in obj)
    return obj


def _read_storage_bytes(raw: bytes, storage: _Storage) -> None:
    need = storage.numel * storage.dtype.itemsize
    if len(raw) < need:
        raise PthError(f"storage {storage.key} is truncated ({len(raw)} of {need} bytes)")
    storage.data = np.frombuffer(raw, dtype=storage.dtype, count=storage.numel)


def _load_zip(path: Path) -> Any:
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        pkl = [n for n in names if n.endswith("/data.pkl") or n == "data.pkl"]
        if len(pkl) != 1:
            raise PthError(f"{path.name}: zip archive without exactly one data.pkl")
        prefix = pkl[0][: -len("data.pkl")]
        order = f"{prefix}byteorder"
        if order in names and archive.read(order).strip() != b"little":
            raise PthError(f"{path.name}: big-endian tensors are not supported")
        storages: dict[str, _Storage] = {}
        result = _RestrictedUnpickler(io.BytesIO(archive.read(pkl[0])), storages).load()
        for key, storage in storages.items():
            member = f"{prefix}data/{key}"
            if member not in names:
                raise PthError(f"{path.name}: storage {key} missing from the archive")
            _read_storage_bytes(archive.read(member), storage)
    return _resolve(result)


def _load_legacy(path: Path) -> Any:
    with path.open("rb") as f:
        # The three header pickles hold only ints/dicts; the restricted unpickler refuses globals.
        header = _RestrictedUnpickler(f, {})
        try:
            magic = header.load()
        except UnsafePickleError:
            raise
        except Exception as exc:
            raise PthError(f"{path.name}: not a PyTorch weight file ({exc})") from None
        if magic != LEGACY_MAGIC:
            raise PthError(f"{path.name}: not a PyTorch weight file (bad magic number)")
        if _RestrictedUnpickler(f, {}).load() != LEGACY_PROTOCOL:
            raise PthError(f"{path.name}: unsupported legacy protocol version")
        sys_info = _RestrictedUnpickler(f, {}).load()
        if isinstance(sys_info, dict) and sys_info.get("little_endian") is False:
            raise PthError(f"{path.name}: big-endian tensors are not supported")
        storages: dict[str, _Storage] = {}
        result = _RestrictedUnpickler(f, storages).load()
        keys = _RestrictedUnpickler(f, {}).load()
        if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
            raise PthError(f"{path.name}: malformed storage key list")
        for key in keys:
            storage = storages.get(key)
            if storage is None:
                raise PthError(f"{path.name}: unreferenced storage {key}")
            head = f.read(8)
            if len(head) != 8:
                raise PthError(f"{path.name}: truncated at storage {key}")
            (count,) = struct.unpack("<q", head)
            if count != storage.numel:
                raise PthError(f"{path.name}: storage {key} holds {count} items, expected {storage.numel}")
            _read_storage_bytes(f.read(count * storage.dtype.itemsize), storage)
    return _resolve(result)


def load(path: str | Path) -> Any:
    """Load a ``.pth`` file's object tree with tensors as read-only-safe numpy arrays."""
    path = Path(path)
    if not path.is_file():
        raise PthError(f"{path}: no such file")
    try:
        if zipfile.is_zipfile(path):
            return _load_zip(path)
        return _load_legacy(path)
    except PthError:
        raise
    except (pickle.UnpicklingError, EOFError, struct.error, zipfile.BadZipFile, ValueError) as exc:
        raise PthError(f"{path.name}: corrupt weight file ({exc})") from None


def load_state_dict(path: str | Path) -> dict[str, np.ndarray]:
    """Load a state dict (name → array); anything but a flat dict of tensors is an error."""
    obj = load(path)
    if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not all(
        isinstance(k, str) and isinstance(v, np.ndarray) for k, v in obj.items()
    ):
        raise PthError(f"{Path(path).name}: not a state dict of tensors")
    return dict(obj)
