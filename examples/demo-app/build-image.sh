#!/usr/bin/env bash
# Builds the demo workload into a local Docker image without any registry:
#   1. publishes orc-demo self-contained for linux-x64 (trimmed, invariant globalization);
#   2. assembles a root filesystem from this machine: the app, the dynamic loader and every
#      shared library ldd reports for the app host and the runtime's native libraries, and /tmp;
#   3. `docker build`s Dockerfile (FROM scratch + COPY rootfs/ /).
# With --base IMAGE it builds Dockerfile.base instead: the app on top of IMAGE (for example
# mcr.microsoft.com/dotnet/runtime-deps:10.0, where a registry is reachable).
#
# usage: examples/demo-app/build-image.sh [TAG] [--base IMAGE]     (default TAG: orc-demo:latest)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
tag=orc-demo:latest
base=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --base) base=${2:?--base needs an image, e.g. --base mcr.microsoft.com/dotnet/runtime-deps:10.0}; shift 2 ;;
    --base=*) base=${1#--base=}; shift ;;
    -h|--help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "build-image.sh: unknown option $1 (usage: build-image.sh [TAG] [--base IMAGE])" >&2; exit 2 ;;
    *) tag=$1; shift ;;
  esac
done

if [[ "$(uname -m)" != x86_64 ]]; then
  echo "build-image.sh: builds linux-x64 images from this machine's libraries; this machine is $(uname -m)" >&2
  exit 1
fi
command -v docker >/dev/null || { echo "build-image.sh: the docker CLI is not on PATH" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/orc-demo-image.XXXXXX")
trap 'rm -rf "$work"' EXIT

echo "build-image.sh: publishing orc-demo for linux-x64 (self-contained, trimmed)"
# --artifacts-path keeps this build's obj/ and bin/ apart from the project's own, so a
# framework-dependent build running at the same time is not disturbed.
dotnet publish "$here/Orchestrator.DemoApp.csproj" -c Release -r linux-x64 --self-contained \
  -p:PublishTrimmed=true -p:InvariantGlobalization=true -p:DebugType=none \
  --artifacts-path "$work/build" -o "$work/app" --nologo -v quiet
# The LTTng tracing provider needs liblttng-ust, which the runtime treats as optional; leave it out.
rm -f "$work/app/libcoreclrtraceptprovider.so" "$work"/app/*.xml

if [[ -n "$base" ]]; then
  mkdir -p "$work/context"
  mv "$work/app" "$work/context/app"
  cp "$here/Dockerfile.base" "$work/context/Dockerfile"
  docker build --build-arg "BASE=$base" -t "$tag" "$work/context"
  echo "built $tag on $base"
  exit 0
fi

rootfs="$work/context/rootfs"
mkdir -p "$rootfs/app" "$rootfs/tmp"
chmod 1777 "$rootfs/tmp"
cp -a "$work/app/." "$rootfs/app/"

# Every library the app host and the runtime's native libraries link against, transitively (ldd
# lists the whole closure), at the path the loader will look for it, plus the loader itself.
libs=$(for f in "$rootfs/app/orc-demo" "$rootfs"/app/*.so; do
  ldd "$f" | awk -v self="$f" '
    /not found/ { print "MISSING " $1 " (needed by " self ")"; next }
    $2 == "=>" && $3 ~ /^\// { print $3; next }
    $1 ~ /^\// { print $1 }'
done | sort -u)
if grep -q '^MISSING' <<<"$libs"; then
  grep '^MISSING' <<<"$libs" | sed 's/^MISSING /build-image.sh: missing library /' >&2
  exit 1
fi
count=0
while read -r lib; do
  [[ -z "$lib" || "$lib" == "$rootfs"/* ]] && continue
  mkdir -p "$rootfs$(dirname "$lib")"
  cp -L "$lib" "$rootfs$lib"
  count=$((count + 1))
done <<<"$libs"
echo "build-image.sh: root filesystem has the app and $count libraries from this machine ($(du -sh "$rootfs" | cut -f1))"

cp "$here/Dockerfile" "$work/context/Dockerfile"
docker build -t "$tag" "$work/context"
echo "built $tag (FROM scratch); try: docker run --rm -p 127.0.0.1:8091:8080 $tag"
