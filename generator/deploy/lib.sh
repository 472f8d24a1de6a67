# shellcheck shell=bash
# Shared by deploy.sh and delete.sh (sourced, never run). Expects ROOT and PROG to be set.

ENVIRONMENTS="dev test prod"

say() { printf '==> %s\n' "$*"; }
warn() { printf '%s: warning: %s\n' "$PROG" "$*" >&2; }
die() { printf '%s: error: %s\n' "$PROG" "$*" >&2; exit 1; }
die_usage() {
  printf '%s: %s\n' "$PROG" "$*" >&2
  printf 'Run %s --help for usage.\n' "$PROG" >&2
  exit 2
}

# need_value OPTION VALUE: an option's argument must be present and not another option.
need_value() {
  if [[ -z "${2:-}" || "${2:-}" == --* ]]; then
    die_usage "option $1 needs a value"
  fi
}

# validate_common: platform, environment, stack name, endpoint (sets STACK default).
# --platform is a name (platforms/NAME.yaml) or a spec file anywhere: SPEC_PATH is then set
# (USER_SPEC=1 when it is not platforms/NAME.yaml of this checkout) and PLATFORM is its stem.
validate_common() {
  [[ -n "$PLATFORM" ]] || die_usage "--platform is required"
  [[ -n "$ENV_NAME" ]] || die_usage "--env is required"
  # shellcheck disable=SC2034  # USER_SPEC is read by the scripts that source this library
  SPEC_PATH="" USER_SPEC=0
  if [[ "$PLATFORM" == */* || "$PLATFORM" == *.yaml || "$PLATFORM" == *.yml ]]; then
    [[ -f "$PLATFORM" ]] || die_usage "spec file not found: $PLATFORM"
    SPEC_PATH="$(cd "$(dirname "$PLATFORM")" && pwd)/$(basename "$PLATFORM")"
    PLATFORM="$(basename "$PLATFORM")"
    PLATFORM="${PLATFORM%.*}"
    # shellcheck disable=SC2034  # (as above)
    [[ "$SPEC_PATH" == "$ROOT/platforms/$PLATFORM.yaml" ]] || USER_SPEC=1
  fi
  [[ "$PLATFORM" =~ ^[a-z0-9][a-z0-9-]*$ ]] || die_usage "invalid platform name: $PLATFORM"
  if [[ " $ENVIRONMENTS " != *" $ENV_NAME "* ]]; then
    die_usage "unknown environment: $ENV_NAME (expected one of: $ENVIRONMENTS)"
  fi
  STACK="${STACK:-$PLATFORM-$ENV_NAME}"
  [[ "$STACK" =~ ^[A-Za-z][A-Za-z0-9-]{0,127}$ ]] || die_usage "invalid stack name: $STACK"
  if [[ -n "$ENDPOINT" && ! "$ENDPOINT" =~ ^https?://[^/]+/?$ ]]; then
    die_usage "invalid --endpoint-url: $ENDPOINT (expected http(s)://host:port)"
  fi
}

known_platforms() {
  local f names=()
  for f in "$ROOT"/platforms/*.yaml; do
    [[ -e "$f" ]] && names+=("$(basename "$f" .yaml)")
  done
  printf '%s' "${names[*]:-none}"
}

# is_loopback URL: true when the URL's host is 127.x.x.x, ::1 or localhost.
is_loopback() {
  local host="${1#*://}"
  host="${host%%/*}"
  if [[ "$host" == \[* ]]; then host="${host%%]*}"; host="${host#[}"; else host="${host%%:*}"; fi
  [[ "$host" == localhost || "$host" == ::1 || "$host" =~ ^127\.[0-9]+\.[0-9]+\.[0-9]+$ ]]
}

# setup_tools: PY (project venv python) and AWS (aws on PATH, else .venv/bin/aws).
setup_tools() {
  if [[ -x "$ROOT/.venv/bin/python" ]]; then
    PY="$ROOT/.venv/bin/python"
  else
    PY="$(command -v python3 || true)"
  fi
  [[ -n "$PY" ]] || die "python3 not found; run: make venv"
  # Found without importing them (importing boto3 costs about half a second per run).
  "$PY" -c 'import importlib.util as u, sys; sys.exit(not all(map(u.find_spec, ("boto3", "botocore", "yaml"))))' \
    2>/dev/null || die "$PY lacks boto3/PyYAML; run: make venv"
  local found
  found="$(command -v aws 2>/dev/null || true)"
  # The project's own pinned CLI is not started just to see that it runs (about 1 s).
  if [[ -n "$found" ]] && { [[ "$found" -ef "$ROOT/.venv/bin/aws" ]] || aws --version >/dev/null 2>&1; }; then
    AWS="$found"
  elif [[ -x "$ROOT/.venv/bin/aws" ]]; then
    AWS="$ROOT/.venv/bin/aws"
  else
    die "the AWS CLI was not found on PATH or in .venv; run: make venv"
  fi
  export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
}

# shown PATH: a path as the user types it from the current directory (relative below it,
# ./NAME for a file in it, else absolute), as generator.deploy._aws.shown_path does.
shown() {
  local rel
  case "$1" in
    "$PWD"/*/*) printf '%s' "${1#"$PWD"/}" ;;
    "$PWD"/*) rel="${1#"$PWD"/}"; printf './%s' "$rel" ;;
    *) printf '%s' "$1" ;;
  esac
}

# The exact command line this script was started with (to print "run it again").
command_line() {
  printf '%s' "$0"
  [[ $# -gt 0 ]] && printf ' %q' "$@"
  printf '\n'
}

# lock_stack: one deploy.sh/delete.sh per stack (and endpoint, region) on this machine at a
# time; another one is refused at once. The lock goes with the process (flock on fd 9).
lock_stack() {
  STATE_DIR="${STACKGEN_STATE_DIR:-$ROOT/.stackgen}"
  mkdir -p "$STATE_DIR/locks"
  [[ -f "$STATE_DIR/.gitignore" ]] || printf '# local deploy state of stackgen (stack IDs, locks): never committed\n*\n' >"$STATE_DIR/.gitignore"
  local key="${ENDPOINT:-aws}-$REGION-$STACK"
  LOCK="$STATE_DIR/locks/${key//[^A-Za-z0-9._-]/_}.lock"
  exec 9>"$LOCK"
  if ! flock -n 9; then
    die "another deploy.sh or delete.sh of $STACK ($REGION${ENDPOINT:+, $ENDPOINT}) is running on this machine; run the same command again once it has finished"
  fi
}

# check_endpoint: one bounded call before anything else; one line and exit 2 when the
# endpoint does not answer or the credentials are missing.
check_endpoint() {
  timed pyhelper endpoint check "${PY_AWS[@]}" >/dev/null || exit 2
}

# start_helpers SERVICES: the helper server of this run (generator/deploy/forkserver.py):
# one Python process that imports boto3 and the helpers once (and reads botocore's data for
# the comma-separated AWS SERVICES) and forks each helper from there, instead of a new
# interpreter paying those imports for every helper. Needs WORK (its socket lives there);
# stop_helpers ends it (the exit trap). Linux only; STACKGEN_FORKSERVER=0 turns it off.
start_helpers() {
  HELPERS_SOCKET="$WORK/helpers.sock" HELPERS_PID=""
  [[ "$OSTYPE" == linux* && "${STACKGEN_FORKSERVER:-1}" != 0 ]] || return 0
  "$PY" -m generator.deploy.forkserver serve --socket "$HELPERS_SOCKET" --parent $$ --services "$1" \
    </dev/null >/dev/null 2>"$WORK/helpers.log" 9>&- &
  HELPERS_PID=$!
}
stop_helpers() { # (it ends with status 0 on SIGTERM; waited for, so nothing outlives the script)
  [[ -z "${HELPERS_PID:-}" ]] || { kill "$HELPERS_PID" 2>/dev/null; wait "$HELPERS_PID" 2>/dev/null; } || true
}
# pyhelper MODULE ARGS: python -m generator.deploy.MODULE ARGS, through the helper server
# when one runs (the same arguments, environment, directory, stdin/stdout/stderr and exit
# status; the client runs python -m itself when the server cannot answer).
pyhelper() {
  if [[ -n "${HELPERS_PID:-}" ]]; then
    "$PY" -m generator.deploy.forkserver run "$HELPERS_SOCKET" "$HELPERS_PID" "$@"
  else
    "$PY" -m "generator.deploy.$1" "${@:2}"
  fi
}

# setup_aws: region, endpoint and the argument arrays every aws/python call gets.
setup_aws() {
  export AWS_PAGER=""
  if [[ -z "$REGION" ]]; then
    REGION="${AWS_REGION:-${AWS_DEFAULT_REGION:-}}"
  fi
  if [[ -z "$REGION" && -z "$ENDPOINT" ]]; then
    REGION="$("$AWS" configure get region 2>/dev/null || true)"
  fi
  if [[ -z "$REGION" ]]; then
    [[ -n "$ENDPOINT" ]] || die_usage "no region: pass --region or set AWS_REGION"
    REGION=us-east-1
  fi
  [[ "$REGION" =~ ^[a-z]{2}(-[a-z]+)+-[0-9]+$ ]] || die_usage "invalid region: $REGION"
  AWS_ARGS=(--region "$REGION")
  PY_AWS=(--region "$REGION")
  if [[ -n "$ENDPOINT" ]]; then
    ENDPOINT="${ENDPOINT%/}"
    AWS_ARGS+=(--endpoint-url "$ENDPOINT")
    PY_AWS+=(--endpoint-url "$ENDPOINT")
    # `aws cloudformation package` (CLI v1) ignores --endpoint-url for its S3 uploads;
    # these make every client of the CLI and of boto3 use the endpoint too.
    export AWS_ENDPOINT_URL="$ENDPOINT" AWS_ENDPOINT_URL_S3="$ENDPOINT"
    if is_loopback "$ENDPOINT"; then
      # Local emulator: dummy credentials (never the user's real ones), no instance
      # metadata probe, and any request that would bypass the endpoint goes to a closed
      # loopback port instead of the internet. A frozen emulator is given up on quickly
      # (as generator/deploy/_aws.py does for boto3).
      AWS_ARGS+=(--cli-connect-timeout 3 --cli-read-timeout 10)
      export AWS_MAX_ATTEMPTS=3
      export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing
      unset AWS_SESSION_TOKEN AWS_PROFILE AWS_DEFAULT_PROFILE
      export AWS_EC2_METADATA_DISABLED=true
      export HTTP_PROXY=http://127.0.0.1:9 HTTPS_PROXY=http://127.0.0.1:9
      export http_proxy="$HTTP_PROXY" https_proxy="$HTTPS_PROXY"
      export NO_PROXY=127.0.0.1,localhost,::1 no_proxy=127.0.0.1,localhost,::1
    fi
  fi
}

# STACKGEN_TIMING=1 prints how long each helper and aws call takes (to stderr).
timed() {
  if [[ "${STACKGEN_TIMING:-}" != 1 ]]; then "$@"; return; fi
  local start=$EPOCHREALTIME rc=0
  "$@" || rc=$?
  printf 'timing: %6.2fs  %s\n' "$(bc <<<"$EPOCHREALTIME - $start")" "$*" | cut -c1-110 >&2
  return "$rc"
}
aws_cli() { timed "$AWS" "${AWS_ARGS[@]}" "$@"; }
# pydeploy MODULE ARGS: a helper of generator/deploy/. Exit status 3 means the endpoint
# stopped answering and the helper printed the one line about it: stop here, adding
# nothing (exit LOST_EXIT: 2 while nothing was uploaded yet, else 1).
pydeploy() {
  local module="$1" rc=0
  shift
  timed pyhelper "$module" "$@" || rc=$?
  [[ $rc -eq 3 ]] && exit "${LOST_EXIT:-1}"
  return "$rc"
}

# package_templates ROOT_TEMPLATE: `aws cloudformation package` of ROOT_TEMPLATE (its nested
# templates uploaded to s3://$BUCKET/$STACK/) into $WORK/packaged.yaml; on failure the last
# line it printed and exit 1. With the project's own CLI (.venv/bin/aws) its packager runs in
# a helper (generator/deploy/artifacts.py package: the same awscli code and bytes, without
# the CLI's start); another aws on PATH is run as the command.
package_templates() {
  local rc=0
  if [[ "$AWS" -ef "$ROOT/.venv/bin/aws" ]]; then
    timed pyhelper artifacts package --template-file "$1" --bucket "$BUCKET" --prefix "$STACK" \
      --output-template-file "$WORK/packaged.yaml" "${PY_AWS[@]}" >"$WORK/package.log" 2>&1 || rc=$?
  else
    aws_cli cloudformation package --template-file "$1" --s3-bucket "$BUCKET" --s3-prefix "$STACK" \
      --output-template-file "$WORK/packaged.yaml" >"$WORK/package.log" 2>&1 || rc=$?
  fi
  if [[ $rc -ne 0 ]]; then
    grep -v '^\s*$' "$WORK/package.log" | tail -n 1 >&2
    die "aws cloudformation package failed"
  fi
}

# --- many regions and accounts: CloudFormation StackSets (generator/deploy/stacksets.py) ---

# stack_set_check [--delete]: the --stack-set options checked before anything is read or
# created (one line and exit 2 for a mistake); they need --stack-set, and --stack-set does not
# go with the single-stack options it cannot honour.
# shellcheck disable=SC2120  # called with --delete by delete.sh, with nothing by deploy.sh
stack_set_check() {
  # shellcheck disable=SC2153  # SS_ARGS is set by the script that sources this library
  if [[ $STACK_SET -eq 0 ]]; then
    [[ ${#SS_ARGS[@]} -eq 0 ]] || die_usage "${SS_ARGS[0]} goes with --stack-set"
    return 0
  fi
  if [[ "${REVIEW:-0}" -eq 1 || -n "${ACCEPT:-}" || "${PURGE_RETAINED:-0}" -eq 1 || "${PURGE:-0}" -eq 1 ]]; then
    die_usage "--stack-set does not go with --review, --accept-replacement or --purge-*: a stack set has no change set, and the instances of other accounts cannot be purged from here"
  fi
  "$PY" -m generator.deploy.stacksets check "$@" "${SS_ARGS[@]}" || exit 2
}

# deploy_stack_set: package once (as a single-stack deploy does), then create or update the
# stack set and its instances; exits with the helper's status.
deploy_stack_set() {
  BUCKET="$(pydeploy artifacts ensure ${BUCKET:+--bucket "$BUCKET"} "${PY_AWS[@]}")"
  LOST_EXIT=1
  say "Packaging nested templates into s3://$BUCKET/$STACK/ (copied to each region's bucket)"
  package_templates "$TEMPLATE_DIR/main.yaml"
  local flags=() rc=0
  [[ $YES -eq 1 ]] && flags+=(--yes)
  pydeploy stacksets deploy --stack-set-name "$STACK" --template "$TEMPLATE_DIR/main.yaml" \
    --packaged "$WORK/packaged.yaml" --params-file "$PARAMS_FILE" --shown-as "$(shown "$PARAMS_FILE")" \
    --params-dir "$ROOT/parameters/$PLATFORM" --env "$ENV_NAME" --platform "$PLATFORM" --bucket "$BUCKET" \
    --interval "$INTERVAL" "${flags[@]}" "${SS_ARGS[@]}" "${PY_AWS[@]}" || rc=$?
  exit "$rc"
}

# delete_stack_set: instances first (wait), then the stack set; exits with the helper's status.
delete_stack_set() {
  local flags=() rc=0
  [[ $YES -eq 1 ]] && flags+=(--yes)
  pydeploy stacksets delete --stack-set-name "$STACK" ${BUCKET:+--bucket "$BUCKET"} --interval "$INTERVAL" \
    "${flags[@]}" "${SS_ARGS[@]}" "${PY_AWS[@]}" || rc=$?
  exit "$rc"
}
