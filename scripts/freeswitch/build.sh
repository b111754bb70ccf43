#!/bin/bash
# Build FreeSWITCH 1.10.12 with sofia-sip 1.13.17 and spandsp (the freeswitch fork) on Debian 12
# from their source archives (freeswitch-1.10.12.tar.*, sofia-sip-1.13.17.tar.*, spandsp-0d2e6ac.tar.*,
# each holding one top folder) into one self-contained prefix, and package a relocatable, stripped
# tarball of it. install.sh beside this script calls it; trunkline installs from that tarball.
#
#   build.sh --src DIR [--prefix DIR] [--work DIR] [--jobs N] [--modules "cat/mod_x ..."] [--no-apt] [--tarball FILE]
#
# About 4-6 minutes on 2 cores. apt needs root (sudo is used otherwise), or --no-apt with the -dev
# packages present. The module list is what trunkline's templates load (modules.conf.xml).
set -euo pipefail

SRC=${FREESWITCH_SRC:-}
PREFIX=/opt/freeswitch
WORK=${TMPDIR:-/tmp}/freeswitch-build
JOBS=2
APT=1
TARBALL=""
MODULES="applications/mod_callcenter applications/mod_commands applications/mod_db applications/mod_dptools
applications/mod_esf applications/mod_expr applications/mod_fifo applications/mod_hash applications/mod_spandsp
codecs/mod_opus codecs/mod_g729 codecs/mod_g723_1 dialplans/mod_dialplan_xml endpoints/mod_loopback endpoints/mod_sofia
event_handlers/mod_event_socket formats/mod_local_stream formats/mod_native_file formats/mod_sndfile formats/mod_shout
formats/mod_tone_stream loggers/mod_console loggers/mod_logfile loggers/mod_syslog say/mod_say_en"
while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) PREFIX=$2; shift 2;; --work) WORK=$2; shift 2;; --jobs) JOBS=$2; shift 2;;
    --modules) MODULES=$2; shift 2;; --no-apt) APT=0; shift;; --tarball) TARBALL=$2; shift 2;; --src) SRC=$2; shift 2;;
    *) echo "unknown option $1" >&2; exit 2;;
  esac
done
[ -n "$SRC" ] || { echo "build.sh: --src DIR (or FREESWITCH_SRC) must name the folder of the source archives" >&2; exit 2; }
SRC=$(cd "$SRC" && pwd)
SUDO=$( [ "$(id -u)" = 0 ] || echo sudo )

FS=freeswitch-1.10.12      # signalwire/freeswitch v1.10.12 = a88d069d6ffb74df797bcaf001f7e63181c07a09
SOFIA=sofia-sip-1.13.17    # freeswitch/sofia-sip v1.13.17 = 6198851a610b7889c17e2d98fb84617bc1dd7aec
SPANDSP=spandsp-0d2e6ac    # freeswitch/spandsp 0d2e6ac65e0e8f53d652665a743015a88bf048d4: the last commit
                           # before the V.18 API change (d9681c3) that mod_spandsp of 1.10.12 cannot build against
NICE="nice -n 10"
mkdir -p "$WORK/logs"
step() { # step NAME CMD...: run quietly into a log, print its time; show the log's tail on failure
  local name=$1 t0; shift; t0=$(date +%s)
  if ! ( "$@" ) >"$WORK/logs/$name.log" 2>&1; then echo "build.sh: step $name failed:" >&2; tail -40 "$WORK/logs/$name.log" >&2; exit 1; fi
  printf '%-20s %4ds\n' "$name" $(( $(date +%s) - t0 ))
}

