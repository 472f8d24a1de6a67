#!/usr/bin/env bash
# deploy.sh: deploy a platform's nested CloudFormation stacks (see --help and docs/deploy.md).
set -euo pipefail

export PROG=deploy.sh  # read by generator/deploy/lib.sh and the helpers' messages
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# (`shellcheck -x` follows the library; plain `shellcheck` is told not to)
# shellcheck source=generator/deploy/lib.sh disable=SC1091
source "$ROOT/generator/deploy/lib.sh"

usage() {
  cat <<'USAGE'
Usage: ./deploy.sh --platform NAME|SPEC.yaml --env dev|test|prod [options]

Deploy platforms/NAME.yaml (or any spec file) as nested CloudFormation stacks:
  1. check that the endpoint answers (one line and exit 2 when it does not), and that
     templates/NAME/ is fresh (a spec outside platforms/ is rendered into a temporary
     directory); run the preflight
  2. fill in what depends on where and when the deploy happens: S3PrefixListId (the
     region's com.amazonaws.<region>.s3 prefix list) and <Service>ImageReady for the
     services whose image comes from the platform's own repositories (first deploy:
     false, the push commands follow the deploy; later: true when ECR has the tag)
  3. validate the parameters (parameters/NAME/ENV.json) against the template; NoEcho
     (secret) parameters come from STACKGEN_PARAM_<Name> or a hidden prompt on a terminal
  4. warn before tasks get public IPs (network.egress: public-ip); outside dev, confirm
  5. ensure the artifact bucket and `aws cloudformation package` the nested templates
  6. create a change set with the nested stacks included and print its summary; a
     replacement or removal of a stateful resource (decided from the change set and from
     the resource schemas' create-only properties) needs explicit confirmation: typed on
     a terminal, or named with --accept-replacement
  7. execute it, streaming the parent and nested stack events; print the outputs, the
     image push commands when a service waits for its image, and the diagnose command

Options:
  --platform NAME      platform (platforms/NAME.yaml), or a spec file anywhere: its
                       parameters come from parameters/<stem>/ENV.json when present, else
                       the template defaults                                     [required]
  --env ENV            environment: dev, test or prod                           [required]
  --stack-name NAME    stack name (default: NAME-ENV); another name deploys a second copy
                       of the platform and environment beside the first
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
  --yes                execute without asking (not for stateful replacements: those need
                       --accept-replacement)
  --accept-replacement PATH[,PATH...]
                       stateful replacements/removals accepted, as the change-set summary
                       names them (Stack/LogicalId, or a logical ID that names one)
  --allow-missing-images
                       deploy although an image of the platform's repositories is not
                       pushed: its service is set to <Service>ImageReady=false (scales to 0)
  --interval SECONDS   event polling interval (default: 1, 0.5 with --endpoint-url)
  --force REASON       deploy even though the reachability preflight fails; REASON is
                       printed and recorded as the stack tag stackgen:preflight-override
  --root FILE          deploy only the service-set root FILE (main-services-N.yaml) of the
                       templates as the stack NAME-services-N; deploy.sh passes it to itself
                       after the base root (a platform over one stack operation's quota:
                       docs/deploy.md, Several root stacks)
  -h, --help           show this help

Many regions and accounts (CloudFormation StackSets; docs/deploy.md, "StackSets"): the
stack set NAME-ENV (--stack-name) lives in --region; its instances are created or updated
region by region, each with its own parameter overrides (parameters/NAME/ENV.<region>.json,
S3PrefixListId looked up in that region, <Service>ImageReady decided there):
  --stack-set          deploy as a stack set (with the options below)
  --regions R1,R2      regions of the instances, in deploy order                 [required]
  --accounts A1,A2     target accounts (self-managed; default: your account)
  --organizational-units OU1,OU2
                       target OUs (service-managed; excludes --accounts)
  --permission-model self-managed|service-managed
  --failure-tolerance N|N%   failed accounts per region before the region stops (default 0)
  --max-concurrent N|N%      accounts per region at a time (default 1)
  --region-concurrency sequential|parallel    (a stack set update across regions)
  --concurrency-mode strict|soft              (failure tolerance mode)
  --administration-role-arn ARN, --execution-role-name NAME     (self-managed roles)
  --execution-role-template FILE   (service-managed: required, nested stacks need it)
  --call-as SELF|DELEGATED_ADMIN   --operation-timeout SECONDS (default 10800)

Parameters file: a JSON list of "Key=Value" strings, the shape that
`aws cloudformation deploy --parameter-overrides file://FILE` accepts. No secrets in it.

Exit status: 0 deployed, or no changes; 1 deploy failed, rolled back or not confirmed;
2 usage error, invalid input or unreachable endpoint (nothing was created).
USAGE
}

ORIG_ARGS=("$@")
PLATFORM="" ENV_NAME="" STACK="" REGION="" BUCKET="" ENDPOINT="" PROFILE=""
PARAMS_FILE="" TEMPLATE_DIR="" REVIEW=0 YES=0 INTERVAL="" FORCE="" ACCEPT="" ALLOW_MISSING=0 ROOT_FILE=main.yaml
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
    --profile) need_value "$1" "${2:-}"; PROFILE="$2"; shift 2 ;;
    --params-file) need_value "$1" "${2:-}"; PARAMS_FILE="$2"; shift 2 ;;
    --template-dir) need_value "$1" "${2:-}"; TEMPLATE_DIR="$2"; shift 2 ;;
    --interval) need_value "$1" "${2:-}"; INTERVAL="$2"; shift 2 ;;
    --accept-replacement) need_value "$1" "${2:-}"; ACCEPT="${ACCEPT:+$ACCEPT,}$2"; shift 2 ;;
    --allow-missing-images) ALLOW_MISSING=1; shift ;;
    --review) REVIEW=1; shift ;;
    --yes) YES=1; shift ;;
    --force) need_value "$1" "${2:-}"; FORCE="$2"; shift 2 ;;
    --stack-set) STACK_SET=1; shift ;;
    --regions|--accounts|--organizational-units|--permission-model|--failure-tolerance|--max-concurrent|\
    --region-concurrency|--concurrency-mode|--administration-role-arn|--execution-role-name|\
    --execution-role-template|--call-as|--operation-timeout)
      need_value "$1" "${2:-}"; SS_ARGS+=("$1" "$2"); shift 2 ;;
    --root) need_value "$1" "${2:-}"; ROOT_FILE="$2"; shift 2 ;;
    *) die_usage "unknown argument: $1" ;;
  esac
