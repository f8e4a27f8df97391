# dali-stream-worker: Kafka -> DALI (GPU) -> optional Triton model -> Kafka.
#   docker build -t dali-stream-worker .
#   docker run --gpus all -e KAFKA_BOOTSTRAP_SERVERS=broker:9092 dali-stream-worker \
#       run --device gpu --input images --pipeline classify
#
# Versions come from versions.toml (checked by tests/unit/test_version_matrix.py). The base is
# plain Debian 12, not a CUDA image: DALI's CUDA 12 wheel brings its own CUDA libraries
# (nvJPEG, nvImageCodec, NPP, cudart), and the host's driver comes in through the NVIDIA
# Container Toolkit. So the image needs no newer driver than DALI itself (>= 525.60.13); an
# nvidia/cuda:12.x base would add NVIDIA_REQUIRE_CUDA=cuda>=12.x and refuse older drivers.
ARG BASE_IMAGE=debian:bookworm-slim

# -- build stage: the locked dependencies in a layer of their own, then the package -----------
FROM ${BASE_IMAGE} AS build
ARG DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 python3-venv ca-certificates \
 && rm -rf /var/lib/apt/lists/*
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PYTHONDONTWRITEBYTECODE=1
RUN python3 -m venv /opt/venv
# requirements.lock (every dependency with its hashes, from deploy/lock.sh) before the code: this
# layer, with its ~1.3 GB of wheels, is rebuilt only when the lock changes, not on a code edit.
# .pip-ca.pem, when the build context has one (gitignored; the pattern matches nothing otherwise),
# is the CA bundle of a proxy between pip and the package index, as where CI runs: this stage
# uses it, the final stage copies the venv and never the certificate.
COPY requirements.lock .pip-ca.pe[m] /tmp/build/
RUN if [ -s /tmp/build/.pip-ca.pem ]; then export PIP_CERT=/tmp/build/.pip-ca.pem; fi \
 && /opt/venv/bin/pip install --require-hashes --no-deps -r /tmp/build/requirements.lock
COPY pyproject.toml README.md /src/
COPY worker/ /src/worker/
RUN if [ -s /tmp/build/.pip-ca.pem ]; then export PIP_CERT=/tmp/build/.pip-ca.pem; fi \
 && /opt/venv/bin/pip install --no-deps /src \
 && /opt/venv/bin/dali-worker --help >/dev/null

# -- final stage: Python, tini, the venv and the repository files; no compiler, no pip cache ---
FROM ${BASE_IMAGE}
ARG DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 ca-certificates tini \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /opt/venv /opt/venv
ENV VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1

WORKDIR /app
# The example pipelines and schemas; docker-compose.yml mounts ./pipelines over them so that
# the exported classifier's labels (and your own pipelines) are seen without a rebuild.
COPY pipelines/ pipelines/
COPY schemas/ schemas/
COPY deploy/worker.toml deploy/worker.toml

RUN groupadd --system --gid 10001 dsw \
 && useradd --system --uid 10001 --gid dsw --home-dir /home/dsw --create-home --shell /usr/sbin/nologin dsw
USER dsw

# The NVIDIA Container Toolkit reads these: every GPU, and the driver parts the worker uses
# (compute; utility: nvidia-smi and NVML, which count the GPUs and feed the dashboard's GPU
# panels; video: NVDEC for video pipelines). Defaults the entrypoint reads (worker/config.py:
# DSW_<FIELD>); compose and `docker run -e` override them. DSW_DEVICE=gpu starts DSW_PROCS
# processes per visible GPU, each pinned with CUDA_VISIBLE_DEVICES, all in one consumer group.
# In a container the metrics endpoint must listen beyond loopback to be scraped or published.
ENV NVIDIA_VISIBLE_DEVICES=all \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility,video \
    DSW_REPOSITORY=/app/pipelines \
    DSW_DEVICE=gpu \
    DSW_PROCS=4 \
    DSW_METRICS_HOST=0.0.0.0 \
    DSW_METRICS_PORT=9400
EXPOSE 9400

# /healthz answers while the supervisor runs (no curl in the image: Python's urllib).
HEALTHCHECK --interval=15s --timeout=5s --start-period=120s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('DSW_METRICS_PORT', '9400'), timeout=4)"]

# tini forwards SIGTERM to the worker, which drains (finish batches, publish, commit) and exits;
# give it stop_grace_period > drain_timeout_s (30 s).
ENTRYPOINT ["tini", "--", "dali-worker"]
CMD ["run"]
