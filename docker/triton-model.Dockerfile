# Model image for Triton (k8s/overlays/triton): the repository's version folder
# /models/<MODEL_NAME>/<VERSION>/model.savedmodel/, the same SavedModel `tfcompare export-model`
# writes for TF Serving (inception-v3: encoded image bytes in, decoded in the server). The
# overlay's init container copies it next to config.pbtxt (k8s/overlays/triton/config.pbtxt).
#
#   docker build -f docker/triton-model.Dockerfile -t REGISTRY/tfcompare-triton-model:0.1.0 .
# Build context: the repository root. inception-v3 downloads ImageNet weights during the build.
#
# Triton 25.02's TensorFlow backend runs TensorFlow 2.17 (the last release with the backend; see
# Triton's 25.02 release notes): the model is exported with that version, so the graph uses no op
# the server's TensorFlow lacks.

ARG PYTHON_VERSION=3.11
FROM python:${PYTHON_VERSION}-slim AS export
ARG MODEL=inception-v3
ARG MODEL_NAME=${MODEL}
ARG VERSION=1
ARG EXPORT_ARGS=""
# keep TRITON_TF_VERSION equal to the TensorFlow of the Triton image that serves the model
ARG TRITON_TF_VERSION=2.17.0
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 TF_CPP_MIN_LOG_LEVEL=2 CUDA_VISIBLE_DEVICES=-1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY desktop ./desktop
COPY resources ./resources
RUN pip install "tensorflow==${TRITON_TF_VERSION}" "tensorflow-serving-api==${TRITON_TF_VERSION}" . \
 && tfcompare export-model "${MODEL}" "/export/${MODEL_NAME}" --version "${VERSION}" ${EXPORT_ARGS} \
 && mkdir -p "/models/${MODEL_NAME}/${VERSION}" \
 && mv "/export/${MODEL_NAME}/${VERSION}" "/models/${MODEL_NAME}/${VERSION}/model.savedmodel" \
 && test -f "/models/${MODEL_NAME}/${VERSION}/model.savedmodel/saved_model.pb"

FROM busybox:1.36.1
COPY --from=export /models /models
USER 1000:1000
# the init container runs: cp -R /models/. /shared/ (then adds config.pbtxt)
CMD ["ls", "-R", "/models"]
