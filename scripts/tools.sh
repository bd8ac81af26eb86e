#!/usr/bin/env bash
# tools installs the pinned command-line tools the tests, README and benchmarks
# use into .tools/bin (ignored): grpcurl (calls services with no proto files,
# through server reflection) and ghz (gRPC load generator). Built from source with
# `go install` at pinned versions, so every machine gets the same binaries.
set -euo pipefail
cd "$(dirname "$0")/.."

GRPCURL_VERSION=v1.9.3
GHZ_VERSION=v0.120.0
BIN="$PWD/.tools/bin"
mkdir -p "$BIN"

install_tool() { # name module version
  local name=$1 module=$2 version=$3 stamp="$BIN/.$1.version"
  if [[ -x "$BIN/$name" && -f "$stamp" && "$(cat "$stamp")" == "$version" ]]; then
    echo "tools: $name $version already installed"
    return
  fi
  command -v go >/dev/null || { echo "tools: Go is required to install $name (https://go.dev/dl)" >&2; exit 1; }
  echo "tools: installing $name $version"
  GOBIN="$BIN" GOFLAGS=-mod=mod go install "$module@$version"
  echo "$version" >"$stamp"
}

install_tool grpcurl github.com/fullstorydev/grpcurl/cmd/grpcurl "$GRPCURL_VERSION"
install_tool ghz github.com/bojand/ghz/cmd/ghz "$GHZ_VERSION"
"$BIN/grpcurl" -version
