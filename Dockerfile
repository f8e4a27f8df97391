# dali-stream-worker: Kafka -> DALI (GPU) -> optional Triton model -> Kafka.
#   docker build -t dali-stream-worker .
#   docker run --gpus all -e KAFKA_BOOTSTRAP_SERVERS=broker:9092 dali-stream-worker \
#       run --device gpu --input images --pipeline classify
# The DALI wheel (nvidia-dali-cuda120) brings its own nvJPEG/nvImageCodec; the CUDA 12 runtime
# base brings cudart, and the host's NVIDIA driver (>= 525, CUDA 12 minor-version compatibility)
# comes in through the NVIDIA Container Toolkit.
ARG CUDA_IMAGE=nvidia/cuda:12.8.1-runtime-ubuntu24.04
FROM ${CUDA_IMAGE}

ARG DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 python3-venv ca-certificates tini \
 && rm -rf /var/lib/apt/lists/*

ENV VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python3 -m venv /opt/venv

WORKDIR /app
# Dependencies first (a layer that survives code edits), then the package itself.
COPY pyproject.toml README.md ./
COPY worker/ worker/
RUN pip install --upgrade pip && pip install . && dali-worker --help >/dev/null

# The example pipelines and schemas; docker-compose.yml mounts ./pipelines over them so that
# the exported classifier's labels (and your own pipelines) are seen without a rebuild.
COPY pipelines/ pipelines/
COPY schemas/ schemas/
COPY deploy/worker.toml deploy/worker.toml

RUN groupadd --system --gid 10001 dsw \
 && useradd --system --uid 10001 --gid dsw --home-dir /home/dsw --create-home --shell /usr/sbin/nologin dsw
USER dsw

# nvidia-smi (utility) lets the worker count the visible GPUs; video: NVDEC for video pipelines.
# Defaults the entrypoint reads (worker/config.py: DSW_<FIELD>); compose and `docker run -e`
# override them. DSW_DEVICE=gpu starts DSW_PROCS processes per visible GPU, each pinned with
# CUDA_VISIBLE_DEVICES, all in one consumer group.
ENV NVIDIA_DRIVER_CAPABILITIES=compute,utility,video \
    DSW_REPOSITORY=/app/pipelines \
    DSW_DEVICE=gpu \
    DSW_PROCS=4 \
    DSW_METRICS_PORT=9400
EXPOSE 9400

# /healthz answers while the supervisor runs (no curl in the image: Python's urllib).
HEALTHCHECK --interval=15s --timeout=5s --start-period=120s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('DSW_METRICS_PORT', '9400'), timeout=4)"]

# tini forwards SIGTERM to the worker, which drains (finish batches, publish, commit) and exits;
# give it stop_grace_period > drain_timeout_s (30 s).
ENTRYPOINT ["tini", "--", "dali-worker"]
CMD ["run"]
