#!/usr/bin/env bash
# Run a command against a real, throwaway Secret Service.
#
# Usage: tests/support/secret-service-session.sh CMD [ARGS...]
#
# Starts a private D-Bus session bus (dbus-run-session) and, on it, a
# gnome-keyring-daemon that serves only org.freedesktop.secrets. The daemon
# gets a fresh temporary data, runtime and home directory on every run, and a
# random password on stdin, so it creates a new "login" collection, unlocks it
# and makes it the "default" alias. The script checks that with a store,
# lookup and clear round trip through secret-tool, then runs CMD with:
#
#   DBUS_SESSION_BUS_ADDRESS          the private bus (set by dbus-run-session)
#   XDG_RUNTIME_DIR, XDG_DATA_HOME,   fresh directories under the temporary
#   XDG_CONFIG_HOME, XDG_CACHE_HOME   state directory, deleted on exit
#   BIGANIMAL_TEST_SECRET_SERVICE=1   marks that a real Secret Service is on
#                                     the bus
#
# HOME is left alone so that cargo and rustup keep finding their files. Only
# the daemon gets the temporary home. DISPLAY and WAYLAND_DISPLAY are removed,
# so anything that would need a prompt (creating a collection, unlocking)
# fails at once instead of opening a window.
#
# The private bus has no service directories, so nothing is started by D-Bus
# activation: if the daemon dies, clients see that no Secret Service is on
# the bus, rather than a second, locked daemon that activation would start.
# When the daemon is found dead after CMD, the script prints its exit status
# and the end of its log on stderr, and exits with a failure status.
#
# Exit status: the status of CMD, or 125 with one line on stderr when the
# session cannot be brought up (the same convention as env(1) and timeout(1)).
# Needs: dbus-daemon (dbus-run-session), dbus-bin (dbus-send), gnome-keyring,
# libsecret-tools (secret-tool), coreutils. Works as root or as another user,
# without an X display or a systemd user session.
#
# SECRET_SERVICE_SESSION_TIMEOUT sets how long, in seconds, to wait for the
# daemon to come up (default 10).

set -euo pipefail

readonly program_name=secret-service-session
readonly setup_failure_status=125

# Print one error line and exit with status 125. In the inner phase the
# message is also written to the state directory, so the outer phase does not
# report the failure a second time.
die() {
    printf '%s: %s\n' "$program_name" "$*" >&2
    if [[ -n "${SECRET_SERVICE_SESSION_STATE:-}" && -d "${SECRET_SERVICE_SESSION_STATE}" ]]; then
        printf '%s\n' "$*" >"$SECRET_SERVICE_SESSION_STATE/setup-error"
    fi
    exit "$setup_failure_status"
}

# Print "; last line of NAME output: LINE" for the last non-empty line of
# log file $2, or nothing when the log is empty.
log_suffix() {
    local line=
    [[ -s "$2" ]] && line=$(grep -v '^[[:space:]]*$' "$2" | tail -n 1 || true)
    [[ -n "$line" ]] && printf '; last line of %s output: %s' "$1" "$line"
    return 0
}

# ---------------------------------------------------------------------------
# Inner phase: runs on the private bus, started by dbus-run-session below.
# ---------------------------------------------------------------------------

# Return 0 when the bus name org.freedesktop.secrets has an owner. Uses
# NameHasOwner, which does not start the service through D-Bus activation.
secrets_name_has_owner() {
    local reply
    reply=$(dbus-send --session --print-reply=literal --dest=org.freedesktop.DBus \
        /org/freedesktop/DBus org.freedesktop.DBus.NameHasOwner \
        string:org.freedesktop.secrets 2>/dev/null) || return 1
    [[ "$reply" == *true* ]]
}

# Print the object path of the collection behind the "default" alias, or "/"
# when the alias is not set.
default_collection_path() {
    local reply
    reply=$(dbus-send --session --print-reply=literal --dest=org.freedesktop.secrets \
        /org/freedesktop/secrets org.freedesktop.Secret.Service.ReadAlias \
        string:default 2>/dev/null) || return 1
    printf '%s\n' "${reply//[[:space:]]/}"
}

# Return 0 when the collection at object path $1 reports Locked = false.
collection_is_unlocked() {
    local reply
    reply=$(dbus-send --session --print-reply=literal --dest=org.freedesktop.secrets \
        "$1" org.freedesktop.DBus.Properties.Get \
        string:org.freedesktop.Secret.Collection string:Locked 2>/dev/null) || return 1
    [[ "$reply" == *"boolean false"* ]]
}

