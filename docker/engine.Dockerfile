# Multi-stage build of the Rust binaries (engine, exchange-sim).
FROM rust:1-bookworm AS build
WORKDIR /src
COPY rust-engine/ rust-engine/
COPY config/ config/
RUN cd rust-engine && cargo build --locked --release --bins

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY --from=build /src/rust-engine/target/release/engine /usr/local/bin/engine
COPY --from=build /src/rust-engine/target/release/exchange-sim /usr/local/bin/exchange-sim
COPY config/ config/
COPY data/ data/
ENTRYPOINT ["engine", "--config", "config/config.toml"]
