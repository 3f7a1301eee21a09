#!/usr/bin/env bash
# Runs the benchmark of bgapp-backup against restic and writes the report
# (BENCHMARKS.md at --scale full). Installs what it needs first.
# Usage: bench/run.sh [--scale small|full] [--runs N] [--datasets dump,random,files,bucket,database]
#                     [--out FILE] [--timeout-minutes N] [--no-profile] [--keep]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/install-deps.sh"
# shellcheck source=scripts/node24.sh
source "$root/scripts/node24.sh"
cd "$root"
exec node --disable-warning=ExperimentalWarning bench/main.ts "$@"
