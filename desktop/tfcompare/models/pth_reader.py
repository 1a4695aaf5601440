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
import math
import os
import pickle
import struct
import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any, BinaryIO

import numpy as np

__all__ = ["PthError", "UnsafePickleError", "load", "load_state_dict"]

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
LEGACY_PROTOCOL = 1001
#: Bounds on what a file may ask for; the bytes of the tensors are also bounded by the file itself
#: (storages must be present in full, and a compressed zip member may inflate at most
#: ``MAX_INFLATION`` times the archive's size).
MAX_ELEMENTS = 1 << 40
MAX_DIMS = 32
MAX_DEPTH = 64
MAX_STORAGES = 100_000
MAX_INFLATION = 4
_IN_PROGRESS = object()


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


class _Sealed:
    """Base of every object the unpickler hands out: a pickle's BUILD opcode (``__setstate__``)
    and attribute assignment are refused, so a file can neither change the shared allow-list
    (a later, good file would then fail) nor rewrite a checked tensor view."""

    __slots__ = ()

    def __setstate__(self, state: Any) -> None:
        raise UnsafePickleError(
            f"refusing to change {self}: a weight file may only rebuild tensors"
        )

    def __setattr__(self, name: str, value: Any) -> None:
        raise UnsafePickleError(
            f"refusing to change {self}: a weight file may only rebuild tensors"
        )

    def _init(self, **values: Any) -> None:
        for name, value in values.items():
            object.__setattr__(self, name, value)


class _StorageType(_Sealed):
    """Stand-in for ``torch.FloatStorage`` etc.: only carries the numpy dtype."""

    __slots__ = ("name", "dtype")
    name: str
    dtype: np.dtype

    def __init__(self, name: str, dtype: np.dtype) -> None:
        self._init(name=name, dtype=dtype)

    def __call__(self, *args: Any) -> Any:
        raise UnsafePickleError(
            f"refusing to call torch.{self.name}: storages come only from the archive"
        )

    def __repr__(self) -> str:
        return f"torch.{self.name}"


class _Allowed(_Sealed):
    """An allowed global: calls the checked stand-in; cannot be changed by the pickle."""

    __slots__ = ("name", "fn")
    name: str
    fn: Callable[..., Any]

    def __init__(self, name: str, fn: Callable[..., Any]) -> None:
        self._init(name=name, fn=fn)

    def __call__(self, *args: Any) -> Any:
        return self.fn(*args)

    def __repr__(self) -> str:
        return self.name


class _Storage(_Sealed):
    __slots__ = ("key", "dtype", "numel", "data")
    key: str
    dtype: np.dtype
    numel: int
    data: np.ndarray | None

    def __init__(self, key: str, dtype: np.dtype, numel: int) -> None:
        self._init(key=key, dtype=dtype, numel=numel, data=None)

    def __repr__(self) -> str:
        return f"storage {self.key}"


class _TensorRef(_Sealed):
    """A tensor view (offset/size/stride) into a storage whose bytes may not be read yet."""

    __slots__ = ("storage", "offset", "size", "stride")
    storage: _Storage
    offset: int
    size: tuple[int, ...]
    stride: tuple[int, ...]

    def __init__(
        self, storage: _Storage, offset: int, size: tuple[int, ...], stride: tuple[int, ...]
    ) -> None:
        self._init(storage=storage, offset=offset, size=size, stride=stride)

    def __repr__(self) -> str:
        return f"a tensor of {self.storage!r}"


def _as_int_tuple(value: Any, what: str) -> tuple[int, ...]:
    if (
        not isinstance(value, tuple)
        or len(value) > MAX_DIMS
        or not all(type(v) is int and 0 <= v <= MAX_ELEMENTS for v in value)
    ):
        raise PthError(f"malformed tensor {what}: {value!r:.80}")
    return value


def _rebuild_tensor(storage: Any, offset: Any, size: Any, stride: Any, *rest: Any) -> _TensorRef:
    if not isinstance(storage, _Storage):
        raise PthError("tensor does not refer to a storage")
    if type(offset) is not int or not 0 <= offset <= MAX_ELEMENTS:
        raise PthError(f"malformed tensor offset: {offset!r:.80}")
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


_ALLOWED: Mapping[tuple[str, str], _Allowed | _StorageType] = MappingProxyType(
    {
        ("collections", "OrderedDict"): _Allowed("collections.OrderedDict", _ordered_dict),
        ("torch._utils", "_rebuild_tensor"): _Allowed(
            "torch._utils._rebuild_tensor", _rebuild_tensor
        ),
        ("torch._utils", "_rebuild_tensor_v2"): _Allowed(
            "torch._utils._rebuild_tensor_v2", _rebuild_tensor
        ),
        ("torch._utils", "_rebuild_parameter"): _Allowed(
            "torch._utils._rebuild_parameter", _rebuild_parameter
        ),
        **{("torch", name): _StorageType(name, dtype) for name, dtype in _STORAGE_DTYPES.items()},
    }
)


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
        if not isinstance(key, str) or type(numel) is not int or not 0 <= numel <= MAX_ELEMENTS:
            raise PthError(f"malformed storage reference {pid!r:.80}")
        view = pid[5] if len(pid) > 5 else None
        if view is not None:
            raise PthError("storage views (legacy view_metadata) are not supported")
        storage = self._storages.get(key)
        if storage is None:
            storage = self._storages[key] = _Storage(key, storage_type.dtype, numel)
            if len(self._storages) > MAX_STORAGES:
                raise PthError(f"more than {MAX_STORAGES} storages")
        elif storage.dtype != storage_type.dtype or storage.numel != numel:
            raise PthError(f"storage {key} is referenced with two different types or sizes")
        return storage


