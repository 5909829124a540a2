#!/usr/bin/env bash
# Run a local pgbouncer in transaction mode in front of the local Postgres, the way
# production reaches Supabase's pooler: tests and CI use it to prove the Postgres
# adapter works without session state (no server-side prepared statements, no SET).
#
#   bash scripts/pgbouncer.sh start [DIR]   install if missing, write config, start (idempotent)
#   bash scripts/pgbouncer.sh stop  [DIR]   stop the pgbouncer this script started
#
# DIR (default $PGBOUNCER_DIR or /tmp/csvbot-pgbouncer) holds config, auth file, log and pid.
# Environment: PGBOUNCER_PORT (6432), PGBOUNCER_UPSTREAM_HOST (127.0.0.1),
# PGBOUNCER_UPSTREAM_PORT (5432), PGBOUNCER_USER (postgres): the database user clients
# log in as; PGBOUNCER_OS_USER: the system user pgbouncer runs as when started by root
# (pgbouncer refuses root; default: the database user if it is a system user other
# than root, else postgres, else nobody).
set -euo pipefail

cmd="${1:-}"
dir="${2:-${PGBOUNCER_DIR:-/tmp/csvbot-pgbouncer}}"
port="${PGBOUNCER_PORT:-6432}"
upstream_host="${PGBOUNCER_UPSTREAM_HOST:-127.0.0.1}"
upstream_port="${PGBOUNCER_UPSTREAM_PORT:-5432}"
db_user="${PGBOUNCER_USER:-postgres}"
pidfile="$dir/pgbouncer.pid"
os_user="${PGBOUNCER_OS_USER:-}"

log() { echo "pgbouncer.sh: $*" >&2; }

listening() {
    # A TCP connect succeeds only if something accepts on the port.
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null
}

our_pid() {
    # The pid of the pgbouncer started from $dir, if it is still alive.
    [[ -f "$pidfile" ]] || return 1
    local pid
    pid="$(cat "$pidfile")"
    [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null && echo "$pid"
}

install_if_missing() {
    if command -v pgbouncer >/dev/null 2>&1 || [[ -x /usr/sbin/pgbouncer ]]; then
        return
    fi
    if [[ "$(id -u)" != 0 ]]; then
        log "pgbouncer is not installed and installing it needs root (apt-get install pgbouncer)"
        exit 1
    fi
    log "installing pgbouncer"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq pgbouncer >/dev/null
    # The distro package may start its own instance (md5 auth, session mode) on the same
    # port where an init system exists; ours replaces it.
    if command -v service >/dev/null 2>&1; then
        service pgbouncer stop >/dev/null 2>&1 || true
    fi
}

write_config() {
    mkdir -p "$dir"
    # trust auth still needs the user listed in the auth file.
    printf '"%s" ""\n' "$db_user" >"$dir/userlist.txt"
    cat >"$dir/pgbouncer.ini" <<EOF
[databases]
* = host=$upstream_host port=$upstream_port

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $port
unix_socket_dir =
auth_type = trust
auth_file = $dir/userlist.txt
admin_users = $db_user
pool_mode = transaction
max_client_conn = 500
default_pool_size = 20
; psycopg may send these; in transaction mode they could not apply to a server
; connection anyway, so the adapter sets its timeouts per transaction instead.
ignore_startup_parameters = extra_float_digits,options
logfile = $dir/pgbouncer.log
pidfile = $pidfile
EOF
}

run_as_user() {
    # The unprivileged system user to run pgbouncer as, when we are root.
    if [[ -n "$os_user" ]]; then
        echo "$os_user"
        return
    fi
    local candidate
    for candidate in "$db_user" postgres nobody; do
        if [[ "$candidate" != root ]] && id -u "$candidate" >/dev/null 2>&1; then
            echo "$candidate"
            return
        fi
    done
    log "running as root and no unprivileged user to run pgbouncer as (set PGBOUNCER_OS_USER)"
    exit 1
}

start() {
    if listening; then
        if pid="$(our_pid)"; then
            log "already running (pid $pid) on 127.0.0.1:$port"
        else
            log "something already listens on 127.0.0.1:$port; leaving it alone"
        fi
        return 0
    fi
    install_if_missing
    write_config
    local bin
    bin="$(command -v pgbouncer || echo /usr/sbin/pgbouncer)"
    if [[ "$(id -u)" == 0 ]]; then
        # pgbouncer refuses to run as root: drop to an unprivileged system user, which
        # need not be the database user (that one may well be called root).
        local user
        user="$(run_as_user)"
        chown -R "$user" "$dir"
        "$bin" -d -u "$user" "$dir/pgbouncer.ini"
    else
        "$bin" -d "$dir/pgbouncer.ini"
    fi
    for _ in $(seq 1 50); do
        if listening; then
            log "started (pid $(cat "$pidfile")) on 127.0.0.1:$port, pool_mode=transaction"
            return 0
        fi
        sleep 0.1
    done
    log "did not start listening on 127.0.0.1:$port; log follows"
    tail -n 20 "$dir/pgbouncer.log" >&2 || true
    exit 1
}

stop() {
    local pid
    if ! pid="$(our_pid)"; then
        log "not running from $dir"
        return 0
    fi
    kill -TERM "$pid"
    for _ in $(seq 1 50); do
        kill -0 "$pid" 2>/dev/null || { log "stopped (pid $pid)"; rm -f "$pidfile"; return 0; }
        sleep 0.1
    done
    log "pid $pid did not exit after SIGTERM"
    exit 1
}

case "$cmd" in
start) start ;;
stop) stop ;;
*)
    echo "usage: bash scripts/pgbouncer.sh start|stop [DIR]" >&2
    exit 2
    ;;
esac
