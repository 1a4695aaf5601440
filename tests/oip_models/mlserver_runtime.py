"""MLServer custom runtimes serving the tests' classifier (``classifier.py``); loaded by
MLServer from ``model-settings.json`` (``implementation: mlserver_runtime.TensorClassifier``…)
in the ``mlserver`` test environment, never by pytest.

- ``TensorClassifier``: input ``image`` FP32 [-1, 32, 32, 3] → ``probabilities`` FP32
  [-1, 1000], the NumPy twin of the Keras model TF Serving serves.
- ``BytesClassifier``: input ``image_bytes`` BYTES [-1], each element an encoded image that the
  runtime decodes and prepares as tfcompare's ``tf`` preset does, then the same network. Over
  REST JSON the bytes come base64-encoded with ``content_type: base64``, which MLServer's codecs
  decode (``self.decode``); over gRPC they come raw.

``parameters.uri`` in the settings is the ``classifier.npz`` with the weights.
"""

from __future__ import annotations

import numpy as np
from classifier import BYTES_INPUT, OUTPUT, forward, load_weights, preprocess
from mlserver import MLModel
from mlserver.codecs import NumpyCodec
from mlserver.errors import MLServerError
from mlserver.types import InferenceRequest, InferenceResponse


class _Classifier(MLModel):
    async def load(self) -> bool:
        self._weights = load_weights(self.settings.parameters.uri)
        return True

    def _answer(self, probabilities: np.ndarray) -> InferenceResponse:
        return InferenceResponse(
            model_name=self.name,
            model_version=self.version,
            outputs=[NumpyCodec.encode_output(OUTPUT, probabilities)],
        )


class TensorClassifier(_Classifier):
    async def predict(self, payload: InferenceRequest) -> InferenceResponse:
        x = self.decode(payload.inputs[0], default_codec=NumpyCodec)
        try:
            return self._answer(forward(self._weights, x))
        except ValueError as exc:
            raise MLServerError(str(exc), status_code=400) from None


class BytesClassifier(_Classifier):
    async def predict(self, payload: InferenceRequest) -> InferenceResponse:
        request_input = payload.inputs[0]
        if request_input.name != BYTES_INPUT:
            raise MLServerError(f"expected input {BYTES_INPUT}", status_code=400)
        images = self.decode(request_input)
        if isinstance(images, (bytes, str)):
            images = [images]
        if any(not isinstance(i, bytes) for i in images):
            raise MLServerError(
                "BYTES over JSON must be base64 with content_type base64", status_code=400
            )
        try:
            x = np.concatenate([preprocess(data) for data in images])
        except OSError as exc:
            raise MLServerError(f"cannot decode the image: {exc}", status_code=400) from None
        return self._answer(forward(self._weights, x))