done

# --- 0. inputs (exit 2, nothing created) ----------------------------------------------------
validate_common
# Several root stacks (generator/roots.py): a service-set root is the stack NAME-services-N.
BASE_STACK="$STACK"
if [[ "$ROOT_FILE" != main.yaml ]]; then
  [[ "$ROOT_FILE" =~ ^main-services-[0-9]+\.yaml$ ]] || die_usage "invalid --root: $ROOT_FILE (main-services-N.yaml)"
  [[ -n "$TEMPLATE_DIR" && -f "$TEMPLATE_DIR/$ROOT_FILE" ]] || die_usage "--root $ROOT_FILE needs --template-dir with that file"
  ROOT_SUFFIX="${ROOT_FILE#main}"
  STACK="$STACK${ROOT_SUFFIX%.yaml}"
fi
SPEC="${SPEC_PATH:-$ROOT/platforms/$PLATFORM.yaml}"
if [[ -z "$TEMPLATE_DIR" && ! -f "$SPEC" ]]; then
  die_usage "unknown platform: $PLATFORM (no platforms/$PLATFORM.yaml; known: $(known_platforms); or pass a spec file)"
fi
PROFILE="${PROFILE:-aws}"
[[ "$PROFILE" == aws ]] || die_usage "unknown --profile: $PROFILE (aws is the only profile: the emulator deploys the same templates)"
DEFAULTS_ONLY=0
if [[ -z "$PARAMS_FILE" ]]; then
  PARAMS_FILE="$ROOT/parameters/$PLATFORM/$ENV_NAME.json"
  [[ $USER_SPEC -eq 1 && ! -f "$PARAMS_FILE" ]] && DEFAULTS_ONLY=1
fi
[[ $DEFAULTS_ONLY -eq 1 || -f "$PARAMS_FILE" ]] || die_usage "parameters file not found: $PARAMS_FILE"
if [[ -n "$INTERVAL" && ! "$INTERVAL" =~ ^[0-9]+(\.[0-9]+)?$ ]]; then
  die_usage "invalid --interval: $INTERVAL"
fi
if [[ -n "$TEMPLATE_DIR" && ! -f "$TEMPLATE_DIR/main.yaml" ]]; then
  die_usage "no main.yaml in --template-dir $TEMPLATE_DIR"
