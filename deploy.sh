#!/usr/bin/env bash
# deploy.sh: deploy a platform's nested CloudFormation stacks (see --help and docs/deploy.md).
set -euo pipefail

export PROG=deploy.sh  # read by generator/deploy/lib.sh
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# (`shellcheck -x` follows the library; plain `shellcheck` is told not to)
# shellcheck source=generator/deploy/lib.sh disable=SC1091
source "$ROOT/generator/deploy/lib.sh"

usage() {
  cat <<'EOF'
Usage: ./deploy.sh --platform NAME --env dev|test|prod [options]

Deploy platforms/NAME.yaml as nested CloudFormation stacks:
  1. check that templates/NAME/ is fresh (and run the preflight when the generator has one);
     the same templates go to AWS and to the local emulator
  2. validate parameters/NAME/ENV.json against the template's Parameters; NoEcho (secret)
     parameters come from the environment, STACKGEN_PARAM_<Name>, or a prompt on a terminal
  3. ensure the artifact bucket (encrypted, public access blocked, versioned, TLS only) and
     `aws cloudformation package` the nested templates into it (content-addressed keys)
  4. create a change set with the nested stacks included and print its summary;
     a replacement or removal of a stateful resource is highlighted and needs confirmation
  5. execute it, streaming the parent and nested stack events
  6. print the outputs, or the root cause from the nested stack that failed first

Options:
  --platform NAME      platform (platforms/NAME.yaml)                          [required]
  --env ENV            environment: dev, test or prod                           [required]
  --stack-name NAME    stack name (default: NAME-ENV)
  --region REGION      AWS region (default: AWS_REGION, AWS_DEFAULT_REGION, aws configure)
  --bucket BUCKET      artifact bucket (default: stackgen-artifacts-<account>-<region>)
  --endpoint-url URL   AWS endpoint, e.g. the local emulator http://127.0.0.1:4566; passed
                       explicitly to every aws call. A loopback endpoint also gets dummy
                       credentials and a proxy guard so nothing can reach real AWS.
  --profile aws        template profile (the only one: templates/NAME/, committed; the
                       local emulator deploys the same bytes as AWS)
  --params-file FILE   parameters file (default: parameters/NAME/ENV.json)
  --template-dir DIR   deploy pre-rendered templates from DIR (DIR/main.yaml) instead
  --review             print the change set and ask before executing it
  --yes                execute without asking (also for stateful replacements)
  --interval SECONDS   event polling interval (default: 1, 0.5 with --endpoint-url)
  --force REASON       deploy even though the reachability preflight fails; REASON is
                       printed and recorded as the stack tag stackgen:preflight-override
  -h, --help           show this help

Parameters file: a JSON list of "Key=Value" strings, the shape that
`aws cloudformation deploy --parameter-overrides file://FILE` accepts. No secrets in it.

Exit status: 0 deployed, or no changes; 1 deploy failed, rolled back or not confirmed;
2 usage error or invalid input (nothing was created).
EOF
}

PLATFORM="" ENV_NAME="" STACK="" REGION="" BUCKET="" ENDPOINT="" PROFILE=""
PARAMS_FILE="" TEMPLATE_DIR="" REVIEW=0 YES=0 INTERVAL="" FORCE=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    -h|--help) usage; exit 0 ;;
    --platform) need_value "$1" "${2:-}"; PLATFORM="$2"; shift 2 ;;
    --env) need_value "$1" "${2:-}"; ENV_NAME="$2"; shift 2 ;;
    --stack-name) need_value "$1" "${2:-}"; STACK="$2"; shift 2 ;;
    --region) need_value "$1" "${2:-}"; REGION="$2"; shift 2 ;;
    --bucket) need_value "$1" "${2:-}"; BUCKET="$2"; shift 2 ;;
    --endpoint-url) need_value "$1" "${2:-}"; ENDPOINT="$2"; shift 2 ;;
    --profile) need_value "$1" "${2:-}"; PROFILE="$2"; shift 2 ;;
    --params-file) need_value "$1" "${2:-}"; PARAMS_FILE="$2"; shift 2 ;;
    --template-dir) need_value "$1" "${2:-}"; TEMPLATE_DIR="$2"; shift 2 ;;
    --interval) need_value "$1" "${2:-}"; INTERVAL="$2"; shift 2 ;;
    --review) REVIEW=1; shift ;;
    --yes) YES=1; shift ;;
    --force) need_value "$1" "${2:-}"; FORCE="$2"; shift 2 ;;
    *) die_usage "unknown argument: $1" ;;
  esac
done

# --- 0. inputs (exit 2, nothing created) ----------------------------------------------------
validate_common
SPEC="$ROOT/platforms/$PLATFORM.yaml"
if [[ -z "$TEMPLATE_DIR" && ! -f "$SPEC" ]]; then
  die_usage "unknown platform: $PLATFORM (no platforms/$PLATFORM.yaml; known: $(known_platforms))"