apt_deps() {
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -q --no-install-recommends build-essential autoconf automake libtool libtool-bin pkg-config \
    zlib1g-dev libjpeg-dev libtiff-dev libssl-dev libcurl4-openssl-dev libpcre3-dev libspeex-dev libspeexdsp-dev \
    libedit-dev libsqlite3-dev uuid-dev libsndfile1-dev libncurses-dev libopus-dev libshout3-dev libmp3lame-dev \
    libmpg123-dev patchelf xz-utils file
}
extract() {
  rm -rf "$WORK/src"; mkdir -p "$WORK/src"
  local a f
  for a in "$SOFIA" "$SPANDSP" "$FS"; do   # any compression; the top folder is renamed to $a
    f=$(ls "$SRC/$a".tar* 2>/dev/null | head -1)
    [ -n "$f" ] || { echo "no $SRC/$a.tar.*" >&2; return 1; }
    mkdir "$WORK/src/$a" && tar -C "$WORK/src/$a" --strip-components=1 -xf "$f"
  done
}
export PKG_CONFIG_PATH=$PREFIX/lib/pkgconfig CFLAGS="${CFLAGS:--O2}"
sofia()   { cd "$WORK/src/$SOFIA" && ./bootstrap.sh && $NICE ./configure --prefix="$PREFIX" --disable-static --with-glib=no --without-doxygen --disable-stun && $NICE make -j"$JOBS" && make install; }
spandsp() { cd "$WORK/src/$SPANDSP" && ./bootstrap.sh && $NICE ./configure --prefix="$PREFIX" --disable-static && $NICE make -j"$JOBS" && make install; }
fs_configure() {
  cd "$WORK/src/$FS" && printf '%s\n' $MODULES > modules.conf && ./bootstrap.sh -j &&
  $NICE ./configure --prefix="$PREFIX" --disable-fhs --disable-libvpx --disable-libyuv --disable-core-odbc-support \
    --without-png --without-freetype --disable-debug
}
fs_make()    { cd "$WORK/src/$FS" && $NICE make -j"$JOBS" && make install; }

# A relocatable, stripped copy of the prefix: RUNPATH $ORIGIN-relative (libtool hard-codes the
# prefix), and bin/freeswitch-reloc passes -base <unpacked dir> so nothing is written to the build prefix.
package() {
  local stage=$WORK/stage/freeswitch f
  rm -rf "$WORK/stage"; mkdir -p "$WORK/stage"; cp -a "$PREFIX" "$stage"
  rm -rf "$stage"/lib/*.la "$stage"/mod/*.la "$stage/fonts" "$stage/htdocs" "$stage/include" "$stage/lib/pkgconfig"
  for f in "$stage"/bin/* "$stage"/lib/*.so.*.* "$stage"/mod/*.so; do
    [ -L "$f" ] && continue; file -b "$f" | grep -q '^ELF' || continue
    strip --strip-unneeded "$f"
    case "$f" in "$stage"/lib/*) patchelf --set-rpath '$ORIGIN' "$f";; *) patchelf --set-rpath '$ORIGIN/../lib' "$f";; esac
  done
  cat > "$stage/bin/freeswitch-reloc" <<'WRAP'
#!/bin/sh
# Run FreeSWITCH from wherever this tree was unpacked; more arguments (-conf/-log/-db/-run/...) follow.
D=$(cd "$(dirname "$0")/.." && pwd)
LD_LIBRARY_PATH="$D/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"; export LD_LIBRARY_PATH   # when /proc is absent
exec "$D/bin/freeswitch" -base "$D" -mod "$D/mod" "$@"
WRAP
  chmod 755 "$stage/bin/freeswitch-reloc"
  { echo "FreeSWITCH 1.10.12 (a88d069d6ffb74df797bcaf001f7e63181c07a09), sofia-sip 1.13.17 (6198851a), spandsp 0d2e6ac6"
    echo "modules: $(echo $MODULES | xargs -n1 basename | tr '\n' ' ')"
    echo "built $(date -u +%FT%TZ) on Debian $(cat /etc/debian_version) $(uname -m)"
    echo "runtime: apt-get install --no-install-recommends libcurl4 libedit2 libjpeg62-turbo libsndfile1 libspeex1 libspeexdsp1 libsqlite3-0 libssl3 libtiff6 libpcre3 libopus0 libshout3 libmp3lame0 libmpg123-0"
    echo "run: bin/freeswitch-reloc -nonat -nc -nf -conf CONF -log LOG -db DB -run RUN"; } > "$stage/BUILDINFO.txt"
  tar -C "$WORK/stage" -cf - freeswitch | xz -9 -T"$JOBS" > "$TARBALL"
  ls -l "$TARBALL"
}

T0=$(date +%s)
[ "$APT" = 1 ] && step apt apt_deps
step extract extract
step sofia-sip sofia
step spandsp spandsp
step fs-configure fs_configure
step fs-make fs_make
[ -n "$TARBALL" ] && step package package
printf '%-20s %4ds\n' total $(( $(date +%s) - T0 ))
echo "installed: $PREFIX (run $PREFIX/bin/freeswitch -nonat -nc -nf -conf ... or see BUILDINFO.txt in a packaged tree)"