fi
[[ -z "$ACCEPT" || "$ACCEPT" =~ ^[A-Za-z0-9/,]+$ ]] || die_usage "invalid --accept-replacement: $ACCEPT (Stack/LogicalId[,...])"
setup_tools
stack_set_check  # (no --delete: the deploy options)
setup_aws
INTERVAL="${INTERVAL:-$([[ -n "$ENDPOINT" ]] && echo 0.5 || echo 1)}"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/stackgen-deploy.XXXXXX")"
trap 'stop_helpers; rm -rf "$WORK"' EXIT
start_helpers sts,cloudformation,ec2,ecr,s3
if [[ $DEFAULTS_ONLY -eq 1 ]]; then
  printf '[]\n' >"$WORK/defaults.json"
  PARAMS_FILE="$WORK/defaults.json"
  say "Note: no parameters/$PLATFORM/$ENV_NAME.json: the template's defaults are used (write one with: .venv/bin/stackgen params $(shown "$SPEC"))"
fi
# Until something is uploaded, a lost endpoint is exit 2 (nothing created); see pydeploy.
LOST_EXIT=2
lock_stack
check_endpoint

# --- 1. templates: fresh (or rendered from a spec outside platforms/), preflight -------------
synth() { # synth OUTDIR
  timed "$PY" -m generator synth "$SPEC" --out "$1" >"$WORK/synth.log" 2>&1 \
    || { cat "$WORK/synth.log" >&2; exit 2; }
}
TEMPLATE_SOURCE=spec
if [[ -n "$TEMPLATE_DIR" ]]; then
  TEMPLATE_SOURCE=dir
  say "Templates: $TEMPLATE_DIR (pre-rendered)"
elif [[ $USER_SPEC -eq 1 ]]; then
  TEMPLATE_DIR="$WORK/templates"
  synth "$TEMPLATE_DIR"
  say "Templates: rendered from $(shown "$SPEC") (no copy in platforms/ needed)"
else
  TEMPLATE_DIR="$ROOT/templates/$PLATFORM"
  [[ -f "$TEMPLATE_DIR/main.yaml" ]] || die "no templates/$PLATFORM/main.yaml: run make templates PLATFORM=platforms/$PLATFORM.yaml"
  # generated again (or known fresh from .cache/fresh) and compared file by file
  rc=0
  pydeploy fresh --spec "$SPEC" --templates "$TEMPLATE_DIR" --scratch "$WORK/fresh" 2>"$WORK/stale.txt" || rc=$?
  [[ $rc -eq 2 ]] && { cat "$WORK/stale.txt" >&2; exit 2; }
  if [[ $rc -ne 0 ]]; then
    sed 's/^/  /' "$WORK/stale.txt" >&2
    die "templates/$PLATFORM is stale (differs from the spec): run make templates PLATFORM=platforms/$PLATFORM.yaml"
  fi
  say "Templates: templates/$PLATFORM (fresh)"
fi
if [[ "$TEMPLATE_SOURCE" == spec ]]; then
  rc=0
  # the templates just generated (or known fresh): answered from .cache/check when these
  # bytes were checked before, as make templates does
  timed "$PY" -m generator check --templates "$TEMPLATE_DIR" >"$WORK/check.log" 2>&1 || rc=$?
  if [[ $rc -eq 0 ]]; then
    tail -n 1 "$WORK/check.log"
  else
    cat "$WORK/check.log" >&2
    if [[ -n "$FORCE" && $rc -eq 1 ]]; then
      echo "WARNING: deploying despite a failed preflight (--force): $FORCE" >&2
    else
      die "preflight failed for $(shown "$SPEC") (.venv/bin/stackgen check); fix it, or --force REASON"
    fi
  fi
fi

# --- many regions and accounts: the stack set path ends here (generator/deploy/stacksets.py) ---
[[ $STACK_SET -eq 1 ]] && deploy_stack_set

# --- 2. deploy-filled parameters, 3. validation (and the stack's state) ---------------------
AWS_SHOWN="aws"
if [[ "$ROOT_FILE" != main.yaml ]]; then # the root's own parameters and earlier roots' outputs
  pydeploy roots params --template "$TEMPLATE_DIR/$ROOT_FILE" --params-file "$PARAMS_FILE" \
    --stack-name "$BASE_STACK" --out "$WORK/root-params.json" "${PY_AWS[@]}" || exit $?
  PARAMS_FILE="$WORK/root-params.json"
