# Multi-stage build of the Python strategy.
FROM python:3.11-slim AS build
WORKDIR /src
COPY python-strategy/ python-strategy/
RUN pip wheel --no-deps --wheel-dir /wheels ./python-strategy && pip wheel --wheel-dir /wheels ./python-strategy

FROM python:3.11-slim
WORKDIR /app
COPY --from=build /wheels /wheels
RUN pip install --no-index --find-links /wheels flashcrash && rm -rf /wheels
COPY config/ config/
ENTRYPOINT ["flashcrash", "run", "--config", "config/config.toml"]
