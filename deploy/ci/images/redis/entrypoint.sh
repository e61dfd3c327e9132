#!/bin/sh
# As the official image does: without a config file, redis-server listens on every interface of
# the container with protected mode off (the container network is the boundary).
set -e
if [ "$1" = redis-server ] && ! printf '%s\n' "$@" | grep -q -- '--protected-mode'; then
    case "$2" in
        *.conf) ;;
        *) set -- "$@" --protected-mode no ;;
    esac
fi
exec "$@"