fi
FILL=(--template "$TEMPLATE_DIR/$ROOT_FILE" --params-file "$PARAMS_FILE" --stack-name "$STACK"
      --out "$WORK/params.json" --status-file "$WORK/status" --aws-cli "$AWS_SHOWN"
      --again "$(command_line "${ORIG_ARGS[@]}")")
[[ $ALLOW_MISSING -eq 1 ]] && FILL+=(--allow-missing-images)
pydeploy filled "${FILL[@]}" "${PY_AWS[@]}" || exit $?
SHOWN_PARAMS="$(shown "$PARAMS_FILE")"
[[ $DEFAULTS_ONLY -eq 1 ]] && SHOWN_PARAMS="the template defaults"
validate_params() {
  pydeploy params --template "$TEMPLATE_DIR/$ROOT_FILE" --params-file "$WORK/params.json" \
    --shown-as "$SHOWN_PARAMS" --stack-name "$STACK" "${PY_AWS[@]}" "$@"
}
if [[ -t 0 ]]; then
  NEED="$(validate_params --interactive)" || exit $?
  for name in $NEED; do
    read -r -s -p "Value for NoEcho parameter $name (not echoed; or set STACKGEN_PARAM_$name): " value
    printf '\n' >&2
    export "STACKGEN_PARAM_$name=$value"
  done
  unset value
  if [[ -n "$NEED" ]]; then validate_params >/dev/null || exit $?; fi
else
  validate_params || exit $?
fi
STATUS="$(cat "$WORK/status")"
case "$STATUS" in
  NONE|REVIEW_IN_PROGRESS|ROLLBACK_COMPLETE) ;;
  *_IN_PROGRESS) die "stack $STACK is busy ($STATUS): another deploy or delete is running; run the same command again once it has finished" ;;
  ROLLBACK_FAILED|DELETE_FAILED|UPDATE_ROLLBACK_FAILED|IMPORT_ROLLBACK_FAILED)
    die "stack $STACK is $STATUS and needs manual attention (see ./delete.sh)" ;;
esac

# --- 4. tasks with public IPs ---------------------------------------------------------------
EXPOSURE="$(pydeploy exposure --template-dir "$TEMPLATE_DIR" --platform "$PLATFORM" --env "$ENV_NAME")"
if [[ -n "$EXPOSURE" ]]; then
  printf '%s\n' "$EXPOSURE" >&2
  if [[ "$ENV_NAME" != dev ]]; then
    if [[ $YES -eq 1 ]]; then
      say "Deploying with public task IPs (--yes)"
    elif [[ -t 0 ]]; then
      read -r -p "Deploy $PLATFORM ($ENV_NAME) with public task IPs? Type 'yes' to continue: " answer
      [[ "$answer" == yes ]] || die "not deployed (answer was not 'yes')"
    else
      die "not deployed: tasks of $ENV_NAME would get public IPs; confirmation is required and stdin is not a terminal; re-run with --yes to accept: $(command_line "${ORIG_ARGS[@]}") --yes"
    fi
  fi
fi

# --- 5. artifacts -----------------------------------------------------------------------------
if [[ "$STATUS" == ROLLBACK_COMPLETE ]]; then
  say "Stack $STACK is ROLLBACK_COMPLETE (a failed create left it empty): deleting it first"
  FAILED_ID="$(aws_cli cloudformation describe-stacks --stack-name "$STACK" --query 'Stacks[0].StackId' --output text)"
  pydeploy leftovers list --stack-name "$STACK" --stack-id "$FAILED_ID" "${PY_AWS[@]}"
  pydeploy events watch --stack-name "$STACK" --delete --interval "$INTERVAL" "${PY_AWS[@]}" \
    || die "could not delete the failed stack $STACK"
  STATUS=NONE
fi
BUCKET="$(pydeploy artifacts ensure ${BUCKET:+--bucket "$BUCKET"} "${PY_AWS[@]}")"
LOST_EXIT=1
export STACKGEN_ON_ENDPOINT_LOSS="nothing is lost: the stack is as CloudFormation left it; once the endpoint answers, see its state with ./delete.sh's listing or aws cloudformation describe-stacks --stack-name $STACK, and run the same deploy.sh command again"
say "Packaging nested templates into s3://$BUCKET/$STACK/"
package_templates "$TEMPLATE_DIR/$ROOT_FILE"

