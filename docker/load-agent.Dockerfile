# Load agent for in-cluster capacity sweeps (`tfcompare load --in-cluster`): runs
# `tfcompare load --agent /etc/tfcompare/plan` in the pods of the load Job. Client only: Python,
# gRPC, protobuf, aiohttp, HdrHistogram, tfcompare and the TF Serving stubs; from TensorFlow only
# its generated *_pb2.py files (no runtime, no Qt). Non-root, works on a read-only root filesystem.
#
#   docker build -f docker/load-agent.Dockerfile -t REGISTRY/tfcompare-load-agent:0.1 .
# Build context: the repository root.

ARG PYTHON_VERSION=3.11
ARG TF_VERSION=2.18.0

FROM python:${PYTHON_VERSION}-slim AS build
ARG PYTHON_VERSION
ARG TF_VERSION
WORKDIR /src
COPY pyproject.toml README.md ./
COPY desktop desktop
COPY resources resources
COPY docker/load-agent-requirements.txt docker/load-agent-protos.py /tmp/
RUN pip install --no-cache-dir --prefix=/install -r /tmp/load-agent-requirements.txt \
 && pip install --no-cache-dir --prefix=/install --no-deps \
        "tensorflow-serving-api==${TF_VERSION}" /src \
 && pip download --no-cache-dir --no-deps --dest /tmp/tf "tensorflow-cpu==${TF_VERSION}" \
 && python /tmp/load-agent-protos.py /tmp/tf/tensorflow_cpu-*.whl \
        "/install/lib/python${PYTHON_VERSION}/site-packages"

FROM python:${PYTHON_VERSION}-slim
COPY --from=build /install /usr/local
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
USER 10001:10001
WORKDIR /tmp
CMD ["tfcompare", "load", "--help"]
