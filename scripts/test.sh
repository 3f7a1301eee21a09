#!/usr/bin/env bash
# Runs the type check and every test. Installs what the tests need first.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/install-deps.sh"
# shellcheck source=scripts/node24.sh
source "$root/scripts/node24.sh"
cd "$root"
npx tsc -p tsconfig.json
node --test --test-concurrency=2 --test-timeout=900000 \
  'src/**/*.test.ts' 'test/**/*.test.ts' 'bench/**/*.test.ts' "$@"
