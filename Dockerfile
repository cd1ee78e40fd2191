# backlog-watch: one container beside the helpdesk.
#   docker build -t backlog-watch .
#   docker run -v bw-data:/data -v ./config.yaml:/config/backlog-watch.yaml:ro \
#              -e ZENDESK_API_TOKEN -e SLACK_BOT_TOKEN -p 8080:8080 backlog-watch
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
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["python3", "-c", "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=4).status == 200 else 1)"]
ENTRYPOINT ["backlog-watch", "--log-format", "json"]
CMD ["run"]
