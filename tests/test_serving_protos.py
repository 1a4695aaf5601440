"""The stub-loading trick: TF Serving's protos without TensorFlow's runtime, and TensorFlow still
importable for real afterwards in the same process."""

from __future__ import annotations

import subprocess
import sys

import pytest


def _run(code: str) -> str:
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=False
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout


@pytest.mark.slow  # a fresh interpreter
def test_import_leaves_no_tensorflow_behind():
    out = _run(
        "import sys, tfcompare.serving\n"
        "from tfcompare.serving._protos import predict_pb2\n"
        "predict_pb2.PredictRequest().inputs['x'].string_val.append(b'1')\n"
        "print(sorted(k for k in sys.modules if k == 'tensorflow' or k.startswith('tensorflow.')))\n"
    )
    assert out.strip() == "[]"


@pytest.mark.slow
def test_real_tensorflow_import_still_works_afterwards():
    out = _run(
        "import tfcompare.serving\n"
        "from tfcompare.serving._protos import predict_pb2\n"
        "req = predict_pb2.PredictRequest()\n"
        "import tensorflow as tf\n"
        "from tensorflow_serving.apis import predict_pb2 as official\n"
        "req.inputs['x'].CopyFrom(tf.make_tensor_proto([b'abc']))\n"
        "assert official.PredictRequest is predict_pb2.PredictRequest\n"
        "assert 'tensorflow.python' in __import__('sys').modules\n"
        "print(int(tf.reduce_sum(tf.constant([1, 2, 3]))), req.inputs['x'].string_val[0].decode())\n"
    )
    assert out.strip().splitlines()[-1] == "6 abc"
