#!/usr/bin/env bash
# delete.sh: delete a platform's stack and report what survives (see --help, docs/deploy.md).
set -euo pipefail

export PROG=delete.sh  # read by generator/deploy/lib.sh
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# (`shellcheck -x` follows the library; plain `shellcheck` is told not to)
# shellcheck source=generator/deploy/lib.sh disable=SC1091
source "$ROOT/generator/deploy/lib.sh"

usage() {
  cat <<'EOF'
Usage: ./delete.sh --platform NAME --env dev|test|prod [options]

Delete the stack NAME-ENV (and its nested stacks):
  1. list what will survive the delete: retained EFS file systems, log groups and ECR
     repositories (with their images), final database snapshots, secrets in their recovery
     window, KMS keys pending deletion, the stack's artifacts
  2. ask for the stack name to be typed back (unless --yes)
  3. delete and wait, streaming events; report DELETE_SKIPPED (retained) resources and
     DELETE_FAILED ones with their reasons
  4. with --purge-artifacts, delete every object version under the stack's prefix in the
     artifact bucket

Options:
  --platform NAME      platform                                                [required]
  --env ENV            environment: dev, test or prod                           [required]
  --stack-name NAME    stack name (default: NAME-ENV)
  --region REGION      AWS region (default: AWS_REGION, AWS_DEFAULT_REGION, aws configure)
  --bucket BUCKET      artifact bucket (default: stackgen-artifacts-<account>-<region>)
  --endpoint-url URL   AWS endpoint, e.g. the local emulator http://127.0.0.1:4566
  --yes                do not ask for confirmation
  --purge-artifacts    also empty s3://BUCKET/STACK/ (all object versions)
  --interval SECONDS   event polling interval (default: 1, 0.5 with --endpoint-url)
  -h, --help           show this help

Exit status: 0 deleted (or there was no stack); 1 the stack still exists or the delete
was not confirmed; 2 usage error.
EOF
}

PLATFORM="" ENV_NAME="" STACK="" REGION="" BUCKET="" ENDPOINT="" YES=0 PURGE=0 INTERVAL=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    -h|--help) usage; exit 0 ;;
    --platform) need_value "$1" "${2:-}"; PLATFORM="$2"; shift 2 ;;
    --env) need_value "$1" "${2:-}"; ENV_NAME="$2"; shift 2 ;;
    --stack-name) need_value "$1" "${2:-}"; STACK="$2"; shift 2 ;;
    --region) need_value "$1" "${2:-}"; REGION="$2"; shift 2 ;;
    --bucket) need_value "$1" "${2:-}"; BUCKET="$2"; shift 2 ;;
    --endpoint-url) need_value "$1" "${2:-}"; ENDPOINT="$2"; shift 2 ;;
    --interval) need_value "$1" "${2:-}"; INTERVAL="$2"; shift 2 ;;
    --yes) YES=1; shift ;;
    --purge-artifacts) PURGE=1; shift ;;
    *) die_usage "unknown argument: $1" ;;
  esac
done

validate_common
if [[ -n "$INTERVAL" && ! "$INTERVAL" =~ ^[0-9]+(\.[0-9]+)?$ ]]; then
  die_usage "invalid --interval: $INTERVAL"
fi
if [[ $YES -eq 0 && ! -t 0 ]]; then
  die_usage "confirmation is required and stdin is not a terminal: pass --yes to delete $STACK"
fi
setup_tools
setup_aws
INTERVAL="${INTERVAL:-$([[ -n "$ENDPOINT" ]] && echo 0.5 || echo 1)}"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/stackgen-delete.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT

purge() {
  if [[ $PURGE -eq 1 ]]; then
    BUCKET="${BUCKET:-$(pydeploy artifacts bucket-name "${PY_AWS[@]}")}"
    pydeploy artifacts purge --bucket "$BUCKET" --prefix "$STACK" "${PY_AWS[@]}"
  fi
}

# 1. what survives (and the stack's state)
pydeploy survivors before --stack-name "$STACK" --save "$WORK/survivors.json" \
  --status-file "$WORK/status" ${BUCKET:+--bucket "$BUCKET"} "${PY_AWS[@]}"
STATUS="$(cat "$WORK/status")"
case "$STATUS" in
  NONE)
    say "Stack $STACK does not exist ($REGION${ENDPOINT:+, endpoint $ENDPOINT}); nothing to delete."
    purge
    exit 0 ;;
  DELETE_IN_PROGRESS) ;;
  *_IN_PROGRESS) die "stack $STACK is busy ($STATUS); wait for it to finish" ;;
esac
[[ $PURGE -eq 1 ]] && say "Artifacts under the stack's prefix will be purged (--purge-artifacts)."

# 2. confirm
if [[ $YES -eq 0 ]]; then
  read -r -p "Type the stack name ($STACK) to delete it: " answer
  [[ "$answer" == "$STACK" ]] || die "not deleted: the name typed did not match $STACK"
fi

# 3. delete and wait
say "Deleting $STACK (platform $PLATFORM, environment $ENV_NAME)"
rc=0
pydeploy events watch --stack-name "$STACK" --delete --mark-file "$WORK/mark" \
  --interval "$INTERVAL" "${PY_AWS[@]}" || rc=$?
[[ -s "$WORK/mark" ]] || die "could not start deleting $STACK"
pydeploy survivors after --stack-name "$STACK" --load "$WORK/survivors.json" \
  --since "$(cat "$WORK/mark")" "${PY_AWS[@]}" || rc=1
[[ $rc -eq 0 ]] || die "stack $STACK was not deleted"
say "Deleted $STACK."

# 4. artifacts
purge