fi
PROFILE="${PROFILE:-aws}"
[[ "$PROFILE" == aws ]] || die_usage "unknown --profile: $PROFILE (aws is the only profile: the emulator deploys the same templates)"
PARAMS_FILE="${PARAMS_FILE:-$ROOT/parameters/$PLATFORM/$ENV_NAME.json}"
[[ -f "$PARAMS_FILE" ]] || die_usage "parameters file not found: $PARAMS_FILE"
if [[ -n "$INTERVAL" && ! "$INTERVAL" =~ ^[0-9]+(\.[0-9]+)?$ ]]; then
  die_usage "invalid --interval: $INTERVAL"
fi
if [[ -n "$TEMPLATE_DIR" && ! -f "$TEMPLATE_DIR/main.yaml" ]]; then
  die_usage "no main.yaml in --template-dir $TEMPLATE_DIR"
fi
setup_tools
setup_aws
INTERVAL="${INTERVAL:-$([[ -n "$ENDPOINT" ]] && echo 0.5 || echo 1)}"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/stackgen-deploy.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT

# --- 1. parameters (and the stack's state), before anything is rendered or created ----------
# Validate against the committed parent template (or --template-dir), else after rendering.
validate_params() {
  pydeploy params --template "$PARAMS_TEMPLATE" --params-file "$PARAMS_FILE" \
    --stack-name "$STACK" --status-file "$WORK/status" "${PY_AWS[@]}" "$@"
}
check_params() {
  PARAMS_TEMPLATE="$1"
  if [[ -t 0 ]]; then
    NEED="$(validate_params --interactive)" || exit $?
    for name in $NEED; do
      read -r -s -p "Value for NoEcho parameter $name (not echoed): " value
      printf '\n' >&2
      export "STACKGEN_PARAM_$name=$value"
    done
    unset value
    if [[ -n "$NEED" ]]; then validate_params >/dev/null || exit $?; fi
  else
    validate_params || exit $?
  fi
}
PARAMS_TEMPLATE=""
if [[ -n "$TEMPLATE_DIR" ]]; then
  check_params "$TEMPLATE_DIR/main.yaml"
elif [[ -f "$ROOT/templates/$PLATFORM/main.yaml" ]]; then
  check_params "$ROOT/templates/$PLATFORM/main.yaml"
fi

# --- 2. templates: fresh, preflight ----------------------------------------------------------
synth() { # synth OUTDIR
  timed "$PY" -m generator synth "$SPEC" --out "$1" >"$WORK/synth.log" 2>&1 \
    || { cat "$WORK/synth.log" >&2; die "synth failed for $SPEC"; }
}
TEMPLATE_SOURCE=spec
if [[ -n "$TEMPLATE_DIR" ]]; then
  TEMPLATE_SOURCE=dir
  say "Templates: $TEMPLATE_DIR (pre-rendered)"
else
  TEMPLATE_DIR="$ROOT/templates/$PLATFORM"
  [[ -f "$TEMPLATE_DIR/main.yaml" ]] || die "no templates/$PLATFORM/main.yaml: run make templates PLATFORM=platforms/$PLATFORM.yaml"
  synth "$WORK/fresh"
  if ! diff -r -q "$TEMPLATE_DIR" "$WORK/fresh" >"$WORK/stale.txt" 2>&1; then
    sed 's/^/  /' "$WORK/stale.txt" >&2
    die "templates/$PLATFORM is stale (differs from the spec): run make templates PLATFORM=platforms/$PLATFORM.yaml"
  fi
  say "Templates: templates/$PLATFORM (fresh)"
fi
if [[ "$TEMPLATE_SOURCE" == spec ]]; then
  # The preflight (python -m generator check SPEC), when the generator has one.
  rc=0
  timed "$PY" -m generator check "$SPEC" >"$WORK/check.log" 2>&1 || rc=$?
  if [[ $rc -eq 0 ]]; then
    tail -n 1 "$WORK/check.log"
  elif ! grep -q "invalid choice: 'check'" "$WORK/check.log"; then
    cat "$WORK/check.log" >&2
    if [[ -n "$FORCE" && $rc -eq 1 ]]; then
      echo "WARNING: deploying despite a failed preflight (--force): $FORCE" >&2
    else
      die "preflight failed for platforms/$PLATFORM.yaml (python -m generator check); fix it, or --force REASON"
    fi
  fi
fi
[[ -n "$PARAMS_TEMPLATE" ]] || check_params "$TEMPLATE_DIR/main.yaml"
STATUS="$(cat "$WORK/status")"
case "$STATUS" in
  NONE|REVIEW_IN_PROGRESS|ROLLBACK_COMPLETE) ;;
  *_IN_PROGRESS) die "stack $STACK is busy ($STATUS); wait for it to finish" ;;
  ROLLBACK_FAILED|DELETE_FAILED|UPDATE_ROLLBACK_FAILED|IMPORT_ROLLBACK_FAILED)
    die "stack $STACK is $STATUS and needs manual attention (see ./delete.sh)" ;;
