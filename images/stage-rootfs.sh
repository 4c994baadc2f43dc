#!/usr/bin/env bash
# Lays out the root filesystem of a distroless-like image in DIR: the release BINARY (debug
# sections stripped) at /BINARY_NAME, the shared libraries it loads (from ldd: glibc, libgcc_s, the loader), the CA
# bundle for TLS, and /etc/passwd and /etc/group naming the non-root user 65532. No shell, no
# package manager: the binary is the only program in the image.
#
# usage: images/stage-rootfs.sh BINARY DIR
set -euo pipefail

binary=$1
dir=$2
uid=65532

rm -rf "$dir"
mkdir -p "$dir/etc/ssl/certs" "$dir/tmp"
chmod 1777 "$dir/tmp"
install -m 0755 "$binary" "$dir/$(basename "$binary")"
# The release profile keeps line tables for profiling on the build host; the image needs no
# debug sections (the symbol table stays, so a backtrace still names functions).
strip --strip-debug "$dir/$(basename "$binary")"

# Every library the dynamic loader resolves, and the loader itself, at the same paths.
ldd "$binary" | grep -o '/[^ ]*' | sort -u | while read -r lib; do
  mkdir -p "$dir$(dirname "$lib")"
  cp -L "$lib" "$dir$lib"
done

cp -L /etc/ssl/certs/ca-certificates.crt "$dir/etc/ssl/certs/ca-certificates.crt"
printf 'nonroot:x:%s:%s:nonroot:/tmp:/sbin/nologin\n' "$uid" "$uid" > "$dir/etc/passwd"
printf 'nonroot:x:%s:\n' "$uid" > "$dir/etc/group"
