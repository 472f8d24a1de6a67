#!/usr/bin/env bash
# delete.sh: delete a platform's stack and report (and, when asked, purge) what survives
# (see --help, docs/deploy.md).
set -euo pipefail

export PROG=delete.sh  # read by generator/deploy/lib.sh and the helpers' messages
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# (`shellcheck -x` follows the library; plain `shellcheck` is told not to)
# shellcheck source=generator/deploy/lib.sh disable=SC1091
source "$ROOT/generator/deploy/lib.sh"

usage() {
  cat <<'USAGE'
Usage: ./delete.sh --platform NAME|SPEC.yaml --env dev|test|prod [options]

Delete the stack NAME-ENV (and its nested stacks):
  1. list, once, what will survive the delete: retained resources (log groups, ECR
     repositories and their images, the KMS key, secrets, buckets, EFS file systems),
     the database's final snapshot, secrets and keys in their recovery window; what a
     failed first create (ROLLBACK_COMPLETE) or earlier instances of the same stack name
     left behind (found from CloudFormation's events by stack ID, also after the stack
     was deleted); the packaged templates in the artifact bucket
  2. ask for the stack name to be typed back (unless --yes)
  3. delete and wait, streaming events; check the survivors through their service APIs
     and report DELETE_FAILED resources with their reasons
  4. purge what survived, when asked (--purge-retained), or when the environment does not
     retain data (the spec's data_retention: Metadata.stackgen.retain_on_delete of the
     parent template is false): log groups and repositories deleted, the KMS key scheduled
     for deletion (7 days), secrets force-deleted, buckets emptied (every version) and
     deleted, EFS and retained databases deleted; final database snapshots are kept
     unless --purge-snapshots
  5. with --purge-artifacts, delete every object version under the stack's prefix in the
     artifact bucket

Options:
  --platform NAME      platform (or its spec file)                              [required]
  --env ENV            environment: dev, test or prod                           [required]
  --stack-name NAME    stack name (default: NAME-ENV)
  --region REGION      AWS region (default: AWS_REGION, AWS_DEFAULT_REGION, aws configure)
  --bucket BUCKET      artifact bucket (default: stackgen-artifacts-<account>-<region>)
  --endpoint-url URL   AWS endpoint, e.g. the local emulator http://127.0.0.1:4566
  --yes                do not ask for confirmation (the only way without a terminal)
  --purge-retained     after the delete, purge what it (and earlier instances, or a failed
                       create) left behind: confirmed by typing 'purge', or with --yes
  --purge-snapshots    with a purge, delete the final database snapshots too
  --purge-artifacts    also empty s3://BUCKET/STACK/ (all object versions)
  --interval SECONDS   event polling interval (default: 1, 0.5 with --endpoint-url)
  -h, --help           show this help

A stack set (deploy.sh --stack-set; docs/deploy.md, "StackSets"):
  --stack-set          delete the stack set NAME-ENV: list what its instances leave
                       behind, delete the instances (all, or those of --regions R1,R2),
                       wait, then delete the stack set once it has no instance
  --regions, --failure-tolerance, --max-concurrent, --region-concurrency,
  --concurrency-mode, --call-as, --operation-timeout: as for deploy.sh --stack-set

Exit status: 0 deleted (or there was no stack); 1 the stack still exists, something was
not purged, or the delete was not confirmed; 2 usage error or unreachable endpoint.
USAGE
}

ORIG_ARGS=("$@")
PLATFORM="" ENV_NAME="" STACK="" REGION="" BUCKET="" ENDPOINT="" YES=0 PURGE=0 INTERVAL=""
PURGE_RETAINED=0 PURGE_SNAPSHOTS=0
STACK_SET=0 SS_ARGS=()  # --stack-set and its options (generator/deploy/stacksets.py)
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
    --purge-retained) PURGE_RETAINED=1; shift ;;
    --purge-snapshots) PURGE_SNAPSHOTS=1; shift ;;
    --purge-artifacts) PURGE=1; shift ;;
    --stack-set) STACK_SET=1; shift ;;
    --regions|--accounts|--organizational-units|--permission-model|--failure-tolerance|--max-concurrent|\
    --region-concurrency|--concurrency-mode|--call-as|--operation-timeout)
      need_value "$1" "${2:-}"; SS_ARGS+=("$1" "$2"); shift 2 ;;
    *) die_usage "unknown argument: $1" ;;
  esac
done

validate_common
if [[ -n "$INTERVAL" && ! "$INTERVAL" =~ ^[0-9]+(\.[0-9]+)?$ ]]; then
  die_usage "invalid --interval: $INTERVAL"
fi
if [[ $PURGE_SNAPSHOTS -eq 1 && $PURGE_RETAINED -eq 0 ]]; then
  die_usage "--purge-snapshots goes with --purge-retained"
fi
if [[ $YES -eq 0 && ! -t 0 ]]; then
  die_usage "confirmation is required and stdin is not a terminal: pass --yes to delete $STACK"
fi
setup_tools
stack_set_check --delete
setup_aws
INTERVAL="${INTERVAL:-$([[ -n "$ENDPOINT" ]] && echo 0.5 || echo 1)}"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/stackgen-delete.XXXXXX")"
trap 'stop_helpers; rm -rf "$WORK"' EXIT
start_helpers sts,cloudformation,s3
LOST_EXIT=2
lock_stack
check_endpoint
[[ $STACK_SET -eq 1 ]] && delete_stack_set

