#!/usr/bin/env bash
# Builds the demo workload for the process driver: publishes orc-demo (framework-dependent, it
# runs on the .NET runtime the SDK installed) to artifacts/demo-app/ and points ~/.orc/demo-app at
# it. examples/demo-process.yaml runs `dotnet ${HOME}/.orc/demo-app/orc-demo.dll`: the process
# runtime starts every replica in a directory of its own and passes HOME through, so a path under
# HOME is the same for every node of `orc dev` without writing this checkout's location into the spec.
#
# usage: examples/demo-app/build.sh [OUTPUT_DIR]      (default: <repo>/artifacts/demo-app)
# ORC_DEMO_LINK=0 skips the ~/.orc/demo-app link.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
out=${1:-$repo/artifacts/demo-app}
mkdir -p "$out"
out=$(cd "$out" && pwd)

dotnet publish "$here/Orchestrator.DemoApp.csproj" -c Release -o "$out" --nologo -v quiet
 

if [[ "${ORC_DEMO_LINK:-1}" != 0 ]]; then
  if [[ -z "${HOME:-}" ]]; then
    echo "build.sh: HOME is not set; set it, or run the app as dotnet $out/orc-demo.dll" >&2
    exit 1
  fi
  mkdir -p "$HOME/.orc"
  if [[ -e "$HOME/.orc/demo-app" && ! -L "$HOME/.orc/demo-app" ]]; then
    echo "build.sh: $HOME/.orc/demo-app exists and is not a link; move it away and run again" >&2
    exit 1
  fi
  ln -sfn "$out" "$HOME/.orc/demo-app"
  echo "published $out/orc-demo.dll (linked from $HOME/.orc/demo-app)"
else
  echo "published $out/orc-demo.dll"
fi
echo "try: dotnet $out/orc-demo.dll --port 8080   or: orc apply -f examples/demo-process.yaml"
