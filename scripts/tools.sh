#!/usr/bin/env bash
# tools installs the command-line tools the tests, README and benchmarks use:
# - grpcurl (calls services with no proto files, through server reflection) and
#   ghz (gRPC load generator), built from source with `go install` at pinned
#   versions into .tools/bin (ignored), so every machine gets the same binaries;
# - Chromium for the browser tests, from Debian's package (playwright's own
#   browser download cannot work without internet), only when missing and only
#   where we may install system packages (root with apt-get); elsewhere it says
#   how, and the browser test fails with the same hint.
set -euo pipefail
cd "$(dirname "$0")/.."

GRPCURL_VERSION=v1.9.3
GHZ_VERSION=v0.120.0
# toxiproxy for the latency lab (labs/). Pinned: `@latest` resolves to an old v2.5.0. Its commands are named `server`
# and `cli`; they are installed as toxiproxy-server and toxiproxy-cli so .tools/bin says what they are.
TOXIPROXY_VERSION=v2.12.0
# The command bus's local brokers (scripts/mailpit.sh, scripts/goaws.sh): Mailpit, an SMTP sink with a web UI and an
# HTTP API the tests read; goaws, an SNS + SQS emulator for the bus's SQS adapter. Pinned like the rest.
MAILPIT_VERSION=v1.33.1
GOAWS_VERSION=v0.4.5
BIN="$PWD/.tools/bin"
mkdir -p "$BIN"

install_tool() { # name module version: go install the module's command as $BIN/name (renamed when the names differ)
  local name=$1 module=$2 version=$3 stamp="$BIN/.$1.version"
  if [[ -x "$BIN/$name" && -f "$stamp" && "$(cat "$stamp")" == "$version" ]]; then
    echo "tools: $name $version already installed"
    return
  fi
  command -v go >/dev/null || { echo "tools: Go is required to install $name (https://go.dev/dl)" >&2; exit 1; }
  echo "tools: installing $name $version"
  # Into a temp GOBIN first: toxiproxy's commands are named plain `server` and `cli`, which must not land in $BIN.
  local tmp
  tmp="$(mktemp -d)"
  GOBIN="$tmp" GOFLAGS=-mod=mod go install "$module@$version"
  mv "$tmp/$(basename "$module")" "$BIN/$name"
  rm -rf "$tmp"
  echo "$version" >"$stamp"
}

install_tool grpcurl github.com/fullstorydev/grpcurl/cmd/grpcurl "$GRPCURL_VERSION"
install_tool ghz github.com/bojand/ghz/cmd/ghz "$GHZ_VERSION"
install_tool toxiproxy-server github.com/Shopify/toxiproxy/v2/cmd/server "$TOXIPROXY_VERSION"
install_tool toxiproxy-cli github.com/Shopify/toxiproxy/v2/cmd/cli "$TOXIPROXY_VERSION"
install_tool mailpit github.com/axllent/mailpit "$MAILPIT_VERSION"
install_tool goaws github.com/Admiral-Piett/goaws/app/cmd "$GOAWS_VERSION"
"$BIN/grpcurl" -version 2>&1

if command -v chromium >/dev/null; then
  echo "tools: $(chromium --version 2>/dev/null || echo chromium) found"
elif [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
  echo "tools: installing Debian's chromium for the browser tests"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  chromium --version
else
  echo "tools: chromium not found; the browser tests need it: sudo apt-get install chromium" >&2
fi
