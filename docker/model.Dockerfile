# Model image: /models/<MODEL_NAME>/<VERSION>/ (TF Serving's base path layout), built by
# `tfcompare export-model`. The k8s/ init container copies it into the serving pod.
#
#   docker build -f docker/model.Dockerfile -t REGISTRY/tfcompare-model:0.1.0 \
#       --build-arg MODEL=inception-v3 .
# Build context: the repository root. inception-v3 downloads ImageNet weights during the build.

ARG PYTHON_VERSION=3.11
FROM python:${PYTHON_VERSION}-slim AS export
ARG MODEL=inception-v3
ARG MODEL_NAME=${MODEL}
ARG VERSION=1
ARG EXPORT_ARGS=""
# keep TF_VERSION equal to the TF Serving version the model is served with
ARG TF_VERSION=2.18.0
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 TF_CPP_MIN_LOG_LEVEL=2 CUDA_VISIBLE_DEVICES=-1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY desktop ./desktop
COPY resources ./resources
RUN pip install "tensorflow==${TF_VERSION}" "tensorflow-serving-api==${TF_VERSION}" . \
 && tfcompare export-model "${MODEL}" "/models/${MODEL_NAME}" --version "${VERSION}" ${EXPORT_ARGS} \
 && test -f "/models/${MODEL_NAME}/${VERSION}/saved_model.pb"

FROM busybox:1.36.1
COPY --from=export /models /models
USER 10001:10001
# the init container runs: cp -R /models/. /shared/
CMD ["ls", "-R", "/models"]
