# backlog-watch: one container beside the helpdesk, configured by variables alone or by a mounted file.
#   docker build -t backlog-watch .
#   docker run -v bw-data:/data -p 127.0.0.1:8080:8080 -e BW_HTTP_ALLOW_UNAUTHENTICATED=true \
#              -e BW_HELPDESK_TYPE=zendesk -e BW_HELPDESK_URL -e BW_HELPDESK_EMAIL -e BW_HELPDESK_TOKEN \
#              -e BW_SLACK_CHANNEL -e SLACK_BOT_TOKEN backlog-watch
#   (or -v ./config.yaml:/config/backlog-watch.yaml:ro: a mounted config replaces the variables' one)
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
 && /opt/backlog-watch/bin/pip install --no-cache-dir ".[postgres]"

FROM ${BASE}
RUN useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin backlog \
 && mkdir -p /data /config && chown backlog /data
COPY --from=build /opt/backlog-watch /opt/backlog-watch
COPY config /config/examples
# Picks /config/backlog-watch.yaml when mounted, else /config/examples/container-$BW_HELPDESK_TYPE.yaml.
COPY scripts/docker-entrypoint.sh /usr/local/bin/backlog-watch-entrypoint
RUN chmod 0755 /usr/local/bin/backlog-watch-entrypoint
ENV PATH=/opt/backlog-watch/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    BACKLOG_WATCH_CONFIG=/config/backlog-watch.yaml
USER backlog
WORKDIR /data
VOLUME ["/data"]
EXPOSE 8080
# Asks /healthz on the port the config in force listens on (8080 when it cannot tell).
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["backlog-watch-entrypoint", "healthcheck"]
ENTRYPOINT ["backlog-watch-entrypoint"]
CMD ["run"]
