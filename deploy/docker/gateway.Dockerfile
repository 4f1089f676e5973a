# rwkv-gateway: the client entry point (discovery, routing, sessions, streaming proxy)
# Build context: build/bin (binaries from the README's CMake build). See README.md here.
#   podman build --isolation chroot -f deploy/docker/gateway.Dockerfile -t localhost/rwkv-gateway:0.1.0 build/bin
ARG BASE_IMAGE=docker.io/library/debian
ARG BASE_TAG=bookworm-slim
FROM ${BASE_IMAGE}:${BASE_TAG}

RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      ca-certificates libabsl20220623 libcivetweb1 libcpp-httplib0.11 libgrpc++1.51 libgrpc29 \
      libprometheus-cpp-core1.0 libprometheus-cpp-pull1.0 libprotobuf32 libssl3 zlib1g \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 rwkv \
 && useradd --system --uid 10001 --gid rwkv --home-dir /var/lib/rwkv --shell /usr/sbin/nologin rwkv \
 && mkdir -p /var/lib/rwkv \
 && chown rwkv:rwkv /var/lib/rwkv

COPY rwkv-gateway rwkv /usr/local/bin/

LABEL org.opencontainers.image.title="rwkv-gateway" \
      org.opencontainers.image.description="rwkv-gateway: the client entry point (discovery, routing, retries)" \
      org.opencontainers.image.source="rwkv-cluster" \
      org.opencontainers.image.version="0.1.0"

# Workers come from RWKV_WORKERS (host:port,...) or RWKV_WORKER_DNS (NAME:PORT,...).
ENV RWKV_LISTEN=0.0.0.0:50051 \
    RWKV_METRICS_LISTEN=0.0.0.0:9101
EXPOSE 50051 9101
USER 10001:10001
WORKDIR /var/lib/rwkv
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/rwkv-gateway"]
