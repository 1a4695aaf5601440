"""KServe's Python model server (``kserve.ModelServer``) serving the tests' classifier
(``classifier.py``) in the ``kserve`` test environment, never imported by pytest:

    python kserve_server.py --http_port P --grpc_port Q --weights classifier.npz

Models (v1 REST, v2 REST and v2 gRPC each):

- ``classifier``: a tensor ``image`` FP32 [-1, 32, 32, 3] → ``probabilities`` FP32 [-1, 1000];
  its v2 metadata lists both. v1: ``{"instances": [H×W×C lists, …]}`` (or ``[{"image": …}]``)
  → ``{"predictions": [1000 probabilities, …]}``.
- ``classifier-bytes``: ``image_bytes`` BYTES [-1], each an encoded image, decoded and prepared
  as tfcompare's ``tf`` preset does. v1: ``{"instances": [{"b64": "…"}]}``.
- ``classifier-plain``: ``classifier`` without inputs or outputs in its metadata (KServe's
  default for a custom model): what it takes must be declared (tfcompare's ``input=``).

KServe binds every address; here both servers are kept on 127.0.0.1 (the tests' rule).
"""

from __future__ import annotations

import argparse
import base64
import sys
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
from classifier import (  # noqa: E402
    BYTES_INPUT,
    CLASSES,
    INPUT,
    OUTPUT,
    SIZE,
    forward,
    load_weights,
    preprocess,
)


def _local_only() -> None:
    """Bind KServe's HTTP (uvicorn) and gRPC servers to 127.0.0.1 instead of every address."""
    import uvicorn
    from kserve.protocol.grpc import server as grpc_server

    config_init = uvicorn.Config.__init__

    def local_config(self, *args, **kwargs):
        kwargs["host"] = "127.0.0.1"
        config_init(self, *args, **kwargs)

    uvicorn.Config.__init__ = local_config
    make_server = grpc_server.aio.server

    def local_server(*args, **kwargs):
        server = make_server(*args, **kwargs)
        add_port = server.add_insecure_port
        server.add_insecure_port = lambda address: add_port(
            "127.0.0.1:" + address.rsplit(":", 1)[1]
        )
        return server

    grpc_server.aio = type("aio", (), {"server": staticmethod(local_server)})


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--weights", required=True)
    ours, _ = parser.parse_known_args()
    _local_only()

    import kserve
    from kserve import InferOutput, InferRequest, InferResponse
    from kserve.errors import InvalidInput

    weights = load_weights(ours.weights)

    class Classifier(kserve.Model):
        def __init__(self, name: str, takes: str, declared: bool = True):
            super().__init__(name)
            self.takes = takes  # "tensor" or "bytes"
            self.declared = declared
            self.ready = True

        def get_input_types(self):
            if not self.declared:
                return []
            if self.takes == "bytes":
                return [{"name": BYTES_INPUT, "datatype": "BYTES", "shape": [-1]}]
            return [{"name": INPUT, "datatype": "FP32", "shape": [-1, SIZE, SIZE, 3]}]

        def get_output_types(self):
            if not self.declared:
                return []
            return [{"name": OUTPUT, "datatype": "FP32", "shape": [-1, CLASSES]}]

        def _images(self, items) -> np.ndarray:
            try:
                return np.concatenate([preprocess(bytes(i)) for i in items])
            except OSError as exc:
                raise InvalidInput(f"cannot decode the image: {exc}") from None

        def _v1(self, payload: dict) -> dict:
            instances = payload.get("instances")
            if not isinstance(instances, list) or not instances:
                raise InvalidInput('expected {"instances": [...]}')
            rows = [
                next(iter(i.values())) if isinstance(i, dict) and "b64" not in i else i
                for i in instances
            ]
            if self.takes == "bytes":
                if not all(isinstance(r, dict) and isinstance(r.get("b64"), str) for r in rows):
                    raise InvalidInput('expected instances [{"b64": "..."}]')
                x = self._images(base64.b64decode(r["b64"]) for r in rows)
            else:
                x = np.asarray(rows, dtype=np.float32)
            try:
                return {"predictions": forward(weights, x).tolist()}
            except ValueError as exc:
                raise InvalidInput(str(exc)) from None

        def predict(self, payload, headers=None):
            if isinstance(payload, dict):
                return self._v1(payload)
            assert isinstance(payload, InferRequest)
            tensor = payload.inputs[0]
            if self.takes == "bytes":
                items = list(tensor.as_numpy().reshape(-1))
                if (tensor.parameters or {}).get("content_type") == "base64":
                    # JSON carries bytes as base64 text (MLServer's convention); KServe hands
                    # the text to the model, which decodes it
                    items = [base64.b64decode(i) for i in items]
                x = self._images(items)
            else:
                x = tensor.as_numpy()
            try:
                probabilities = forward(weights, x)
            except ValueError as exc:
                raise InvalidInput(str(exc)) from None
            out = InferOutput(OUTPUT, list(probabilities.shape), "FP32")
            out.set_data_from_numpy(probabilities, binary_data=payload.use_binary_outputs)
            return InferResponse(
                response_id=payload.id or str(uuid.uuid4()),  # JSON answers need one
                model_name=self.name,
                infer_outputs=[out],
                use_binary_outputs=payload.use_binary_outputs,
            )

    kserve.ModelServer(workers=1).start(
        [
            Classifier("classifier", "tensor"),
            Classifier("classifier-bytes", "bytes"),
            Classifier("classifier-plain", "tensor", declared=False),
        ]
    )


if __name__ == "__main__":
    main()
