#!/usr/bin/env bash
# breaking is the proto breaking-change gate: it builds the workspace's contracts
# into one buf image and compares it, image to image, with the last released
# contract committed at contracts/released.binpb (FILE rules).
#
# Why an image and not `--against .git#branch=main`: that rebuilds the old tree
# from git, where the ignored google/api protos are missing, so it fails on every
# edit; and on CI's fresh clone main *is* the change, so it would pass everything.
# The committed image is the released contract; `npm run contracts:release`
# refreshes it when a release ships.
#
# usage: breaking.sh [WORKSPACE_DIR]   (default: the repository; tests pass a copy)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
workspace=$(cd "${1:-$root}" && pwd)
against=${BREAKING_AGAINST:-$root/contracts/released.binpb}
buf="$root/node_modules/.bin/buf"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

node "$root/scripts/proto-deps.mjs" "$workspace/.proto-deps"
(cd "$workspace" && "$buf" build --path proto/shop -o "$tmp/current.binpb")
# --exclude-imports: google/api and the well-known types are not ours to gate.
"$buf" breaking "$tmp/current.binpb" --against "$against" --exclude-imports \
  --config '{"version":"v2","breaking":{"use":["FILE"]}}'
echo "breaking: no breaking changes against ${against#"$root"/}"