def _materialise(ref: _TensorRef) -> np.ndarray:
    """The tensor as its own C-contiguous array; never more elements than its storage holds
    (a stride-0 view of a few bytes must not become a huge array)."""
    data = ref.storage.data
    if data is None:
        raise PthError(f"storage {ref.storage.key} has no data in the file")
    numel = math.prod(ref.size)
    if numel > max(data.size, 1):
        raise PthError(
            f"a tensor of shape {ref.size} ({numel} elements) views storage {ref.storage.key}, which "
            f"holds only {data.size}: refused (it would make the file inflate in memory)"
        )
    if numel == 0:
        return np.zeros(ref.size, dtype=data.dtype)
    last = ref.offset + sum((n - 1) * s for n, s in zip(ref.size, ref.stride, strict=True))
    if last >= data.size:
        raise PthError(f"tensor view runs past the end of storage {ref.storage.key}")
    item = data.dtype.itemsize
    view = np.lib.stride_tricks.as_strided(
        data[ref.offset :],
        shape=ref.size,
        strides=tuple(s * item for s in ref.stride),
        writeable=False,
    )
    return view.copy(order="C")


def _resolve(obj: Any, memo: dict[int, Any] | None = None, depth: int = 0) -> Any:
    """Tensors materialised in the object tree; a shared object is resolved once, and a tree
    that contains itself or nests deeper than ``MAX_DEPTH`` is refused."""
    memo = {} if memo is None else memo
    if not isinstance(obj, _TensorRef | dict | list | tuple):
        return obj
    key = id(obj)
    if key in memo:
        if memo[key] is _IN_PROGRESS:
            raise PthError("the object tree contains itself (a self-referencing list or dict)")
        return memo[key]
    if depth > MAX_DEPTH:
        raise PthError(f"the object tree is nested more than {MAX_DEPTH} levels deep")
    memo[key] = _IN_PROGRESS
    if isinstance(obj, _TensorRef):
        out: Any = _materialise(obj)
    elif isinstance(obj, dict):
        out = collections.OrderedDict() if isinstance(obj, collections.OrderedDict) else {}
        for k, value in obj.items():
            out[k] = _resolve(value, memo, depth + 1)
    else:
        items = [_resolve(v, memo, depth + 1) for v in obj]
        out = items if isinstance(obj, list) else tuple(items)
    memo[key] = out
    return out


def _read_storage_bytes(raw: bytes, storage: _Storage) -> None:
    need = storage.numel * storage.dtype.itemsize
    if len(raw) < need:
        raise PthError(f"storage {storage.key} is truncated ({len(raw)} of {need} bytes)")
    object.__setattr__(
        storage, "data", np.frombuffer(raw, dtype=storage.dtype, count=storage.numel)
    )


def _load_zip(path: Path) -> Any:
    budget = [MAX_INFLATION * max(path.stat().st_size, 1 << 20)]

    def read(archive: zipfile.ZipFile, name: str, at_least: int = 0) -> bytes:
        """A member's bytes, within what the archive can honestly hold."""
        info = archive.getinfo(name)
        if info.file_size < at_least:
            raise PthError(
                f"{path.name}: {name} is truncated ({info.file_size} of {at_least} bytes)"
            )
        budget[0] -= info.file_size
        if budget[0] < 0:
            raise PthError(
                f"{path.name}: {name} inflates to {info.file_size} bytes, more than a "
                f"{path.stat().st_size}-byte archive can hold (a zip bomb?)"
            )
        return archive.read(name)

    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        pkl = [n for n in names if n.endswith("/data.pkl") or n == "data.pkl"]
        if len(pkl) != 1:
            raise PthError(f"{path.name}: zip archive without exactly one data.pkl")
        prefix = pkl[0][: -len("data.pkl")]
        order = f"{prefix}byteorder"
        if order in names and read(archive, order).strip() != b"little":
            raise PthError(f"{path.name}: big-endian tensors are not supported")
        storages: dict[str, _Storage] = {}
        result = _RestrictedUnpickler(io.BytesIO(read(archive, pkl[0])), storages).load()
        for key, storage in storages.items():
            member = f"{prefix}data/{key}"
            if member not in names:
                raise PthError(f"{path.name}: storage {key} missing from the archive")
            need = storage.numel * storage.dtype.itemsize
            _read_storage_bytes(read(archive, member, need), storage)
    return _resolve(result)


def _load_legacy(path: Path) -> Any:
    with path.open("rb") as f:
        size = os.fstat(f.fileno()).st_size
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
                raise PthError(
                    f"{path.name}: storage {key} holds {count} items, expected {storage.numel}"
                )
            need = count * storage.dtype.itemsize
            if need > size - f.tell():
                raise PthError(
                    f"{path.name}: storage {key} is truncated (it claims {need} bytes; the file "
                    f"has {size - f.tell()} left)"
                )
            _read_storage_bytes(f.read(need), storage)
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
    except RecursionError:
        raise PthError(f"{path.name}: corrupt weight file (nested too deeply)") from None
    except MemoryError:
        raise PthError(f"{path.name}: the weight file asks for more memory than there is") from None
    except (
        pickle.UnpicklingError,
        EOFError,
        struct.error,
        zipfile.BadZipFile,
        ValueError,
        TypeError,
        KeyError,
        IndexError,
        AttributeError,
        OverflowError,
        OSError,
    ) as exc:
        raise PthError(f"{path.name}: corrupt weight file ({type(exc).__name__}: {exc})") from None


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
