#!/bin/bash
# Install FreeSWITCH 1.10.12 for trunkline under one fixed prefix (Debian 12 has no package for it).
#
#   scripts/freeswitch/install.sh [--optional]        (make freeswitch; make deps passes --optional)
#
# Where it comes from, the first that applies:
#   1. FREESWITCH_TARBALL   a relocatable tree packaged by build.sh --tarball (unpacked, no build);
#   2. FREESWITCH_SRC       a folder with the three source archives build.sh reads (a 4-6 min build);
#   3. the pinned upstream commits below, fetched with git (needs the internet; then as 2).
# Sources 2 and 3 build into a work folder, package a tarball and install it as in 1, so every
# install is the same relocatable tree, started through $PREFIX/bin/freeswitch-reloc.
# A tree of this version already in place is kept: a second run is quick and needs no network
# (FREESWITCH_REINSTALL=1 replaces it). Runtime Debian packages: runtime-packages.txt, apt only
# for the missing ones. --optional: without a source (no tarball, no sources, no network) say so
# and exit 0 instead of failing; the lab then answers calls with its SIPp stand-in.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
PREFIX=${FREESWITCH_PREFIX:-/opt/trunkline/freeswitch}
VERSION="FreeSWITCH 1.10.12 (a88d069d6ffb74df797bcaf001f7e63181c07a09)"
# name of the archive build.sh expects -> repository and commit (the tags' commits, checked by git)
PINNED="freeswitch-1.10.12 https://github.com/signalwire/freeswitch.git a88d069d6ffb74df797bcaf001f7e63181c07a09
sofia-sip-1.13.17 https://github.com/freeswitch/sofia-sip.git 6198851a610b7889c17e2d98fb84617bc1dd7aec
spandsp-0d2e6ac https://github.com/freeswitch/spandsp.git 0d2e6ac65e0e8f53d652665a743015a88bf048d4"
OPTIONAL=0
[ "${1:-}" = --optional ] && OPTIONAL=1
SUDO=$( [ "$(id -u)" = 0 ] || echo sudo )
say() { echo "freeswitch: $*"; }

# apt only for packages not yet installed, as the Makefile's apt target does
runtime_packages() {
  local missing
  missing=$(grep -v '^\s*#' "$HERE/runtime-packages.txt" | while read -r p; do
    [ -z "$p" ] || dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || echo "$p"; done | tr '\n' ' ')
  if [ -n "${missing// }" ]; then
    say "installing runtime packages: $missing"
    $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing
  fi
}

installed() { [ -x "$PREFIX/bin/freeswitch-reloc" ] && grep -qF "$VERSION" "$PREFIX/BUILDINFO.txt" 2>/dev/null; }

# the music-on-hold folder the rendered local_stream.conf.xml names (<sounds>/music/8000): mod_local_stream
# logs "Can't open directory" without it; empty, it plays silence. Put 8 kHz music files there.
moh_folder() { $SUDO mkdir -p "$PREFIX/sounds/music/8000"; }

# unpack a packaged tree beside the prefix, check it starts, then put it in place in one rename
unpack() {
  local tarball=$1 parent tmp old=""
  parent=$(dirname "$PREFIX")
  $SUDO mkdir -p "$parent"
  tmp=$($SUDO mktemp -d "$parent/.freeswitch.XXXXXX")
  trap '$SUDO rm -rf "$tmp"' EXIT
  $SUDO tar -C "$tmp" -xJf "$tarball"
  [ -x "$tmp/freeswitch/bin/freeswitch-reloc" ] || { say "$tarball holds no freeswitch/bin/freeswitch-reloc: not a tree made by build.sh --tarball" >&2; exit 1; }
  "$tmp/freeswitch/bin/freeswitch-reloc" -version >/dev/null || { say "the unpacked tree does not run (a missing runtime library?)" >&2; exit 1; }
  # FreeSWITCH's sample configuration stays only as a reference: started without -conf, FreeSWITCH
  # finds no configuration instead of one whose event socket takes the public password ClueCon
  $SUDO mv "$tmp/freeswitch/conf" "$tmp/freeswitch/conf.vanilla"
  if [ -e "$PREFIX" ]; then old="$parent/.freeswitch.old.$$"; $SUDO mv "$PREFIX" "$old"; fi
  $SUDO mv "$tmp/freeswitch" "$PREFIX"
  [ -z "$old" ] || $SUDO rm -rf "$old"
  $SUDO rm -rf "$tmp"; trap - EXIT
}

# build from the archives in $1 into a work folder and install the tarball it packages
build() {
  local src=$1 work
  work=$(mktemp -d "${TMPDIR:-/tmp}/trunkline-freeswitch-build.XXXXXX")
  say "building from $src in $work (4-6 minutes on 2 cores)"
  "$HERE/build.sh" --src "$src" --prefix "$work/prefix" --work "$work/build" --jobs "$(nproc)" --tarball "$work/freeswitch.tar.xz"
  unpack "$work/freeswitch.tar.xz"
  rm -rf "$work"
}

# the pinned commits, fetched by git (which checks that each commit is the one asked for), as archives in $1
fetch_pinned() {
  local dest=$1 name url commit
  command -v git >/dev/null || { say "git is needed to fetch the sources" >&2; return 1; }
  while read -r name url commit; do
    say "fetching $url at $commit"
    rm -rf "$dest/$name.git"
    git init -q "$dest/$name.git" &&
      timeout 900 git -C "$dest/$name.git" -c http.lowSpeedLimit=1000 -c http.lowSpeedTime=60 fetch -q --depth 1 "$url" "$commit" &&
      git -C "$dest/$name.git" archive --prefix="$name/" -o "$dest/$name.tar" "$commit" || return 1
    rm -rf "$dest/$name.git"
  done <<< "$PINNED"
}

if installed && [ "${FREESWITCH_REINSTALL:-0}" != 1 ]; then
  runtime_packages
  moh_folder
  say "installed: $PREFIX ($VERSION)"
  exit 0
fi
T0=$(date +%s)
runtime_packages
if [ -n "${FREESWITCH_TARBALL:-}" ]; then
  say "installing $FREESWITCH_TARBALL"
  unpack "$FREESWITCH_TARBALL"
elif [ -n "${FREESWITCH_SRC:-}" ]; then
  build "$FREESWITCH_SRC"
else
  src=$(mktemp -d "${TMPDIR:-/tmp}/trunkline-freeswitch-src.XXXXXX")
  if ! fetch_pinned "$src"; then
    rm -rf "$src"
    msg="no FreeSWITCH source: set FREESWITCH_TARBALL (a tree packaged by build.sh) or FREESWITCH_SRC (the source archives), or run with the internet"
    if [ "$OPTIONAL" = 1 ]; then say "$msg; going on without it (the lab answers calls with SIPp in its place)"; exit 0; fi
    say "$msg" >&2; exit 1
  fi
  build "$src"
  rm -rf "$src"
fi
moh_folder
installed || { say "the installed tree does not name $VERSION in BUILDINFO.txt" >&2; exit 1; }
say "installed: $PREFIX in $(( $(date +%s) - T0 )) s; start it with $PREFIX/bin/freeswitch-reloc -nonat -nc -nf -conf ... -log ... -db ... -run ..."
