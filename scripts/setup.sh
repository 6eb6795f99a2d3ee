#!/usr/bin/env bash
# Installs what Sandpit needs on a Debian/Ubuntu host, once: OCI runtimes, debootstrap,
# iptables, then the npm dependencies. Safe to run again; it only does what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '[setup] %s\n' "$*" >&2; }

if [ "$(id -u)" -ne 0 ]; then
  log "Sandpit manages namespaces, mounts and firewall rules and must run as root."
  exit 1
fi

# python3, make and g++ build the native addons (better-sqlite3, node-pty) where no prebuilt binary can be fetched;
# gcc and libc6-dev build the agent's static launcher.
apt_packages=(runc debootstrap iptables iproute2 tini e2fsprogs util-linux ncurses-bin curl ca-certificates python3 make g++ gcc libc6-dev)
missing=()
for pkg in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
  log "installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# gVisor: bookworm's runsc cannot checkpoint a sandbox with networking; trixie's static build
# can and has no dependencies. Fetch that one package through a private apt state so the
# host's own sources stay untouched.
runsc_wanted="0.0~20240729"
runsc_have="$(dpkg-query -W -f='${Version}' runsc 2>/dev/null || true)"
if ! dpkg --compare-versions "${runsc_have:-0}" ge "$runsc_wanted"; then
  log "installing runsc (gVisor) from Debian trixie"
  work="$(mktemp -d)"
  trap 'rm -rf "$work"' EXIT
  mkdir -p "$work/lists/partial" "$work/cache/archives/partial"
  # Comment lines are skipped: images often name a dated snapshot there that has no trixie.
  mirror="$(grep -rhE '^[^#]*https?://' /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null |
    grep -oE 'https?://[^ ]+/debian/?' | grep -v -e security -e snapshot | head -n1 || true)"
  echo "deb ${mirror:-http://deb.debian.org/debian} trixie main" >"$work/sources.list"
  apt_opts=(-o "Dir::State::Lists=$work/lists" -o "Dir::Etc::SourceList=$work/sources.list"
    -o "Dir::Etc::SourceParts=/nonexistent" -o "Dir::Cache=$work/cache" -o "APT::Sandbox::User=root")
  apt-get "${apt_opts[@]}" update -qq
  (cd "$work" && apt-get "${apt_opts[@]}" download runsc >/dev/null)
  dpkg -i "$work"/runsc_*.deb >/dev/null
fi

# npm ci when node_modules is missing or older than the lockfile.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  log "npm ci"
  npm ci --no-audit --no-fund --loglevel=error
fi
