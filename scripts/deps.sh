#!/usr/bin/env bash
# Installs the Debian 12 packages keyfleet needs that are missing. Groups: build (default), test,
# package (make package: dpkg-shlibdeps, lintian), fuzz, lint, bench. Needs root (or sudo) only when something is missing.
set -euo pipefail

declare -A groups=(
  [build]="build-essential cmake ninja-build pkg-config libssl-dev libarchive-dev libssh-dev libsodium-dev
           libboost-filesystem-dev libfmt-dev nlohmann-json3-dev libcli11-dev libtoml11-dev
           libyaml-cpp-dev"
  [test]="googletest libgtest-dev libgmock-dev openssl openssh-server openssh-client
          openssh-sftp-server age util-linux tar coreutils procps pv openjdk-17-jre-headless time
          python3 python3-jsonschema gnupg sudo"
  [package]="dpkg-dev fakeroot lintian gzip file"
  [fuzz]="clang-16 libclang-rt-16-dev"
  [lint]="clang-format clang-tidy-22"
  [bench]="pdsh pssh clustershell ansible-core gnuplot-nox time python3"
)

want=()
for group in "${@:-build}"; do
  [[ -n ${groups[$group]:-} ]] || { echo "deps.sh: unknown group '$group'" >&2; exit 2; }
  for pkg in ${groups[$group]}; do
    status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
    [[ $status == "install ok installed" ]] || want+=("$pkg")
  done
done
[[ ${#want[@]} -eq 0 ]] && exit 0

echo "deps.sh: installing ${want[*]}" >&2
sudo=()
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null || { echo "deps.sh: need root to install: ${want[*]}" >&2; exit 1; }
  sudo=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${want[@]}" >/dev/null
