#!/usr/bin/env bash
# Installs the system packages the test suite needs beyond npm's: Autobahn|Python with
# MessagePack for test/integration/python-interop.test.ts, and argon2-cffi for its SCRAM
# authenticator (test/integration/python-auth.test.ts), from Debian 12's own repositories,
# for Debian's interpreter /usr/bin/python3 (not a pyenv/venv python3 that may be on PATH);
# nats-server for the cluster tests (test/integration/cluster.test.ts); and iproute2's `ss`, which
# test/integration/listen-backlog.test.ts reads listen backlogs with.
#
# Idempotent: does nothing when /usr/bin/python3 can already import autobahn and msgpack and
# nats-server and ss are installed.
# Non-interactive; needs root (CI runs as root) or sudo without a password.
# Exits non-zero with a message on stderr when the packages cannot be installed.
set -euo pipefail

PY=/usr/bin/python3
PACKAGES=(python3-autobahn python3-msgpack python3-argon2 nats-server iproute2)
CHECK='import autobahn, msgpack, argon2, nacl; from autobahn.asyncio.wamp import ApplicationSession; from autobahn.wamp.serializer import JsonSerializer, MsgPackSerializer; from autobahn.wamp.auth import HAS_ARGON; assert HAS_ARGON'

die() {
  echo "install-test-deps.sh: $*" >&2
  exit 1
}

# Debian installs it as /usr/sbin/nats-server, which is not on every user's PATH.
have_nats() {
  command -v nats-server >/dev/null 2>&1 || [ -x /usr/sbin/nats-server ]
}

have_ss() {
  command -v ss >/dev/null 2>&1 || [ -x /usr/bin/ss ] || [ -x /bin/ss ]
}

deps_ok() {
  [ -x "$PY" ] && "$PY" -c "$CHECK" >/dev/null 2>&1 && have_nats && have_ss
}

if deps_ok; then
  echo "install-test-deps.sh: Autobahn|Python, msgpack and argon2 already importable by $PY, nats-server and ss installed, nothing to do"
  exit 0
fi

command -v apt-get >/dev/null 2>&1 ||
  die "apt-get not found: install ${PACKAGES[*]} (Debian/Ubuntu packages) for $PY by hand"

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    SUDO=(sudo -n)
  else
    die "must run as root (or with password-less sudo) to apt-get install ${PACKAGES[*]}"
  fi
fi

export DEBIAN_FRONTEND=noninteractive
APT_OPTS=(-y -q --no-install-recommends -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold)

echo "install-test-deps.sh: installing ${PACKAGES[*]} for $PY"
start=$(date +%s)
# Try with the package lists already on the machine first; refresh them only if that fails
# (a fresh machine or image has no or stale lists).
if ! "${SUDO[@]}" apt-get install "${APT_OPTS[@]}" "${PACKAGES[@]}" >/tmp/install-test-deps.apt.log 2>&1; then
  "${SUDO[@]}" apt-get update -q >>/tmp/install-test-deps.apt.log 2>&1 ||
    { tail -n 20 /tmp/install-test-deps.apt.log >&2; die "apt-get update failed (log: /tmp/install-test-deps.apt.log)"; }
  "${SUDO[@]}" apt-get install "${APT_OPTS[@]}" "${PACKAGES[@]}" >>/tmp/install-test-deps.apt.log 2>&1 ||
    { tail -n 20 /tmp/install-test-deps.apt.log >&2; die "apt-get install ${PACKAGES[*]} failed (log: /tmp/install-test-deps.apt.log)"; }
fi

if ! deps_ok; then
  "$PY" -c "$CHECK" >&2 || true
  have_nats || echo "install-test-deps.sh: nats-server is not on PATH" >&2
  have_ss || echo "install-test-deps.sh: ss (iproute2) is not on PATH" >&2
  die "installed ${PACKAGES[*]}, but $PY still cannot import autobahn, msgpack and argon2, or nats-server is missing"
fi
versions=$(dpkg-query -W -f='${Package} ${Version}\n' "${PACKAGES[@]}" | tr '\n' ' ')
echo "install-test-deps.sh: installed ${versions}in $(($(date +%s) - start)) s"
