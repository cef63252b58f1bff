#!/usr/bin/env bash
# install-deps.sh [--test] - install the Debian 12 packages agentmeter needs,
# only those that are missing (dpkg-query per package). Without --test: the
# build dependencies; with --test: also what scripts/test.sh needs (clang +
# sanitizer runtime, promtool, node + npm, curl, clang-format, lintian for
# the .deb).
# As root it runs apt-get; otherwise it prints the sudo command and fails if
# anything is missing. Exit 0 when everything is present.
set -euo pipefail

build_pkgs=(build-essential cmake pkg-config libnanopb-dev nanopb libxxhash-dev libcmocka-dev
    libyaml-dev zlib1g-dev libdeflate-dev libssl-dev libnghttp2-dev libcurl4-openssl-dev
    libsnappy-dev)
test_pkgs=(clang libclang-rt-14-dev clang-format prometheus victoria-metrics nodejs npm curl nghttp2-client openssl systemd python3-yaml python3-prometheus-client lintian)

want=("${build_pkgs[@]}")
if [[ "${1:-}" == "--test" ]]; then
    want+=("${test_pkgs[@]}")
elif [[ $# -gt 0 ]]; then
    echo "usage: $0 [--test]" >&2
    exit 2
fi

# A package counts as present when dpkg says it is installed. npm and nodejs
# also count when the command is on PATH: NodeSource's nodejs ships npm
# inside it, and installing Debian's npm next to it would conflict.
present() {
    local pkg=$1
    if [[ "$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null)" == "install ok installed" ]]; then
        return 0
    fi
    case "$pkg" in
    npm) command -v npm >/dev/null 2>&1 ;;
    nodejs) command -v node >/dev/null 2>&1 ;;
    *) return 1 ;;
    esac
}

missing=()
for pkg in "${want[@]}"; do
    if ! present "$pkg"; then
        missing+=("$pkg")
    fi
done

if [[ ${#missing[@]} -gt 0 ]]; then
    if [[ $(id -u) -ne 0 ]]; then
        echo "install-deps: missing Debian packages: ${missing[*]}" >&2
        echo "install-deps: run: sudo apt-get update && sudo apt-get install -y --no-install-recommends ${missing[*]}" >&2
        exit 1
    fi
    echo "install-deps: installing ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update
    apt-get install -y --no-install-recommends "${missing[@]}"
fi

# The nanopb generator runs under /usr/bin/python3 (its shebang), whatever
# python3 a pyenv puts first on PATH; it needs python3-protobuf there.
gen=$(command -v nanopb_generator || command -v nanopb_generator.py || true)
if [[ -z "$gen" ]]; then
    echo "install-deps: nanopb_generator not found on PATH (package nanopb)" >&2
    exit 1
fi
if ! "$gen" --version >/dev/null 2>&1; then
    echo "install-deps: $gen does not run; is python3-protobuf installed for /usr/bin/python3?" >&2
    exit 1
fi
