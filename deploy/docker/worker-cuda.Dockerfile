# rwkv-worker with the CUDA backend (needs the NVIDIA container toolkit or device plugin on the node)
# Build context: build/bin (binaries from the README's CMake build). See README.md here.
#   podman build --isolation chroot -f deploy/docker/worker-cuda.Dockerfile -t localhost/rwkv-worker-cuda:0.1.0 build/bin
ARG BASE_IMAGE=docker.io/library/debian
ARG BASE_TAG=bookworm-slim
FROM ${BASE_IMAGE}:${BASE_TAG}

RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      ca-certificates libabsl20220623 libcivetweb1 libgrpc++1.51 libgrpc29 \
      libprometheus-cpp-core1.0 libprometheus-cpp-pull1.0 libprotobuf32 libssl3 zlib1g \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 rwkv \
 && useradd --system --uid 10001 --gid rwkv --home-dir /var/lib/rwkv --shell /usr/sbin/nologin rwkv \
 && mkdir -p /var/lib/rwkv \
 && chown rwkv:rwkv /var/lib/rwkv

# The CUDA runtime the worker was linked against (staged into build/bin/cuda-libs/ by the
# commands in README.md; Debian 12 ships no CUDA 13 runtime). The driver comes from the host.
COPY cuda-libs/ /usr/local/lib/rwkv-cuda/
COPY rwkv-worker rwkv /usr/local/bin/

LABEL org.opencontainers.image.title="rwkv-worker-cuda" \
      org.opencontainers.image.description="rwkv-worker with the CUDA backend (needs the NVIDIA container toolkit or device plugin on the node)" \
      org.opencontainers.image.source="rwkv-cluster" \
      org.opencontainers.image.version="0.1.0"

ENV RWKV_STORAGE_ROOT=/var/lib/rwkv \
    RWKV_LISTEN=0.0.0.0:50052 \
    RWKV_METRICS_LISTEN=0.0.0.0:9102 \
    RWKV_BACKEND=cuda \
    NVIDIA_VISIBLE_DEVICES=all \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility \
    LD_LIBRARY_PATH=/usr/local/lib/rwkv-cuda
VOLUME ["/var/lib/rwkv"]
EXPOSE 50052 9102
USER 10001:10001
WORKDIR /var/lib/rwkv
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/rwkv-worker"]
