# backlog-watch: one container beside the helpdesk.
#   docker build -t backlog-watch .
#   docker run -v bw-data:/data -v ./config.yaml:/config/backlog-watch.yaml:ro \
#              -e ZENDESK_API_TOKEN -e SLACK_BOT_TOKEN -p 8080:8080 backlog-watch
#   docker kill -s HUP <container>    reloads the config (a bad one is refused; the old one runs on)
# BASE lets a machine without a registry build on a locally imported image with python3.
ARG BASE=python:3.11-slim

FROM ${BASE} AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY backlog_watch ./backlog_watch
COPY connectors ./connectors
RUN python3 -m venv /opt/backlog-watch \
 && /opt/backlog-watch/bin/pip install --no-cache-dir --upgrade pip \
 && /opt/backlog-watch/bin/pip install --no-cache-dir .

FROM ${BASE}
RUN useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin backlog \
 && mkdir -p /data /config && chown backlog /data
COPY --from=build /opt/backlog-watch /opt/backlog-watch
COPY config /config/examples
ENV PATH=/opt/backlog-watch/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    BACKLOG_WATCH_CONFIG=/config/backlog-watch.yaml
USER backlog
WORKDIR /data
VOLUME ["/data"]
EXPOSE 8080
# Asks /healthz on the port the mounted config listens on (8080 when it cannot tell).
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["backlog-watch", "--log-format", "json", "healthcheck"]
ENTRYPOINT ["backlog-watch", "--log-format", "json"]
CMD ["run"]
