#!/usr/bin/env bash
# The container end to end: build the image, run it configured by variables alone (no mounted config)
# against the Zendesk simulator and the Slack stand-in, wait for the HEALTHCHECK to say healthy, see the
# alert in Slack, /api/backlog refuse a request without the board's token and answer one with it, send
# SIGTERM and check it exits 0 within seconds.
#
#   scripts/container-test.sh            (from a checkout whose .venv is installed: `make .venv/.installed`)
#
# Needs a Docker engine. When none answers, it tries to start `dockerd` (as root); when that is not
# possible it prints "SKIPPED: ..." and exits 77, which tests/test_container.py reports as a skip.
# Without a registry for base images (this project's CI), it builds one: debootstrap a Debian rootfs
# with python3, copy the machine's CA bundle in (pip must reach the package index through it), and
# `docker import` it as BASE_IMAGE. Set BASE_IMAGE=python:3.11-slim to use a registry image instead.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PY="${PY:-$ROOT/.venv/bin/python}"
BASE_IMAGE="${BASE_IMAGE:-backlog-watch-base:bookworm}"
IMAGE="${IMAGE:-backlog-watch:container-test}"
# No fixed ports: the simulator binds port 0 and says which; the daemon's port is one the kernel just
# handed out (the container shares the host network, so it cannot report a port it chose itself).
HTTP_PORT="${HTTP_PORT:-}"
SKIP=77
START=$(date +%s)

say() { printf '[container-test %3ss] %s\n' "$(( $(date +%s) - START ))" "$*"; }
skip() { echo "SKIPPED: $*"; exit "$SKIP"; }

engine_up() { docker info >/dev/null 2>&1; }

start_engine() {
    engine_up && return 0
    command -v docker >/dev/null || skip "no docker client (apt-get install -y docker.io)"
    command -v dockerd >/dev/null || skip "no Docker engine (apt-get install -y docker.io)"
    [ "$(id -u)" = 0 ] || skip "no Docker engine answers and starting dockerd needs root"
    say "starting dockerd (stopped again at the end)"
    dockerd >/tmp/backlog-watch-dockerd.log 2>&1 &
    DOCKERD_PID=$!
    for _ in $(seq 1 30); do engine_up && return 0; sleep 1; done
    skip "dockerd did not start within 30s (see /tmp/backlog-watch-dockerd.log)"
}

build_base() {
    docker image inspect "$BASE_IMAGE" >/dev/null 2>&1 && { say "base image $BASE_IMAGE present"; return 0; }
    command -v debootstrap >/dev/null || skip "no base image and no debootstrap to make one (apt-get install -y debootstrap)"
    local rootfs
    rootfs="$(mktemp -d /tmp/backlog-watch-rootfs.XXXXXX)"
    say "debootstrap bookworm with python3 into $rootfs"
    debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
        bookworm "$rootfs" "${DEBIAN_MIRROR:-http://deb.debian.org/debian}" >/tmp/backlog-watch-debootstrap.log 2>&1 \
        || { tail -20 /tmp/backlog-watch-debootstrap.log; rm -rf "$rootfs"; skip "debootstrap failed"; }
    # The machine's CA bundle, so pip inside the build trusts what this machine trusts.
    cp -a /etc/ssl/certs/. "$rootfs/etc/ssl/certs/"
    printf '[global]\ncert = /etc/ssl/certs/ca-certificates.crt\n' >"$rootfs/etc/pip.conf"
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
    tar -C "$rootfs" -c . | docker import - "$BASE_IMAGE" >/dev/null
    rm -rf "$rootfs"
    say "imported $BASE_IMAGE"
}

SIM_PID=""
SLACK_PID=""
CONTAINER=""
DOCKERD_PID=""
WORK="$(mktemp -d /tmp/backlog-watch-ct.XXXXXX)"
cleanup() {
    [ -n "$CONTAINER" ] && docker rm -f "$CONTAINER" >/dev/null 2>&1 || true
    [ -n "$SIM_PID" ] && kill "$SIM_PID" 2>/dev/null || true
    [ -n "$SLACK_PID" ] && kill "$SLACK_PID" 2>/dev/null || true
    docker volume rm -f backlog-watch-ct-data >/dev/null 2>&1 || true
    rm -rf "$WORK"
    if [ -n "$DOCKERD_PID" ]; then kill "$DOCKERD_PID" 2>/dev/null; wait "$DOCKERD_PID" 2>/dev/null || true; fi
}
trap cleanup EXIT

start_engine
build_base

say "docker build (BASE=$BASE_IMAGE)"
docker build --network host --build-arg "BASE=$BASE_IMAGE" --label backlog-watch.container-test=1 \
    -t "$IMAGE" "$ROOT" >"$WORK/build.log" 2>&1 || { tail -30 "$WORK/build.log"; echo "FAILED: docker build"; exit 1; }
# The previous build of this tag is left dangling: remove it (and only images this script labelled).
docker image prune -f --filter label=backlog-watch.container-test=1 >/dev/null
say "image $(docker image inspect -f '{{.Size}}' "$IMAGE" | awk '{printf "%.0f MB", $1/1e6}')"
[ "$(docker image inspect -f '{{.Config.User}}' "$IMAGE")" = "backlog" ] || { echo "FAILED: image runs as root"; exit 1; }

