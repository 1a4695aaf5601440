"""Copy the generated protobuf modules (``*_pb2.py``) out of a TensorFlow wheel: all that the TF
Serving stubs need from TensorFlow (tfcompare.serving._protos loads them without running
TensorFlow's initialiser). Usage: python load-agent-protos.py WHEEL SITE_PACKAGES"""

import sys
import zipfile
from pathlib import Path

wheel, site = sys.argv[1], Path(sys.argv[2])
with zipfile.ZipFile(wheel) as zf:
    for name in zf.namelist():
        if name.endswith("_pb2.py") and name.startswith(("tensorflow/", "tsl/", "xla/")):
            target = site / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(zf.read(name))