esac

# --- 3. artifacts -----------------------------------------------------------------------------
if [[ "$STATUS" == ROLLBACK_COMPLETE ]]; then
  say "Stack $STACK is ROLLBACK_COMPLETE (a failed create left it empty): deleting it first"
  pydeploy events watch --stack-name "$STACK" --delete --interval "$INTERVAL" "${PY_AWS[@]}" \
    || die "could not delete the failed stack $STACK"
  STATUS=NONE
fi
BUCKET="$(pydeploy artifacts ensure ${BUCKET:+--bucket "$BUCKET"} "${PY_AWS[@]}")"
say "Packaging nested templates into s3://$BUCKET/$STACK/"
aws_cli cloudformation package --template-file "$TEMPLATE_DIR/main.yaml" --s3-bucket "$BUCKET" \
  --s3-prefix "$STACK" --output-template-file "$WORK/packaged.yaml" >"$WORK/package.log" 2>&1 \
  || { cat "$WORK/package.log" >&2; die "aws cloudformation package failed"; }

# --- 4. change set ----------------------------------------------------------------------------
CS_NAME="stackgen-$(date -u +%Y%m%dT%H%M%SZ)"
say "Creating change set $CS_NAME for $STACK ($REGION${ENDPOINT:+, endpoint $ENDPOINT})"
cleanup_placeholder() { # a CREATE change set leaves an empty REVIEW_IN_PROGRESS stack
  if [[ "$STATUS" == NONE || "$STATUS" == REVIEW_IN_PROGRESS ]] && [[ "$(aws_cli cloudformation \
      describe-stacks --stack-name "$STACK" --query 'Stacks[0].StackStatus' --output text \
      2>/dev/null)" == REVIEW_IN_PROGRESS ]]; then
    aws_cli cloudformation delete-stack --stack-name "$STACK" || true
  fi
}
SUMMARY=(--summary)
# A preflight override is recorded on the stack, so the next reader sees why.
[[ -n "$FORCE" ]] && SUMMARY+=(--tag "stackgen:preflight-override=${FORCE:0:250}")
# A first create lists every resource as an add: only the review shows them all.
[[ "$STATUS" == NONE && $REVIEW -eq 0 ]] && SUMMARY+=(--brief)
rc=0
pydeploy changeset create --stack-name "$STACK" --change-set-name "$CS_NAME" \
  --template-file "$WORK/packaged.yaml" --bucket "$BUCKET" --prefix "$STACK" \
  --template "$TEMPLATE_DIR/main.yaml" --params-file "$PARAMS_FILE" "${SUMMARY[@]}" \
  --tag "stackgen:platform=$PLATFORM" --tag "stackgen:environment=$ENV_NAME" \
  --result-file "$WORK/changeset" --interval "$INTERVAL" "${PY_AWS[@]}" || rc=$?
if [[ $rc -ne 0 ]]; then
  cleanup_placeholder
  exit "$rc"
fi
read -r CHANGE_SET RISK <"$WORK/changeset"
if [[ "$CHANGE_SET" == NO_CHANGES ]]; then
  say "No changes: $STACK is up to date."
  pydeploy outputs --stack-name "$STACK" "${PY_AWS[@]}"
  exit 0
fi
abandon() {
  aws_cli cloudformation delete-change-set --change-set-name "$CHANGE_SET" || true
  cleanup_placeholder
  die "$1"
}
if [[ $REVIEW -eq 1 || "$RISK" != 0 ]]; then
  why="--review"
  [[ "$RISK" != 0 ]] && why="stateful resources would be replaced or removed"
  if [[ $YES -eq 1 ]]; then
    say "Executing without confirmation (--yes; $why)"
  elif [[ -t 0 ]]; then
    read -r -p "Execute this change set on $STACK? Type 'yes' to continue: " answer
    [[ "$answer" == yes ]] || abandon "not executed: change set deleted (answer was not 'yes')"
  else
    abandon "not executed ($why): confirmation is required and stdin is not a terminal; re-run with --yes to execute"
  fi
fi

# --- 5. execute, stream events, 6. outputs or root cause ---------------------------------------
say "Executing $CS_NAME"
pydeploy events watch --stack-name "$STACK" --execute-change-set "$CHANGE_SET" --outputs \
  --interval "$INTERVAL" "${PY_AWS[@]}" || die "deploy of $STACK failed (see the root cause above)"
DIAG=(python -m generator diagnose --stack "$STACK")
[[ -n "$REGION" ]] && DIAG+=(--region "$REGION")
[[ -n "$ENDPOINT" ]] && DIAG+=(--endpoint-url "$ENDPOINT")
say "Check the deployed network path with: ${DIAG[*]}"