stop_daemon() {
    local pid=${daemon_pid:-}
    [[ -n "$pid" ]] || return 0
    daemon_pid=

    kill -TERM "$pid" 2>/dev/null || return 0
    # Give the daemon up to 2 s to write its keyring file and exit.
    local attempt
    for ((attempt = 0; attempt < 40; attempt++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.05
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

run_inner() {
    local state=$SECRET_SERVICE_SESSION_STATE
    local daemon_log="$state/gnome-keyring-daemon.log"
    local timeout_seconds=${SECRET_SERVICE_SESSION_TIMEOUT:-10}

    [[ -n "${DBUS_SESSION_BUS_ADDRESS:-}" ]] ||
        die "dbus-run-session did not set DBUS_SESSION_BUS_ADDRESS"

    daemon_pid=
    trap stop_daemon EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM

    # A random password for the new login keyring. It never appears on a
    # command line: printf is a shell builtin and the daemon reads stdin.
    local password
    password=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
    [[ ${#password} -eq 32 ]] || die "failed to read 16 random bytes from /dev/urandom"

    # --foreground keeps the daemon a child of this shell, so $! is its pid.
    # --unlock reads the password from stdin and creates the login keyring,
    # which is missing because the data directory is new.
    printf '%s' "$password" |
        HOME="$state/home" gnome-keyring-daemon --foreground --unlock --components=secrets \
            >"$daemon_log" 2>&1 &
    daemon_pid=$!
    unset password

    # Wait until the daemon owns the bus name and the default collection is
    # unlocked. Both are checked in one loop, so the order in which the daemon
    # does them does not matter.
    local collection=
    # EPOCHREALTIME (bash 5) without its decimal separator is the time in
    # microseconds.
    local deadline=$((${EPOCHREALTIME//[!0-9]/} + timeout_seconds * 1000000))
    while :; do
        if ! kill -0 "$daemon_pid" 2>/dev/null; then
            local exit_status=0
            wait "$daemon_pid" || exit_status=$?
            daemon_pid=
            die "gnome-keyring-daemon exited with status $exit_status before it served org.freedesktop.secrets$(log_suffix gnome-keyring-daemon "$daemon_log")"
        fi
        if secrets_name_has_owner; then
            collection=$(default_collection_path) || collection=
            if [[ "$collection" == /org/freedesktop/secrets/collection/* ]] &&
                collection_is_unlocked "$collection"; then
                break
            fi
        fi
        if ((${EPOCHREALTIME//[!0-9]/} >= deadline)); then
            local observed="org.freedesktop.secrets has no owner on the bus"
            if [[ "$collection" == /org/freedesktop/secrets/collection/* ]]; then
                observed="default collection $collection is locked"
            elif secrets_name_has_owner; then
                observed="the default alias points to no collection"
            fi
            die "timed out after ${timeout_seconds} s waiting for gnome-keyring-daemon: $observed$(log_suffix gnome-keyring-daemon "$daemon_log")"
        fi
        sleep 0.05
    done

    # Store, read back and clear one item through libsecret, as a client
    # would. timeout bounds each call in case the daemon stops responding.
    local probe_value probe_read
    probe_value="probe-$$-$RANDOM"
    timeout 10 secret-tool store --label="secret-service-session probe" \
        secret-service-session probe <<<"$probe_value" ||
        die "secret-tool store into collection $collection failed: the Secret Service is up but does not accept items"
    probe_read=$(timeout 10 secret-tool lookup secret-service-session probe) ||
        die "secret-tool lookup of the probe item in collection $collection failed"
    [[ "$probe_read" == "$probe_value" ]] ||
        die "secret-tool lookup returned a different value than was stored in collection $collection"
    timeout 10 secret-tool clear secret-service-session probe ||
        die "secret-tool clear of the probe item in collection $collection failed"

    export BIGANIMAL_TEST_SECRET_SERVICE=1
    unset SECRET_SERVICE_SESSION_STATE SECRET_SERVICE_SESSION_TIMEOUT

    # Marks for the outer phase that setup succeeded, so any exit status from
    # here on is CMD's.
    : >"$state/command-started"

    local command_status=0
    "$@" || command_status=$?

    if ! kill -0 "$daemon_pid" 2>/dev/null; then
        local daemon_status=0
        wait "$daemon_pid" || daemon_status=$?
        daemon_pid=
        printf '%s: gnome-keyring-daemon exited with status %s while the command ran; the last lines of its log:\n' \
            "$program_name" "$daemon_status" >&2
        tail -n 20 "$daemon_log" | sed 's/^/    /' >&2
        ((command_status != 0)) || command_status=1
    fi
    stop_daemon
    exit "$command_status"
}

# ---------------------------------------------------------------------------
# Outer phase: creates the temporary state and starts the private bus.
# ---------------------------------------------------------------------------

run_outer() {
    if [[ $# -eq 0 ]]; then
        printf 'usage: %s CMD [ARGS...]\n' "$0" >&2
        exit 2
    fi

    local tool package missing=()
    for tool in dbus-run-session:dbus-daemon dbus-daemon:dbus-daemon dbus-send:dbus-bin \
        gnome-keyring-daemon:gnome-keyring secret-tool:libsecret-tools timeout:coreutils; do
        package=${tool#*:}
        tool=${tool%%:*}
        command -v "$tool" >/dev/null 2>&1 || missing+=("$tool (Debian package $package)")
    done
    if [[ ${#missing[@]} -gt 0 ]]; then
        die "missing commands: ${missing[*]}. Install them with apt-get."
    fi

    if [[ -n "${SECRET_SERVICE_SESSION_TIMEOUT:-}" && ! "$SECRET_SERVICE_SESSION_TIMEOUT" =~ ^[1-9][0-9]*$ ]]; then
        die "invalid SECRET_SERVICE_SESSION_TIMEOUT '$SECRET_SERVICE_SESSION_TIMEOUT': expected a whole number of seconds greater than 0"
    fi

    local script
    script=$(readlink -f "${BASH_SOURCE[0]}")

    local state
    state=$(mktemp -d "${TMPDIR:-/tmp}/secret-service-session.XXXXXX") ||
        die "failed to create a temporary directory under ${TMPDIR:-/tmp}"
    # shellcheck disable=SC2064 # expand $state now, while it is set
    trap "rm -rf -- '$state'" EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM

    mkdir -m 0700 "$state/runtime" "$state/data" "$state/config" "$state/cache" "$state/home"

    # gnome-keyring-daemon puts its control socket at
    # $XDG_RUNTIME_DIR/keyring/control, and a Unix socket path must fit in
    # 108 bytes on Linux.
    if [[ ${#state} -gt 80 ]]; then
        die "temporary directory path '$state' is too long for a Unix socket path. Set TMPDIR to a shorter directory."
    fi

    # dbus-daemon, started as root without CAP_SYS_RESOURCE, warns on every
    # start that it cannot raise its file descriptor limit to 65536. It runs
    # fine with the current limit, so this wrapper drops that one line and
    # passes every other message through. dbus-run-session reads the bus
    # address from a pipe until end of file, and the filter inherits that
    # pipe. So the filter closes every descriptor above 2 before grep starts,
    # or the session would hang.
    cat >"$state/dbus-daemon" <<'EOF'
#!/usr/bin/env bash
filter_stderr() {
    local fd
    for fd in /proc/self/fd/*; do
        fd=${fd##*/}
        if ((fd > 2)); then
            exec {fd}>&-
        fi
    done 2>/dev/null
    exec grep -v --line-buffered 'Failed to set fd limit' >&2
}
exec dbus-daemon "$@" 2> >(filter_stderr)
EOF
    chmod 0700 "$state/dbus-daemon"

    # The session bus configuration of Debian's dbus, without its service
    # directories and included files: nothing is started by activation.
    cat >"$state/session.conf" <<EOF
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <keep_umask/>
  <listen>unix:dir=$state/runtime</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
  <limit name="max_incoming_bytes">1000000000</limit>
  <limit name="max_outgoing_bytes">1000000000</limit>
  <limit name="max_message_size">1000000000</limit>
  <limit name="auth_timeout">240000</limit>
  <limit name="max_completed_connections">100000</limit>
  <limit name="max_incomplete_connections">10000</limit>
  <limit name="max_connections_per_user">100000</limit>
  <limit name="max_names_per_connection">50000</limit>
  <limit name="max_match_rules_per_connection">50000</limit>
  <limit name="max_replies_per_connection">50000</limit>
</busconfig>
EOF

    local session_status=0
    env -u DISPLAY -u WAYLAND_DISPLAY -u GNOME_KEYRING_CONTROL \
        SECRET_SERVICE_SESSION_STATE="$state" \
        XDG_RUNTIME_DIR="$state/runtime" \
        XDG_DATA_HOME="$state/data" \
        XDG_CONFIG_HOME="$state/config" \
        XDG_CACHE_HOME="$state/cache" \
        dbus-run-session --dbus-daemon="$state/dbus-daemon" --config-file="$state/session.conf" -- \
        bash "$script" "$@" || session_status=$?

    if [[ ! -e "$state/command-started" && ! -e "$state/setup-error" ]]; then
        # dbus-run-session or the bus failed before the inner phase reported
        # anything. Its own message, if any, is above this line.
        die "dbus-run-session failed with status $session_status before the Secret Service was started"
    fi
    if [[ ! -e "$state/command-started" ]]; then
        exit "$setup_failure_status"
    fi
    exit "$session_status"
}

if [[ -n "${SECRET_SERVICE_SESSION_STATE:-}" ]]; then
    run_inner "$@"
else
    run_outer "$@"
fi
