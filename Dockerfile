# One image for every app service in docker-compose.yml (web, workers, beat, flower, migrate);
# the compose `command` picks the role.
FROM python:3.11-slim AS build

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
# The same wheel tests/integration/test_wheel.py builds and runs from outside the source tree:
# what the image runs is what was tested.
COPY pyproject.toml README.md ./
COPY alerting ./alerting
COPY workers ./workers
RUN pip wheel --no-deps --wheel-dir /dist .

FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

COPY --from=build /dist /dist
RUN pip install /dist/*.whl && rm -rf /dist

# Tenant definitions are read at runtime from ALERTING_TENANTS_DIR=/app/config/tenants.
COPY config ./config

# Run unprivileged; /tmp/metrics is PROMETHEUS_MULTIPROC_DIR and must exist and be writable.
RUN useradd --create-home --uid 10001 --shell /usr/sbin/nologin alerting \
    && mkdir -p /tmp/metrics \
    && chown alerting:alerting /tmp/metrics
USER alerting

EXPOSE 8000 5555
CMD ["alerting", "web"]
