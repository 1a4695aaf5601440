# Serving image: the official TensorFlow Serving image (CPU, or GPU with VARIANT=-gpu) plus a
# batching parameters file and a Prometheus monitoring config, running as a non-root user.
#
#   docker build -f docker/serving.Dockerfile -t REGISTRY/tfs:2.18.0 .
#   docker build -f docker/serving.Dockerfile --build-arg VARIANT=-gpu -t REGISTRY/tfs:2.18.0-gpu .
# Build context: the repository root (the config files live in k8s/base/).

ARG TF_SERVING_VERSION=2.18.0
ARG VARIANT=""
FROM tensorflow/serving:${TF_SERVING_VERSION}${VARIANT}
COPY k8s/base/batching_parameters.txt k8s/base/monitoring.config /config/
ENV MODEL_BASE_PATH=/models MODEL_NAME=inception-v3
USER 10001:10001
EXPOSE 8500 8501
# The image's entrypoint starts tensorflow_model_server with --port=8500 --rest_api_port=8501
# --model_name=$MODEL_NAME --model_base_path=$MODEL_BASE_PATH/$MODEL_NAME and appends these:
CMD ["--enable_batching=true", \
     "--batching_parameters_file=/config/batching_parameters.txt", \
     "--monitoring_config_file=/config/monitoring.config"]
