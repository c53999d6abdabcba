# Multi-stage build: compile with the Rust toolchain, run from a small
# Debian image as a non-root user.
FROM rust:1-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src src
COPY benches benches
COPY examples examples
COPY schemas schemas
COPY samples samples
COPY web web
RUN cargo build --release --locked --bin callboard

FROM debian:bookworm-slim
RUN useradd --system --uid 10001 --no-create-home callboard \
 && mkdir -p /var/lib/callboard && chown callboard /var/lib/callboard
COPY --from=build /src/target/release/callboard /usr/local/bin/callboard
USER callboard
# The state: the history store's SQLite file (unless --history names a
# PostgreSQL), HTTP ingest's event log and the tokens file.
WORKDIR /var/lib/callboard
VOLUME /var/lib/callboard
# Reachable from the host (`docker run -p 8080:8080 IMAGE`), and so never
# open: at the first start with no token configured, an admin token is
# made, its hash kept in the volume and the token printed once to the log
# (`docker logs`). Mount a config with [[tokens]] (or a tokens file, e.g.
# a secret) to give your own; CALLBOARD_INIT_ADMIN_TOKEN=false to refuse
# to start without them.
ENV CALLBOARD_LISTEN=0.0.0.0:8080 \
    CALLBOARD_TOKENS_FILE=/var/lib/callboard/tokens.toml \
    CALLBOARD_INIT_ADMIN_TOKEN=true
EXPOSE 8080 9100
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["callboard", "probe", "http://127.0.0.1:8080/healthz"]
ENTRYPOINT ["callboard"]
CMD ["serve"]
