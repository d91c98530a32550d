#!/usr/bin/env bash
# Runs the `orc` CLI from this checkout, building it first when the sources changed.
#   ./orc dev            a working control plane on the embedded store
#   ./orc apply -f examples/web.yaml
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="$here/artifacts/orc"
stamp="$out/.built"
if [ ! -f "$stamp" ] || [ -n "$(find "$here/cli" "$here/control-plane" "$here/node-agent" "$here/proto" "$here/Directory.Build.props" "$here/Directory.Packages.props" \
      -newer "$stamp" \( -name '*.cs' -o -name '*.csproj' -o -name '*.proto' -o -name '*.props' \) -not -path '*/obj/*' -not -path '*/bin/*' -print -quit 2>/dev/null)" ]; then
  echo "building orc (once; again only when sources change)..." >&2
  dotnet publish "$here/cli/Orchestrator.Cli.csproj" -c Release -o "$out" --nologo -v quiet >&2
  touch "$stamp"
fi
exec dotnet "$out/orc.dll" "$@"