# --- 6. change set ----------------------------------------------------------------------------
# After the base root, each service-set root in order, by this script with --root (its own
# change set, review and image handling); generator/deploy/roots.py lists them.
deploy_later_roots() {
  [[ "$ROOT_FILE" == main.yaml ]] || return 0
  local line later=()
  mapfile -t later < <(pydeploy roots list --template-dir "$TEMPLATE_DIR")
  for line in "${later[@]:1}"; do
    say "Root stack $BASE_STACK${line#*$'\t'} (${line%%$'\t'*})"
    "$0" "${ORIG_ARGS[@]}" --template-dir "$TEMPLATE_DIR" --root "${line%%$'\t'*}" || exit $?
  done
}
# Unique per run (two deploys in the same second do not clash on the name).
CS_NAME="stackgen-$(date -u +%Y%m%dT%H%M%SZ)-$$-$RANDOM"
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
[[ -n "$ACCEPT" ]] && SUMMARY+=(--accept-replacement "$ACCEPT")
rc=0
pydeploy changeset create --stack-name "$STACK" --change-set-name "$CS_NAME" \
  --template-file "$WORK/packaged.yaml" --bucket "$BUCKET" --prefix "$STACK" \
  --template "$TEMPLATE_DIR/$ROOT_FILE" --params-file "$WORK/params.json" "${SUMMARY[@]}" \
  --tag "stackgen:platform=$PLATFORM" --tag "stackgen:environment=$ENV_NAME" \
  --result-file "$WORK/changeset" --interval "$INTERVAL" "${PY_AWS[@]}" || rc=$?
if [[ $rc -ne 0 ]]; then
  cleanup_placeholder
  exit "$rc"
fi
read -r CHANGE_SET RISK TODO <"$WORK/changeset"
if [[ "$CHANGE_SET" == NO_CHANGES ]]; then
  say "No changes: $STACK is up to date."
  pydeploy outputs --stack-name "$STACK" "${PY_AWS[@]}"
  deploy_later_roots
  exit 0
fi
abandon() {
  aws_cli cloudformation delete-change-set --change-set-name "$CHANGE_SET" || true
  cleanup_placeholder
  die "$1"
}
if [[ "$RISK" != 0 && "$TODO" == - ]]; then
  say "Executing: the stateful replacements/removals were accepted (--accept-replacement $ACCEPT)"
elif [[ "$RISK" != 0 ]]; then
  # Never silent: typed on a terminal (also with --yes), else named on the command line.
  if [[ -t 0 ]]; then
    read -r -p "Replace or remove stateful resources ${TODO//,/, } of $STACK? Type 'yes' to continue: " answer
    [[ "$answer" == yes ]] || abandon "not executed: change set deleted (answer was not 'yes')"
  else
    abandon "not executed: stateful resources would be replaced or removed (${TODO//,/, }); confirmation is required and stdin is not a terminal; to accept them, re-run with --accept-replacement $TODO: $(command_line "${ORIG_ARGS[@]}") --accept-replacement $TODO"
  fi
elif [[ $REVIEW -eq 1 ]]; then
  if [[ $YES -eq 1 ]]; then
    say "Executing without confirmation (--yes)"
  elif [[ -t 0 ]]; then
    read -r -p "Execute this change set on $STACK? Type 'yes' to continue: " answer
    [[ "$answer" == yes ]] || abandon "not executed: change set deleted (answer was not 'yes')"
  else
    abandon "not executed (--review): confirmation is required and stdin is not a terminal; re-run with --yes to execute"
  fi
fi

# --- 7. execute, stream events; outputs or root cause; what to do next -------------------------
say "Executing $CS_NAME"
pydeploy events watch --stack-name "$STACK" --execute-change-set "$CHANGE_SET" --outputs \
  --interval "$INTERVAL" "${PY_AWS[@]}" || die "deploy of $STACK failed (see the root cause above)"
pydeploy images push-hint --stack-name "$STACK" --template "$TEMPLATE_DIR/$ROOT_FILE" \
  --aws-cli "$AWS_SHOWN" --again "$(command_line "${ORIG_ARGS[@]}")" "${PY_AWS[@]}"
DIAG=("$(shown "$ROOT/.venv/bin/stackgen")" diagnose --stack "$STACK" --region "$REGION")
[[ -n "$ENDPOINT" ]] && DIAG+=(--endpoint-url "$ENDPOINT")
PREFIX=""
if [[ -n "$ENDPOINT" ]] && is_loopback "$ENDPOINT"; then
  PREFIX="AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing "
fi
say "Check the deployed network path with: $PREFIX${DIAG[*]}"
deploy_later_roots
