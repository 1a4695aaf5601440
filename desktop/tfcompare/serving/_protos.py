"""Load the official TF Serving protobuf/gRPC stubs without running TensorFlow's initialiser.

``tensorflow_serving.apis.*_pb2`` import ``tensorflow.core.framework.*_pb2``; a plain import would
execute ``tensorflow/__init__.py`` (seconds, hundreds of MB). The generated modules themselves only
need protobuf. While the stubs load, a meta-path finder replaces every *package* under
``tensorflow`` with an empty placeholder that keeps the real ``__path__`` (so the real ``_pb2``
files are found and executed unchanged). Afterwards every ``tensorflow*`` entry added to
``sys.modules`` is removed again, so a later real ``import tensorflow`` in the same process runs
normally (the protobuf descriptors it registers are identical and are shared).

If TensorFlow is already imported (e.g. in ``tfcompare.localserve``), the stubs import normally.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import threading
import types
from collections.abc import Sequence

_ROOT = "tensorflow"
_lock = threading.Lock()


class _PlaceholderLoader(importlib.abc.Loader):
    """Creates an empty package module instead of executing the package's ``__init__.py``."""

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType:
        module = types.ModuleType(spec.name, "placeholder package (tfcompare.serving._protos)")
        return module

    def exec_module(self, module: types.ModuleType) -> None:  # nothing to run on purpose
        return None


class _TensorFlowPackageFinder(importlib.abc.MetaPathFinder):
    """Finds ``tensorflow`` packages as placeholders; leaves plain modules to the normal finders."""

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None,
        target: types.ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != _ROOT and not fullname.startswith(_ROOT + "."):
            return None
        real = importlib.machinery.PathFinder.find_spec(fullname, path)
        if real is None or real.submodule_search_locations is None:
            return None  # a plain module (the *_pb2 files): load it for real
        spec = importlib.machinery.ModuleSpec(fullname, _PlaceholderLoader(), is_package=True)
        spec.submodule_search_locations = list(real.submodule_search_locations)
        return spec


def _load(names: Sequence[str]) -> list[types.ModuleType]:
    with _lock:
        if "tensorflow.python" in sys.modules:  # the real runtime is loaded anyway
            return [importlib.import_module(n) for n in names]
        before = {k for k in sys.modules if k == _ROOT or k.startswith(_ROOT + ".")}
        finder = _TensorFlowPackageFinder()
        sys.meta_path.insert(0, finder)
        try:
            return [importlib.import_module(n) for n in names]
        finally:
            sys.meta_path.remove(finder)
            for key in [k for k in sys.modules if k == _ROOT or k.startswith(_ROOT + ".")]:
                if key not in before:
                    del sys.modules[key]
            importlib.invalidate_caches()


(
    predict_pb2,
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_service_pb2_grpc,
    prediction_service_pb2_grpc,
    tensor_pb2,
    tensor_shape_pb2,
    types_pb2,
) = _load(
    [
        "tensorflow_serving.apis.predict_pb2",
        "tensorflow_serving.apis.get_model_metadata_pb2",
        "tensorflow_serving.apis.get_model_status_pb2",
        "tensorflow_serving.apis.model_service_pb2_grpc",
        "tensorflow_serving.apis.prediction_service_pb2_grpc",
        "tensorflow.core.framework.tensor_pb2",
        "tensorflow.core.framework.tensor_shape_pb2",
        "tensorflow.core.framework.types_pb2",
    ]
)

__all__ = [
    "get_model_metadata_pb2",
    "get_model_status_pb2",
    "model_service_pb2_grpc",
    "predict_pb2",
    "prediction_service_pb2_grpc",
    "tensor_pb2",
    "tensor_shape_pb2",
    "types_pb2",
]
