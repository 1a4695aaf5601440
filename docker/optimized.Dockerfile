# Optional: tensorflow_model_server built from source with CPU-specific flags (the original
# experiment's "optimized" builds), in a multi-stage build on the official devel image.
# Takes hours and ~20 GB of disk; choose flags the target nodes support (see `lscpu`).
#
#   docker build -f docker/optimized.Dockerfile -t REGISTRY/tfs:2.18.0-avx2 \
#       --build-arg TF_SERVING_BUILD_OPTIONS="--config=release --copt=-mavx2 --copt=-mfma" .

ARG TF_SERVING_VERSION=2.18.0
FROM tensorflow/serving:${TF_SERVING_VERSION}-devel AS build
ARG TF_SERVING_BUILD_OPTIONS="--config=release --copt=-march=haswell --copt=-mtune=generic"
WORKDIR /tensorflow-serving
RUN bazel build --color=no --curses=no ${TF_SERVING_BUILD_OPTIONS} --verbose_failures \
        --output_filter=DONT_MATCH_ANYTHING \
        tensorflow_serving/model_servers:tensorflow_model_server \
 && cp bazel-bin/tensorflow_serving/model_servers/tensorflow_model_server /usr/local/bin/ \
 && bazel clean --expunge

FROM tensorflow/serving:${TF_SERVING_VERSION}
COPY --from=build /usr/local/bin/tensorflow_model_server /usr/bin/tensorflow_model_server
COPY k8s/base/batching_parameters.txt k8s/base/monitoring.config /config/
ENV MODEL_BASE_PATH=/models MODEL_NAME=inception-v3
USER 10001:10001
EXPOSE 8500 8501
CMD ["--monitoring_config_file=/config/monitoring.config"]