purge_artifacts() {
  if [[ $PURGE -eq 1 ]]; then
    BUCKET="${BUCKET:-$(pydeploy artifacts bucket-name "${PY_AWS[@]}")}"
    pydeploy artifacts purge --bucket "$BUCKET" --prefix "$STACK" "${PY_AWS[@]}"
  fi
}
# confirm_purge: typed 'purge' on a terminal (also with --yes: deleting data is never
# silent there), else --yes.
confirm_purge() {
  if [[ -t 0 ]]; then
    read -r -p "Purge the retained resources listed above (data is deleted for good)? Type 'purge' to continue: " answer
    [[ "$answer" == purge ]] || { say "Not purged (answer was not 'purge'): the retained resources stay."; PURGE_RETAINED=0; }
  fi
}
purge_retained() { # purge_retained [--leftovers-only]
  local flags=("$@")
  [[ $PURGE_SNAPSHOTS -eq 1 ]] && flags+=(--snapshots)
  say "Purging what was retained"
  pydeploy survivors purge --stack-name "$STACK" --load "$WORK/survivors.json" "${flags[@]}" "${PY_AWS[@]}"
}

# Several root stacks (generator/roots.py): the service-set roots NAME-services-N go first,
# last root first, each by this script (its own survivors and purge); then the base root.
delete_later_roots() { # delete_later_roots [--yes]
  local name later=()
  mapfile -t later < <(pydeploy roots stacks --stack-name "$STACK" "${PY_AWS[@]}")
  for name in "${later[@]}"; do
    say "Root stack $name first (a service-set root of $STACK)"
    "$0" "${ORIG_ARGS[@]}" --stack-name "$name" "$@" || die "the root stack $name was not deleted; $STACK is kept"
  done
}

# 1. what survives (and the stack's state, and the environment's retain_on_delete)
pydeploy survivors before --stack-name "$STACK" --env "$ENV_NAME" --save "$WORK/survivors.json" \
  --status-file "$WORK/status" --retain-file "$WORK/retain" ${BUCKET:+--bucket "$BUCKET"} "${PY_AWS[@]}"
STATUS="$(cat "$WORK/status")"
RETAIN="$(cat "$WORK/retain")"
if [[ "$RETAIN" == false && $PURGE_RETAINED -eq 0 ]]; then
  PURGE_RETAINED=1
  say "The $ENV_NAME environment does not retain data (data_retention; retain_on_delete is false): what is listed above as retained is purged after the stack delete."
elif [[ $PURGE_RETAINED -eq 1 ]]; then
  say "What is listed above as retained or left behind is purged after the delete (--purge-retained)$([[ $PURGE_SNAPSHOTS -eq 1 ]] && echo ', final snapshots too')."
fi
LEFT="$("$PY" -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["leftovers"]))' "$WORK/survivors.json")"
case "$STATUS" in
  NONE)
    delete_later_roots
    say "Stack $STACK does not exist ($REGION${ENDPOINT:+, endpoint $ENDPOINT}); nothing to delete."
    rc=0
    if [[ $PURGE_RETAINED -eq 1 && "$LEFT" != 0 ]]; then
      confirm_purge
      [[ $PURGE_RETAINED -eq 1 ]] && { purge_retained --leftovers-only || rc=1; }
    fi
    purge_artifacts
    exit "$rc" ;;
  DELETE_IN_PROGRESS) ;;
  *_IN_PROGRESS) die "stack $STACK is busy ($STATUS): a deploy or delete is running; run the same command again once it has finished" ;;
esac
[[ $PURGE -eq 1 ]] && say "Artifacts under the stack's prefix will be purged (--purge-artifacts)."

# 2. confirm
if [[ $YES -eq 0 ]]; then
  read -r -p "Type the stack name ($STACK) to delete it: " answer
  [[ "$answer" == "$STACK" ]] || die "not deleted: the name typed did not match $STACK"
fi
[[ $PURGE_RETAINED -eq 1 ]] && confirm_purge

# 3. delete and wait (the service-set roots first: confirmed with this one)
delete_later_roots --yes
say "Deleting $STACK (platform $PLATFORM, environment $ENV_NAME)"
LOST_EXIT=1
rc=0
pydeploy events watch --stack-name "$STACK" --delete --mark-file "$WORK/mark" \
  --interval "$INTERVAL" "${PY_AWS[@]}" || rc=$?
[[ -s "$WORK/mark" ]] || die "could not start deleting $STACK"
pydeploy survivors after --stack-name "$STACK" --load "$WORK/survivors.json" \
  --since "$(cat "$WORK/mark")" "${PY_AWS[@]}" || rc=1
[[ $rc -eq 0 ]] || die "stack $STACK was not deleted"
say "Deleted $STACK."

# 4. retained resources, 5. artifacts
if [[ $PURGE_RETAINED -eq 1 ]]; then
  purge_retained || rc=1
fi
purge_artifacts
[[ $rc -eq 0 ]] || die "some retained resources were not purged (listed above as NOT PURGED)"
