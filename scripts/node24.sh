# Sourced by the project's scripts: puts a Node.js 24 first on PATH.
# The system Node.js may be older (Debian ships 20); the npm package `node@24`
# carries the official Node.js 24 binary, so it is installed from the npm
# registry into .tools/ when needed.
_bgapp_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# `node --version` prints before the JavaScript runtime starts, so this check
# costs milliseconds on every command instead of a whole Node.js start-up.
_bgapp_node_major() {
  local version
  version="$(node --version 2>/dev/null)" || { echo 0; return; }
  version="${version#v}"
  echo "${version%%.*}"
}
if [ "$(_bgapp_node_major)" -lt 24 ]; then
  _bgapp_tools="$_bgapp_root/.tools/node24"
  if [ ! -x "$_bgapp_tools/node_modules/node/bin/node" ]; then
    echo "installing Node.js 24 from the npm registry into .tools/node24" >&2
    npm install --prefix "$_bgapp_tools" --no-save --no-package-lock --no-audit --no-fund \
      node@24 >&2 || { echo "error: could not install Node.js 24 (npm install node@24)" >&2; return 1 2>/dev/null || exit 1; }
  fi
  export PATH="$_bgapp_tools/node_modules/node/bin:$PATH"
fi
unset -f _bgapp_node_major
