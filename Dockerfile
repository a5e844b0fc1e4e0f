# heimdallr in a container, Debian 12 (bookworm) in both stages, the same packages scripts/setup
# installs on a developer machine.
#
#   docker build -t heimdallr .
#   docker run --rm -p 8000:8000 heimdallr --config conf/heimdallr.yaml --set bus.plugin=inmem
#                                                     # one node, in-memory bus, on :8000
#   docker-compose up --build                         # Redis + 3 nodes + HAProxy (docker-compose.yml)
#
# The image's working directory holds build/bin/heimdallr, build/plugins/, conf/ and web/, so the
# relative defaults of conf/heimdallr.yaml (bus.plugin_dir, web.root) hold as they do in the repo.
# Arguments after the image name replace CMD and go to heimdallr. The default CMD uses the config's
# own bus (Redis on 127.0.0.1:6379); docker-compose.yml adds --set bus.redis.host=redis.

# ---- build: compilers and -dev packages, tests off -----------------------------------------------
FROM debian:bookworm AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      cmake g++ make pkg-config \
      libpoco-dev libhiredis-dev libyaml-cpp-dev prometheus-cpp-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DHEIMDALLR_BUILD_TESTS=OFF \
 && cmake --build build -j"$(nproc)" \
 && mkdir -p web

# ---- runtime: only the shared libraries the server and its plugins load ---------------------------
# debian:bookworm-slim is Debian 12 like the build stage, without documentation and locales.
FROM debian:bookworm-slim AS runtime
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libpocofoundation80 libpoconet80 libpocoutil80 libpocojson80 libpococrypto80 libpocojwt80 \
      libssl3 libyaml-cpp0.7 libhiredis0.14 libprometheus-cpp-core1.0 \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --no-create-home --home-dir /opt/heimdallr --shell /usr/sbin/nologin heimdallr
WORKDIR /opt/heimdallr
COPY --from=build /src/build/bin/heimdallr build/bin/heimdallr
COPY --from=build /src/build/plugins/*.so build/plugins/
COPY --from=build /src/conf/ conf/
COPY --from=build /src/web/ web/
USER heimdallr
# The default server.port. The compose nodes listen on 8001..8003 instead (--set server.port=...).
EXPOSE 8000
# No HEALTHCHECK here: the port is per deployment. docker-compose.yml checks GET /health per node.
ENTRYPOINT ["build/bin/heimdallr"]
CMD ["--config", "conf/heimdallr.yaml"]
