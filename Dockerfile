# The manifold service as a container image: `docker build -t manifold .`
#
#   docker run -p 8080:8080 -e MANIFOLD_API_TOKENS=<token> -v manifold:/var/lib/manifold manifold
#
# The image listens on 0.0.0.0:8080, where the service refuses to start without API tokens
# (MANIFOLD_API_TOKENS), or MANIFOLD_ALLOW_UNAUTHENTICATED=true on a trusted network. With no
# DATABASE_URL its data is a SQLite file in /var/lib/manifold (a volume). Any flag of
# `manifold serve` may follow the image name; other commands: `--entrypoint manifold`.
# The builder's cache mounts need BuildKit (Docker's default builder since 23.0).
# scripts/check-packaging runs this file's build command and starts the binary as the entry point
# and the healthcheck below do.

# --- builder: the release binary ---
FROM rust:1-bookworm AS builder
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p manifold \
    && install -D -m 0755 target/release/manifold /out/manifold

# --- runtime: the binary, CA certificates and a user of its own ---
FROM debian:bookworm-slim
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 manifold \
    && useradd --system --uid 10001 --gid manifold --home-dir /var/lib/manifold --create-home \
       --shell /usr/sbin/nologin manifold
COPY --from=builder /out/manifold /usr/local/bin/manifold
USER manifold
WORKDIR /var/lib/manifold
VOLUME ["/var/lib/manifold"]
ENV MANIFOLD_ADDR=0.0.0.0:8080
EXPOSE 8080
# /healthz over bash's /dev/tcp (bash is in every Debian image; no curl to install): the port is
# MANIFOLD_ADDR's, asked on 127.0.0.1.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/${MANIFOLD_ADDR##*:} && printf 'GET /healthz HTTP/1.0\\r\\nHost: localhost\\r\\n\\r\\n' >&3 && head -n 1 <&3 | grep -q ' 200 '"]
ENTRYPOINT ["/usr/local/bin/manifold", "serve"]