"$PY" -m backlog_watch simulate zendesk --port 0 --tickets 120 >"$WORK/sim.log" 2>&1 &
SIM_PID=$!
for _ in $(seq 1 100); do grep -q "helpdesk block" "$WORK/sim.log" 2>/dev/null && break; sleep 0.2; done
grep -q "helpdesk block" "$WORK/sim.log" || { cat "$WORK/sim.log"; echo "FAILED: the simulator did not start"; exit 1; }
SIM_PORT="$(sed -n 's|.* at http://127\.0\.0\.1:\([0-9]*\).*|\1|p' "$WORK/sim.log" | head -1)"
[ -n "$HTTP_PORT" ] || HTTP_PORT="$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
say "Zendesk simulator on 127.0.0.1:$SIM_PORT, daemon on 127.0.0.1:$HTTP_PORT"

"$PY" -m backlog_watch simulate slack --port 0 >"$WORK/slack.log" 2>&1 &
SLACK_PID=$!
for _ in $(seq 1 100); do grep -q "api_url" "$WORK/slack.log" 2>/dev/null && break; sleep 0.2; done
SLACK_API="$(sed -n 's|.*api_url \(http://127\.0\.0\.1:[0-9]*/api/\).*|\1|p' "$WORK/slack.log" | head -1)"
[ -n "$SLACK_API" ] || { cat "$WORK/slack.log"; echo "FAILED: the Slack stand-in did not start"; exit 1; }
SLACK_TOKEN=xoxb-standin-token  # `simulate slack`'s
WALL_TOKEN="wall-token-$(date +%s%N)"
say "Slack stand-in at $SLACK_API"

# Variables only, no mounted config: the image's default config for BW_HELPDESK_TYPE reads them.
say "docker run (configured by variables alone)"
CONTAINER="$(docker run -d --network host \
    --health-interval 2s --health-start-period 30s --health-timeout 3s \
    -v backlog-watch-ct-data:/data \
    -e BW_HELPDESK_TYPE=zendesk -e BW_HELPDESK_URL="http://127.0.0.1:$SIM_PORT" \
    -e BW_HELPDESK_EMAIL=ops@example.com -e BW_HELPDESK_TOKEN=sim-token \
    -e BW_SLACK_CHANNEL="#support" -e SLACK_BOT_TOKEN="$SLACK_TOKEN" -e BW_SLACK_API_URL="$SLACK_API" \
    -e BW_TIMEZONE=Europe/Paris -e BW_POLL_EVERY=10s -e BW_EVALUATE_EVERY=5s \
    -e BW_HTTP_LISTEN="127.0.0.1:$HTTP_PORT" -e BW_HTTP_TOKEN="$WALL_TOKEN" "$IMAGE")"

for _ in $(seq 1 60); do
    health="$(docker inspect -f '{{.State.Health.Status}}' "$CONTAINER")"
    [ "$health" = healthy ] && break
    [ "$(docker inspect -f '{{.State.Running}}' "$CONTAINER")" = true ] || break
    sleep 1
done
if [ "$health" != healthy ]; then docker logs "$CONTAINER" 2>&1 | tail -30; echo "FAILED: not healthy ($health)"; exit 1; fi
say "HEALTHCHECK: healthy"

alert=""
for _ in $(seq 1 60); do  # the default config's aging rule (the simulator's oldest are weeks old), in the Slack stand-in
    posted="$(curl -s -H "Authorization: Bearer $SLACK_TOKEN" "${SLACK_API}conversations.history?channel=support" || true)"
    alert="$(grep -o '\[CRITICAL\] aging-tickets[^"]*' <<<"$posted" | head -1 || true)"
    [ -n "$alert" ] && break
    sleep 1
done
[ -n "$alert" ] || { docker logs "$CONTAINER" 2>&1 | tail -30; echo "FAILED: no alert in Slack"; exit 1; }
say "alert in Slack: $alert"
err="$(docker logs "$CONTAINER" 2>&1 >/dev/null)"
"$PY" -c 'import json,sys
lines = [l for l in sys.stdin.read().splitlines() if l.strip()]
assert lines and all("level" in json.loads(l) for l in lines), lines[:3]' <<<"$err" \
    || { echo "FAILED: log lines are not JSON"; exit 1; }
say "log lines are JSON"

board="http://127.0.0.1:$HTTP_PORT/api/backlog"
denied="$(curl -s -o /dev/null -w '%{http_code}' "$board")"
allowed="$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $WALL_TOKEN" "$board")"
[ "$denied" = 401 ] && [ "$allowed" = 200 ] || { echo "FAILED: /api/backlog gave $denied without and $allowed with the token"; exit 1; }
say "/api/backlog: 401 without the token, 200 with it"

say "SIGTERM"
T0=$(date +%s%N)
docker kill -s TERM "$CONTAINER" >/dev/null
code="$(timeout 20 docker wait "$CONTAINER")" || { echo "FAILED: still running 20s after SIGTERM"; exit 1; }
ELAPSED_MS=$(( ($(date +%s%N) - T0) / 1000000 ))
[ "$code" = 0 ] || { docker logs "$CONTAINER" 2>&1 | tail -20; echo "FAILED: exit code $code after SIGTERM"; exit 1; }
[ "$ELAPSED_MS" -lt 10000 ] || { echo "FAILED: SIGTERM took ${ELAPSED_MS} ms"; exit 1; }
grep -q '"stopping"' <<<"$(docker logs "$CONTAINER" 2>&1)" || { echo "FAILED: no clean stop logged"; exit 1; }
say "stopped with exit 0 in ${ELAPSED_MS} ms"
echo "PASSED: container-test in $(( $(date +%s) - START ))s"
