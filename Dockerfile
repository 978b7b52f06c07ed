# segbridge's daemon in a container; docs/operations.md. Build: docker build -t segbridge .
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /opt/segbridge
COPY pyproject.toml README.md ./
COPY bridge ./bridge
# the project itself, its dependencies pinned by pyproject.toml's ranges
# hadolint ignore=DL3013
RUN pip install ".[postgres,mysql]" \
    && useradd --system --uid 10001 --home-dir /var/lib/segbridge --create-home \
       --shell /usr/sbin/nologin segbridge

COPY deploy/segbridge.container.toml /etc/segbridge/segbridge.toml
COPY mappings /etc/segbridge/mappings
COPY deploy/healthcheck.py /opt/segbridge/healthcheck.py

USER 10001
WORKDIR /var/lib/segbridge
# an SQLite store (store.url = "sqlite:////var/lib/segbridge/segbridge.db") lives here
VOLUME ["/var/lib/segbridge"]

ENTRYPOINT ["segbridge", "--config", "/etc/segbridge/segbridge.toml"]
CMD ["daemon"]
