#!/usr/bin/env bash
# Installs the control plane and the CLI from this checkout on a Linux machine with
# systemd and the .NET 10 SDK:
#   sudo deploy/install.sh            build, install under /opt/orchestrator, enable the unit
#   sudo deploy/install.sh --no-start install without starting
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(dirname "$here")"
prefix=/opt/orchestrator
start=1
for arg in "$@"; do
  case "$arg" in
    --no-start) start=0 ;;
    --prefix=*) prefix="${arg#--prefix=}" ;;
    *) echo "install.sh: unknown option $arg (options: --no-start, --prefix=DIR)" >&2; exit 2 ;;
  esac
done
[ "$(id -u)" -eq 0 ] || { echo "install.sh: run as root (it writes $prefix and /etc/systemd/system)" >&2; exit 1; }
command -v dotnet >/dev/null || { echo "install.sh: the .NET 10 SDK is needed to build; install it first" >&2; exit 1; }

echo "building into $prefix"
dotnet publish "$repo/control-plane/Host/Orchestrator.ControlPlane.Host.csproj" -c Release -o "$prefix/control-plane" --nologo -v quiet
dotnet publish "$repo/cli/Orchestrator.Cli.csproj" -c Release -o "$prefix/cli" --nologo -v quiet
ln -sf "$prefix/cli/orc" /usr/local/bin/orc

install -d /etc/orchestrator
[ -f /etc/orchestrator/control-plane.env ] || install -m 0644 "$here/systemd/control-plane.env" /etc/orchestrator/control-plane.env
sed "s|/opt/orchestrator|$prefix|g" "$here/systemd/orc-control-plane.service" > /etc/systemd/system/orc-control-plane.service
systemctl daemon-reload
if [ "$start" -eq 1 ]; then
  systemctl enable --now orc-control-plane
  echo "started: systemctl status orc-control-plane; orc version"
else
  echo "installed: systemctl enable --now orc-control-plane to start"
fi
