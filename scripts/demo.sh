#!/usr/bin/env bash
# Runs the main job on a demo stack made on the spot: PostGIS, an S3 emulator,
# config and log folders, backed up into a local OneDrive folder and restored.
# Installs what it needs first. Pass --keep to leave the demo folder in place.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/install-deps.sh"
# shellcheck source=scripts/node24.sh
source "$root/scripts/node24.sh"
exec node --disable-warning=ExperimentalWarning "$root/demo/run.ts" "$@"
