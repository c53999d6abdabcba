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
# The history store's SQLite file, unless --history names a PostgreSQL.
WORKDIR /var/lib/callboard
VOLUME /var/lib/callboard
EXPOSE 8080 9100
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["callboard", "probe", "http://127.0.0.1:8080/healthz"]
ENTRYPOINT ["callboard"]
CMD ["serve"]
