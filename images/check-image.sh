#!/usr/bin/env bash
# Checks a built image without running a container (none can run on these machines): its user
# is 65532, its entrypoint is /NAME, and /NAME --help starts from the image's own root
# filesystem (buildah mount + chroot), so every library it loads is in the image.
#
# usage: images/check-image.sh IMAGE NAME
set -euo pipefail

image=$1
name=$2

user=$(buildah inspect --format '{{.OCIv1.Config.User}}' "$image")
entrypoint=$(buildah inspect --format '{{.OCIv1.Config.Entrypoint}}' "$image")
[ "$user" = "65532:65532" ] || { echo "$image runs as '$user', not 65532:65532" >&2; exit 1; }
[ "$entrypoint" = "[/$name]" ] || { echo "$image has entrypoint $entrypoint" >&2; exit 1; }

container=$(buildah from "$image")
trap 'buildah umount "$container" >/dev/null; buildah rm "$container" >/dev/null' EXIT
root=$(buildah mount "$container")
chroot --userspec=65532:65532 "$root" "/$name" --help >/dev/null
echo "$image: user $user, entrypoint $entrypoint, /$name --help starts from the image's root"
