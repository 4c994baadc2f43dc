#!/usr/bin/env bash
# Stages, builds and checks the service and operator images from the binaries in BIN_DIR:
# `make images` passes the release directory; `make test` passes the debug one its tests built,
# as a smoke of the same pipeline under a throwaway name, removed afterwards (--remove).
#
# usage: images/build.sh BIN_DIR REGISTRY TAG [--remove]
set -euo pipefail
cd "$(dirname "$0")/.."

bin_dir=$1
registry=$2
tag=$3
remove=${4:-}
context=$bin_dir/images
built=()
# A smoke leaves nothing behind, passed or failed.
cleanup() {
  rm -rf "$context"
  if [ "$remove" = --remove ] && [ ${#built[@]} -gt 0 ]; then
    buildah rmi -f "${built[@]}" >/dev/null 2>&1 || true
  fi
}
trap cleanup EXIT

for name in loyalty-service loyalty-operator; do
  short=${name#loyalty-}
  image=$registry/$name:$tag
  images/stage-rootfs.sh "$bin_dir/$name" "$context/$name"
  built+=("$image")
  buildah build --quiet -f "images/$short.Containerfile" -t "$image" "$context" >/dev/null
  images/check-image.sh "$image" "$name"
done
