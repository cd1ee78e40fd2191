#!/bin/sh
# The image's entrypoint (and its HEALTHCHECK's): runs backlog-watch with the config a mounted file
# gives, or else the image's default for $BW_HELPDESK_TYPE, which reads every site-specific value from
# variables (/config/examples/container-<type>.yaml). One default file per type, because a Zendesk,
# a Freshdesk and a Jira block have different keys and a config refuses keys its type does not know.
set -eu
CONFIG="${BACKLOG_WATCH_CONFIG:-/config/backlog-watch.yaml}"
if [ ! -e "$CONFIG" ]; then
    TYPE="${BW_HELPDESK_TYPE:-zendesk}"
    case "$TYPE" in
        zendesk|freshdesk|jira) CONFIG="/config/examples/container-$TYPE.yaml" ;;
        *)
            echo "BW_HELPDESK_TYPE=$TYPE: choose zendesk, freshdesk or jira (or mount a config at $CONFIG)" >&2
            exit 2
            ;;
    esac
fi
export BACKLOG_WATCH_CONFIG="$CONFIG"
exec backlog-watch --log-format json "$@"
