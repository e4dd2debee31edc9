#!/usr/bin/env bash
# Builds every image the containers target uses, locally, with no registry:
#   crosstalk/debian   one Debian rootfs (mmdebstrap) holding Redis, PostgreSQL
#                      and nginx from Debian's packages, imported with docker import
#   crosstalk/redis, crosstalk/postgres, crosstalk/nginx
#                      thin images FROM that base: user, command, configuration
#   crosstalk/crosstalk the static crosstalk binary FROM scratch: the portal
#                      replicas and the Toxiproxy server run from it
# Idempotent: the base is keyed by a hash of what goes into it and is only
# rebuilt when that changes; the other images come from Docker's build cache.
# Names: CROSSTALK_IMAGE_PREFIX (default crosstalk) and CROSSTALK_IMAGE_TAG
# (default local); the run takes --image NAME=REF to use images from elsewhere.
set -euo pipefail
cd "$(dirname "$0")"
prefix=${CROSSTALK_IMAGE_PREFIX:-crosstalk}
tag=${CROSSTALK_IMAGE_TAG:-local}
suite=${CROSSTALK_DEBIAN_SUITE:-bookworm}
mirror=${CROSSTALK_DEBIAN_MIRROR:-http://deb.debian.org/debian}
packages=redis-server,postgresql,nginx-light,ca-certificates
step() { printf '\033[1m==> %s\033[0m\n' "$*"; }
# The legacy builder's deprecation banner is noise here: keep everything else.
quiet() { "$@" 2>&1 >/dev/null | { grep -v -e DEPRECATED -e buildx -e '^$' >&2 || true; }; return "${PIPESTATUS[0]}"; }

command -v docker >/dev/null || { echo "images: docker is not installed" >&2; exit 1; }
docker info >/dev/null 2>&1 || { echo "images: the Docker engine is not reachable (is the daemon running?)" >&2; exit 1; }

# Bump baseversion when the base changes in a way its inputs do not show.
baseversion=1
key=$(printf "%s\n" "$baseversion" "$suite" "$mirror" "$packages" | sha256sum | cut -c1-12)
base="$prefix/debian:$key"
if docker image inspect "$base" >/dev/null 2>&1; then
	step "base $base is up to date"
else
	if ! command -v mmdebstrap >/dev/null; then
		if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
			step "installing mmdebstrap from Debian's packages (it builds the base)"
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mmdebstrap >/dev/null
		else
			echo "images: mmdebstrap is missing: sudo apt-get install mmdebstrap" >&2
			exit 1
		fi
	fi
	step "building base $base: Debian $suite with $packages (mmdebstrap, about a minute)"
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' EXIT
	mmdebstrap --variant=minbase --include="$packages" \
		--dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/doc/*' \
		--dpkgopt='path-exclude=/usr/share/locale/*' \
		--customize-hook='rm -f "$1"/etc/nginx/sites-enabled/default' \
		"$suite" "$tmp/rootfs.tar" "$mirror"
	step "importing the base"
	docker import --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
		"$tmp/rootfs.tar" "$base" >/dev/null
fi
docker tag "$base" "$prefix/debian:$tag"

for svc in redis postgres nginx; do
	step "image $prefix/$svc:$tag"
	quiet docker build -q --build-arg BASE="$base" -t "$prefix/$svc:$tag" "$svc"
done

step "image $prefix/crosstalk:$tag (static binary FROM scratch)"
mkdir -p crosstalk/bin
CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o crosstalk/bin/crosstalk ../cmd/crosstalk
quiet docker build -q -t "$prefix/crosstalk:$tag" crosstalk
step "images ready"
docker image ls --filter "reference=$prefix/*:$tag" --format "  {{.Repository}}:{{.Tag}}  {{.Size}}"
