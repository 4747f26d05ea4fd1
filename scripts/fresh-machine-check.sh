#!/usr/bin/env bash
# Proves the README's quick start on a fresh machine: builds a clean Debian bookworm root with the
# debootstrap recipe the container tier uses (minbase), gives it Node.js 20+, copies this
# repository in (git archive HEAD: committed files only), and runs the README's two commands
# there as root:
#   npm ci && npm run synth
#   npm test                (its pretest installs the host tools with apt-get)
# Slow (several minutes, more when cold), so it is not part of `npm test`. Needs root, debootstrap,
# unshare (util-linux) and a reachable Debian mirror.
#
# Usage: sudo scripts/fresh-machine-check.sh [--keep]
#   SHIPSHAPE_DEBIAN_MIRROR   mirror for debootstrap and apt (default http://deb.debian.org/debian)
#   SHIPSHAPE_FRESH_CACHE     where the pristine root is cached as a tarball (default /var/tmp/shipshape-fresh)
#   SHIPSHAPE_FRESH_TEST_ARGS test files to pass to `npm test --` (for debugging this script only)
#   --keep                    keep the work directory for a look afterwards
# The output of the last run stays in $SHIPSHAPE_FRESH_CACHE/last-run.log.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
mirror=${SHIPSHAPE_DEBIAN_MIRROR:-http://deb.debian.org/debian}
cache=${SHIPSHAPE_FRESH_CACHE:-/var/tmp/shipshape-fresh}
keep=0
[ "${1:-}" = "--keep" ] && keep=1

say() { printf 'fresh-machine: %s\n' "$*" >&2; }
die() { say "FAILED: $*"; exit 1; }
[ "$(id -u)" -eq 0 ] || die "run as root (debootstrap and chroot need it)"
for tool in debootstrap unshare git tar; do
  command -v "$tool" >/dev/null 2>&1 || [ -x "/usr/sbin/$tool" ] || die "$tool is missing (apt-get install -y debootstrap util-linux git tar)"
done
export PATH="$PATH:/usr/sbin:/sbin"

start=$(date +%s)
elapsed() { echo "$(( $(date +%s) - start )) s"; }

# 1. A clean bookworm root, cached as a tarball so a second run skips debootstrap.
mkdir -p "$cache"
base="$cache/bookworm-minbase.tar"
if [ ! -s "$base" ]; then
  say "debootstrap --variant=minbase bookworm (once per machine)..."
  scratch=$(mktemp -d "$cache/debootstrap.XXXXXX")
  debootstrap --variant=minbase bookworm "$scratch" "$mirror" > "$cache/debootstrap.log" 2>&1 \
    || { tail -n 20 "$cache/debootstrap.log" >&2; rm -rf "$scratch"; die "debootstrap failed"; }
  tar -C "$scratch" -cf "$base.partial" . && mv "$base.partial" "$base"
  rm -rf "$scratch"
  say "base root cached in $base ($(elapsed))"
else
  say "reusing the cached clean root $base"
fi

work=$(mktemp -d /var/tmp/shipshape-fresh-run.XXXXXX)
root="$work/root"
cleanup() {
  [ -f "$work/run.log" ] && cp "$work/run.log" "$cache/last-run.log"
  if [ "$keep" -eq 1 ]; then say "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
chmod 755 "$work"  # apt drops to _apt inside the root, which must reach it
mkdir -p "$root"
tar -C "$root" -xf "$base"
cp /etc/resolv.conf "$root/etc/resolv.conf"

# 2. The repository, as a fresh clone would have it.
mkdir -p "$root/work/shipshape"
git -C "$repo" archive HEAD | tar -C "$root/work/shipshape" -x
say "copied $(git -C "$repo" rev-parse --short HEAD) into the root"

# 3. Everything else runs inside the root, in a private mount namespace: the mounts vanish with it.
cat > "$root/fresh-run.sh" <<'INSIDE'
#!/bin/bash
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive HOME=/root PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
say() { printf 'fresh-machine(inside): %s\n' "$*" >&2; }
apt-get update -qq
# Node.js 20+ (package.json engines): Debian's own package when it is new enough, else NodeSource's
# apt repository (with the host's keyring), else the host's node, staged in /opt/host-node.
node_major() { node --version 2>/dev/null | sed -E 's/^v([0-9]+).*/\1/'; }
apt_major() { apt-cache policy nodejs | awk '/Candidate:/ {print $2}' | sed -E 's/^[0-9]+://; s/\..*//'; }
say "Debian bookworm offers nodejs $(apt-cache policy nodejs | awk '/Candidate:/ {print $2}')"
apt-get install -y -qq ca-certificates > /dev/null
if [ "$(apt_major)" -lt 20 ] 2>/dev/null && [ -s /usr/share/keyrings/nodesource.gpg ]; then
  printf 'Types: deb\nURIs: https://deb.nodesource.com/node_20.x\nSuites: nodistro\nComponents: main\nSigned-By: /usr/share/keyrings/nodesource.gpg\n' > /etc/apt/sources.list.d/nodesource.sources
  apt-get update -qq 2>&1 | grep -v '^W: Download is performed unsandboxed' >&2 || true
  if [ "$(apt_major)" -lt 20 ] 2>/dev/null; then
    say "deb.nodesource.com is not reachable from here"
    rm /etc/apt/sources.list.d/nodesource.sources
    apt-get update -qq
  fi
fi
if [ "$(apt_major)" -ge 20 ] 2>/dev/null; then
  say "installing nodejs $(apt-cache policy nodejs | awk '/Candidate:/ {print $2}') from apt"
  apt-get install -y -qq nodejs > /dev/null
  command -v npm > /dev/null || apt-get install -y -qq npm > /dev/null
else
  say "no Node.js 20+ installable from apt here: using the host's node binary and npm, copied in"
  apt-get install -y -qq libstdc++6 > /dev/null
  ln -sf /opt/host-node/bin/node /usr/local/bin/node
  ln -sf /opt/host-node/lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm
  ln -sf /opt/host-node/lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx
fi
[ "$(node_major)" -ge 20 ] 2>/dev/null || { say "no usable Node.js 20+ ($(node --version 2>&1 || true))"; exit 3; }
update-ca-certificates > /dev/null 2>&1 || true
[ -n "${FRESH_EXTRA_CA:-}" ] && export NODE_EXTRA_CA_CERTS="$FRESH_EXTRA_CA"
say "node $(node --version), npm $(npm --version)"
cd /work/shipshape
say "\$ npm ci && npm run synth"
t0=$(date +%s)
npm ci --no-audit --no-fund
npm run synth
say "README command 1 passed in $(( $(date +%s) - t0 )) s"
say "\$ npm test ${FRESH_TEST_ARGS:-}"
t0=$(date +%s)
# shellcheck disable=SC2086 # test files, split on purpose
npm test ${FRESH_TEST_ARGS:+-- $FRESH_TEST_ARGS}
say "README command 2 passed in $(( $(date +%s) - t0 )) s"
INSIDE
chmod +x "$root/fresh-run.sh"

# Staged for the case where apt offers no Node.js 20+ (bookworm has 18); used only then.
if [ -s /usr/share/keyrings/nodesource.gpg ]; then
  mkdir -p "$root/usr/share/keyrings"
  cp /usr/share/keyrings/nodesource.gpg "$root/usr/share/keyrings/"
fi
host_node=$(command -v node || true)
if [ -n "$host_node" ]; then
  mkdir -p "$root/opt/host-node/bin" "$root/opt/host-node/lib/node_modules"
  cp "$(readlink -f "$host_node")" "$root/opt/host-node/bin/node"
  npm_cli=$(readlink -f "$(command -v npm)")
  cp -a "${npm_cli%/bin/npm-cli.js}" "$root/opt/host-node/lib/node_modules/npm"
fi

# A network that inspects TLS gives its machines its own CA; a machine here would have it too.
extra_ca=
if compgen -G '/usr/local/share/ca-certificates/*.crt' > /dev/null; then
  mkdir -p "$root/usr/local/share/ca-certificates"
  cp /usr/local/share/ca-certificates/*.crt "$root/usr/local/share/ca-certificates/"
  say "copied this network's CA certificates ($(cd /usr/local/share/ca-certificates && echo *.crt)) into the root"
  [ -n "${NODE_EXTRA_CA_CERTS:-}" ] && extra_ca=/etc/ssl/certs/ca-certificates.crt
fi

say "running the README's commands inside the clean root..."
status=0
# The root becomes the namespace's real root (pivot_root, not just chroot): runc resolves bind
# mounts through /proc/self/mountinfo, which names paths outside a chroot by their host paths.
mkdir -p "$root/.oldroot"
# shellcheck disable=SC2016 # expanded by the inner shell
unshare --mount --propagation private /bin/bash -euo pipefail -c '
  root=$1
  mount --bind "$root" "$root"
  mount -t proc proc "$root/proc"
  mount --rbind /sys "$root/sys"
  mount --rbind /dev "$root/dev"
  mount -t tmpfs tmpfs "$root/run"
  cd "$root"
  pivot_root . .oldroot
  umount -l /.oldroot
  exec /usr/sbin/chroot / /usr/bin/env -i FRESH_TEST_ARGS="$2" FRESH_EXTRA_CA="$3" TERM=dumb /fresh-run.sh
' _ "$root" "${SHIPSHAPE_FRESH_TEST_ARGS:-}" "$extra_ca" 2>&1 | tee "$work/run.log" || status=$?

if [ "$status" -ne 0 ]; then
  keep=1
  die "the README's commands failed in a clean bookworm root (exit $status, log $work/run.log, $(elapsed))"
fi
say "PASSED: npm ci && npm run synth, then npm test, in a clean Debian bookworm root ($(elapsed) in all)"
