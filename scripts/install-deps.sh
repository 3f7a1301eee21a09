#!/usr/bin/env bash
# Installs what the demo, the tests and the benchmarks need on a Debian machine:
# PostgreSQL 15 with PostGIS 3 and restic from Debian's packages (when missing),
# Node.js 24 (from the npm registry when the system one is older) and the npm
# dependencies. Safe to run again: it skips what is already there.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

need_apt=()
[ -x /usr/lib/postgresql/15/bin/initdb ] || need_apt+=(postgresql-15)
[ -f /usr/share/postgresql/15/extension/postgis.control ] || need_apt+=(postgresql-15-postgis-3)
command -v restic >/dev/null || need_apt+=(restic)
if [ "${#need_apt[@]}" -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "error: missing Debian packages: ${need_apt[*]}; run this script as root or install them with apt-get" >&2
    exit 1
  fi
  echo "installing Debian packages: ${need_apt[*]}" >&2
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >&2
fi

# shellcheck source=scripts/node24.sh
source "$root/scripts/node24.sh"
if [ ! -d "$root/node_modules" ] || [ "$root/package-lock.json" -nt "$root/node_modules/.package-lock.json" ]; then
  (cd "$root" && npm ci --no-audit --no-fund >&2)
fi
