#!/usr/bin/env bash
# Pin the Dockerfile's base image to the digest its tag resolves to now:
#   FROM python:3.11.7-slim-bookworm  ->  FROM python:3.11.7-slim-bookworm@sha256:<64 hex>
# The tag stays for readers; Docker uses the digest, so a re-pushed tag can no longer change the
# image. Run it again to move to the tag's current digest (say so in the commit message).
#
# usage: tools/pin_image.sh [--dry-run] [DOCKERFILE]      (make pin-image)
# Needs network and a docker CLI: `docker buildx imagetools inspect` (registry only, no pull), or
# `docker pull` + `docker inspect` when buildx is missing. $DOCKER overrides the docker binary.
set -euo pipefail

dry_run=0
if [[ "${1:-}" == "--dry-run" ]]; then
    dry_run=1
    shift
fi
dockerfile=${1:-Dockerfile}
docker=${DOCKER:-docker}

die() { echo "pin_image: $*" >&2; exit 1; }

[[ -f "$dockerfile" ]] || die "$dockerfile not found"
from_count=$(grep -cE '^FROM[[:space:]]' "$dockerfile" || true)
[[ "$from_count" == 1 ]] || die "$dockerfile must have exactly one FROM line (found $from_count)"

reference=$(awk '/^FROM[[:space:]]/ {print $2; exit}' "$dockerfile")
image_tag=${reference%@*}  # drop an earlier pin: always resolve the tag afresh
[[ "$image_tag" == *:* ]] || die "FROM $reference has no explicit tag; pin a version tag first"

digest=""
if "$docker" buildx version >/dev/null 2>&1; then
    digest=$("$docker" buildx imagetools inspect "$image_tag" --format '{{.Manifest.Digest}}' 2>/dev/null || true)
fi
if [[ -z "$digest" ]]; then
    "$docker" pull --quiet "$image_tag" >/dev/null || die "could not pull $image_tag (network? login?)"
    repo_digest=$("$docker" inspect --format '{{index .RepoDigests 0}}' "$image_tag")
    digest=${repo_digest#*@}
fi
[[ "$digest" =~ ^sha256:[0-9a-f]{64}$ ]] || die "unexpected digest for $image_tag: '$digest'"

pinned="$image_tag@$digest"
if [[ "$reference" == "$pinned" ]]; then
    echo "$dockerfile already pinned: FROM $pinned"
    exit 0
fi
if (( dry_run )); then
    echo "would pin: FROM $reference -> FROM $pinned"
    exit 0
fi
tmp=$(mktemp "$dockerfile.XXXXXX")
awk -v pinned="$pinned" '!done && /^FROM[[:space:]]/ {$2 = pinned; done = 1} {print}' "$dockerfile" >"$tmp"
chmod --reference="$dockerfile" "$tmp" 2>/dev/null || true
mv "$tmp" "$dockerfile"
echo "pinned: FROM $pinned"
