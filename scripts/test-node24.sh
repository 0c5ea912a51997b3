#!/usr/bin/env bash
# Runs the unit tests (every *.test.ts outside test/e2e, in the `fs` vitest project) and the aws CLI
# and boto3 suites on Node 24, while `npm test` runs the whole suite on the machine's Node.
#
# better-sqlite3 is a native module built for one Node ABI: it is rebuilt for Node 24 in a copy of
# the project (NODE24_WORKDIR), so the working tree's node_modules keeps the machine Node's build.
# The copy's node_modules is reused while package-lock.json and the Node versions stay the same.
# Extra arguments go to vitest (e.g. --reporter=json --outputFile=...).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
work=${NODE24_WORKDIR:-${TMPDIR:-/tmp}/cloudstorage-node24}
# The Node binary, and the headers better-sqlite3 compiles against, come from the npm registry's
# per-platform Node packages (what `npm install node@24` installs underneath), which ship both.
platform_pkg=node-$(node -p 'process.platform + "-" + process.arch')
runtime_spec=${NODE24_RUNTIME:-24}
# Node 24.19 added cleanup hooks to the inline node::ObjectWrap in its headers; better-sqlite3 12
# compiled against them aborts the process when V8 collects a Statement outside a JS context
# ("Assertion failed: (env) != nullptr", nodejs/node#65446; seen here on 24.21). The published
# better-sqlite3 prebuilds were compiled against earlier headers and run fine on later 24.x
# runtimes, so build against 24.18.1's headers like they were. better-sqlite3 13 (Node-API) ends
# this, but needs Node >= 22: it comes with dropping Node 20.
headers_spec=${NODE24_HEADERS:-24.18.1}

mkdir -p "$work"
install_node_package() { # dir spec
  if [ ! -x "$work/$1/node_modules/$platform_pkg/bin/node" ] || [ "$(cat "$work/$1/spec" 2>/dev/null)" != "$2" ]; then
    rm -rf "${work:?}/$1"
    npm install --prefix "$work/$1" --no-save --no-package-lock --ignore-scripts --no-audit --no-fund "$platform_pkg@$2" >/dev/null
    echo "$2" >"$work/$1/spec"
  fi
}
install_node_package runtime "$runtime_spec"
install_node_package headers "$headers_spec"
node24_dir=$work/runtime/node_modules/$platform_pkg
headers_dir=$work/headers/node_modules/$platform_pkg
node24=$node24_dir/bin/node
echo "Node 24 suite on $("$node24" --version), better-sqlite3 built against v$headers_spec headers"

# A fresh copy of the sources (tracked or not, as in the working tree) beside a cached node_modules.
tree=$work/tree
mkdir -p "$tree"
find "$tree" -mindepth 1 -maxdepth 1 ! -name node_modules -exec rm -rf {} +
tar -C "$root" --exclude=./node_modules --exclude=./.git --exclude=./data --exclude=./.tmp --exclude=./dist -cf - . | tar -C "$tree" -xf -

stamp="$(sha256sum package-lock.json | cut -c1-16) $("$node24" --version) $headers_spec"
if [ "$(cat "$tree/node_modules/.node24-stamp" 2>/dev/null)" != "$stamp" ]; then
  rm -rf "$tree/node_modules"
  cp -a "$root/node_modules" "$tree/node_modules"
  started=$SECONDS
  # npm runs node-gyp with the node first on PATH; npm_config_nodedir points it at the headers.
  (cd "$tree" && PATH="$node24_dir/bin:$PATH" npm_config_nodedir="$headers_dir" npm_config_build_from_source=true npm rebuild better-sqlite3 >"$work/rebuild.log" 2>&1) ||
    { cat "$work/rebuild.log" >&2; exit 1; }
  echo "better-sqlite3 rebuilt for Node 24 in $((SECONDS - started)) s"
  echo "$stamp" >"$tree/node_modules/.node24-stamp"
fi
(cd "$tree" && "$node24" -e 'new (require("better-sqlite3"))(":memory:").close()')

# Unit tests: every *.test.ts outside test/e2e, passed to vitest as file filters.
mapfile -t units < <(find . \( -name node_modules -o -name .git -o -name data -o -name .tmp -o -name dist \) -prune -o -name '*.test.ts' -print |
  sed 's|^\./||' | grep -v '^test/e2e/' | sort)
cd "$tree"
# Servers and CLIs the tests spawn with `node` or process.execPath run on Node 24 as well.
PATH="$node24_dir/bin:$PATH" exec "$node24" node_modules/vitest/vitest.mjs run --project fs \
  "${units[@]}" test/e2e/awscli.e2e.test.ts test/e2e/boto3.e2e.test.ts "$@"
