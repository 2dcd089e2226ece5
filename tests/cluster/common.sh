# Shared by tests/cluster/up and tests/cluster/down: names, addresses, process helpers.
# shellcheck shell=bash

RV_MINI=${RV_MINI:-/var/lib/rv-mini}
TEST_USER=${RV_MINI_USER:-rvtest}
# Another cluster user, with jobs on the same nodes (never logs in over SSH): what a
# shared node's neighbour can and cannot see of the test user's processes and ports.
OTHER_USER=${RV_MINI_OTHER_USER:-rvother}
OTHER_ACCOUNT=otherlab
SSH_PORT=${RV_MINI_SSH_PORT:-22022}
ACCOUNTS="mylab_paid mylab_std"
# A private subnet that exists only on this machine: a blackhole route makes sure
# nothing addressed to it can leave through the default route.
SUBNET=10.213.0
BRIDGE=rvbr0
# Wider than the bridge's /24, so the bridge route wins and the rest goes nowhere.
BLACKHOLE=10.213.0.0/16
BRIDGE_IP=$SUBNET.1
HOSTS_BEGIN="# >>> mini-rivanna nodes >>>"
HOSTS_END="# <<< mini-rivanna nodes <<<"
NODES_TSV=${NODES_TSV:-$(dirname "${BASH_SOURCE[0]}")/nodes.tsv}

log() { echo "mini-rivanna: $*" >&2; }
die() {
    echo "mini-rivanna: error: $*" >&2
    exit 1
}

node_rows() { grep -v '^#' "$NODES_TSV" | grep -v '^[[:space:]]*$'; }

pidfile() { echo "$RV_MINI/pids/$1.pid"; }

# alive NAME: the process `up` started under NAME is still running.
alive() {
    local f pid
    f=$(pidfile "$1")
    [ -f "$f" ] || return 1
    pid=$(cat "$f")
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null
}

# spawn NAME CMD...: start CMD detached, in the foreground mode of the daemon, and
# record its PID so `down` stops exactly what `up` started.
spawn() {
    local name=$1
    shift
    setsid "$@" </dev/null >>"$RV_MINI/logs/$name.log" 2>&1 &
    echo $! >"$(pidfile "$name")"
}

# wait_for WHAT SECONDS CMD...: poll CMD until it succeeds.
wait_for() {
    local what=$1 limit=$2
    shift 2
    local deadline=$((SECONDS + limit))
    until "$@" >/dev/null 2>&1; do
        [ $SECONDS -ge $deadline ] && die "$what did not come up in ${limit}s; logs in $RV_MINI/logs and /var/log/slurm"
        sleep 0.3
    done
}

db_password() {
    local f=$RV_MINI/etc/db.secret
    [ -f "$f" ] || (umask 077 && head -c 18 /dev/urandom | base64 | tr -d '/+=' >"$f")
    cat "$f"
}
