#!/usr/bin/env bash
# Container-side ECR connectivity check: run it as a one-off ECS task in the same
# subnets and security groups as the failing service (docs/connectivity.md shows how).
#
# For each endpoint a Fargate task needs to start (ECR API, ECR registry, the S3
# layer bucket, CloudWatch Logs, Secrets Manager, SSM, STS) it checks:
#   1. DNS: the name resolves; a private address means a VPC interface endpoint with
#      private DNS answers it, a public one means the NAT / internet path is used;
#   2. TCP: a connection to port 443 opens within the timeout;
#   3. HTTPS: a TLS request gets any HTTP answer (when curl is available);
# then calls ecr:GetAuthorizationToken with the task's own credentials (the aws CLI,
# or curl --aws-sigv4 with the container credentials endpoint).
#
# Exit status: 0 every check passed, 1 a check failed, 2 usage error.
set -euo pipefail

PROG=$(basename "$0")
REGION="${AWS_REGION:-${AWS_DEFAULT_REGION:-}}"
ACCOUNT=""
IMAGE=""
SERVICES="logs secretsmanager ssm sts"
HOSTS=""
PORT=443
TIMEOUT=5
AUTH=1
LIST=0
FAILED=0

usage() {
  cat <<EOF
Usage: $PROG [options]

Check, from inside a container, that the ECR endpoints (and the AWS services a task
start needs) resolve, accept TCP on 443 and answer HTTPS, and that an ECR auth token
can be fetched. Run it as a one-off ECS task in the failing service's subnets and
security groups.

Options:
  --region REGION     AWS region (default: \$AWS_REGION, \$AWS_DEFAULT_REGION, or the
                      ECS task metadata endpoint)
  --image URI         ECR image URI (ACCOUNT.dkr.ecr.REGION.amazonaws.com/REPO:TAG);
                      gives the registry account and region
  --account ID        registry account ID (default: from --image, else from
                      'aws sts get-caller-identity')
  --services "A B"    other AWS service endpoints to check (default: "$SERVICES")
  --hosts "H1 H2"     check exactly these host names instead of the derived list
  --port N            TCP port to test (default: $PORT)
  --timeout SECONDS   per-check timeout (default: $TIMEOUT)
  --no-auth           skip the ecr:GetAuthorizationToken call
  --list              print the host names that would be checked, and exit
  -h, --help          show this help

Exit status: 0 all checks passed, 1 a check failed, 2 usage error.
The auth-token call uses the task role (the one-off task's credentials), not the
service's execution role: give the one-off task a task role that allows
ecr:GetAuthorizationToken, or reuse the service's execution role as its task role.
EOF
}

die_usage() { echo "$PROG: $*" >&2; echo "Try '$PROG --help'." >&2; exit 2; }
ok() { printf 'ok    %s\n' "$*"; }
fail() { printf 'FAIL  %s\n' "$*"; FAILED=1; }
info() { printf 'info  %s\n' "$*"; }
have() { command -v "$1" >/dev/null 2>&1; }

while [ $# -gt 0 ]; do
  case "$1" in
    --region) [ $# -ge 2 ] || die_usage "--region needs a value"; REGION="$2"; shift 2 ;;
    --image) [ $# -ge 2 ] || die_usage "--image needs a value"; IMAGE="$2"; shift 2 ;;
    --account) [ $# -ge 2 ] || die_usage "--account needs a value"; ACCOUNT="$2"; shift 2 ;;
    --services) [ $# -ge 2 ] || die_usage "--services needs a value"; SERVICES="$2"; shift 2 ;;
    --hosts) [ $# -ge 2 ] || die_usage "--hosts needs a value"; HOSTS="$2"; shift 2 ;;
    --port) [ $# -ge 2 ] || die_usage "--port needs a value"; PORT="$2"; shift 2 ;;
    --timeout) [ $# -ge 2 ] || die_usage "--timeout needs a value"; TIMEOUT="$2"; shift 2 ;;
    --no-auth) AUTH=0; shift ;;
    --list) LIST=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) die_usage "unknown option: $1" ;;
  esac
done

[[ "$PORT" =~ ^[0-9]+$ ]] || die_usage "--port must be a number"
[[ "$TIMEOUT" =~ ^[0-9]+$ ]] || die_usage "--timeout must be a number of seconds"

if [ -n "$IMAGE" ]; then
  if [[ "$IMAGE" =~ ^([0-9]{12})\.dkr\.ecr(-fips)?\.([a-z0-9-]+)\.amazonaws\.com ]]; then
    ACCOUNT="${ACCOUNT:-${BASH_REMATCH[1]}}"
    REGION="${REGION:-${BASH_REMATCH[3]}}"
  else
    die_usage "--image is not an ECR image URI: $IMAGE"
  fi
fi

# Region from the ECS task metadata endpoint (v4) when nothing else gave it.
if [ -z "$REGION" ] && [ -n "${ECS_CONTAINER_METADATA_URI_V4:-}" ] && have curl; then
  az=$(curl -fsS --max-time "$TIMEOUT" "$ECS_CONTAINER_METADATA_URI_V4/task" 2>/dev/null \
       | sed -n 's/.*"AvailabilityZone":"\([a-z0-9-]*\)".*/\1/p' || true)
  REGION="${az%[a-z]}"
fi

resolve() {
  # Print the IPv4 addresses of a name, one per line (empty when it does not resolve).
  local name="$1"
  if have getent; then
    getent ahostsv4 "$name" 2>/dev/null | awk '{print $1}' | sort -u
  elif have python3; then
    python3 -c 'import socket,sys
try:
    print("\n".join(sorted({a[4][0] for a in socket.getaddrinfo(sys.argv[1], None, socket.AF_INET)})))
except OSError:
    pass' "$name"
  elif have nslookup; then
    nslookup "$name" 2>/dev/null | awk '/^Address: /{print $2}' | sort -u
  fi
}

is_private() {
  case "$1" in
    10.*|192.168.*) return 0 ;;
    172.1[6-9].*|172.2[0-9].*|172.3[0-1].*) return 0 ;;
    *) return 1 ;;
  esac
}

check_host() {
  local host="$1" ips first kind
  ips=$(resolve "$host" | tr '\n' ' ' | sed 's/ *$//')
  if [ -z "$ips" ]; then
    fail "dns   $host does not resolve: check enableDnsSupport on the VPC and, for private DNS endpoints, enableDnsHostnames"
    return
  fi
  first=${ips%% *}
  if [[ "$first" == 127.* ]]; then
    kind="loopback"
  elif is_private "$first"; then
    kind="private address: a VPC interface endpoint answers"
  else
    kind="public address: traffic takes the NAT / internet gateway path (or the S3 gateway endpoint route)"
  fi
  ok "dns   $host -> $ips ($kind)"
  # shellcheck disable=SC2016 # $1/$2 are expanded by the inner bash, not here
  if timeout "$TIMEOUT" bash -c 'exec 3<>"/dev/tcp/$1/$2"' _ "$host" "$PORT" 2>/dev/null; then
    ok "tcp   $host:$PORT connected"
  else
    if is_private "$first"; then
      fail "tcp   $host:$PORT timed out or was refused: the endpoint security group must admit tcp/$PORT from this task's security group, and the task's egress must allow it"
    else
      fail "tcp   $host:$PORT timed out or was refused: no 0.0.0.0/0 route to a NAT gateway (or no public IP with an internet gateway), or the task's security group egress blocks tcp/$PORT"
    fi
    return
  fi
  if [ "$PORT" = 443 ] && have curl; then
    local code
    code=$(curl -sS -o /dev/null -w '%{http_code}' --max-time "$TIMEOUT" "https://$host/" 2>/dev/null || true)
    if [ -n "$code" ] && [ "$code" != "000" ]; then
      ok "https $host answered HTTP $code"
    else
      fail "https $host: TCP opened but no TLS/HTTP answer (a proxy, a network ACL on return traffic, or a policy)"
    fi
  fi
}

auth_token() {
  local out
  if have aws; then
    if out=$(timeout "$((TIMEOUT * 3))" aws ecr get-authorization-token --region "$REGION" \
              --query 'authorizationData[0].expiresAt' --output text 2>&1); then
      ok "auth  ecr:GetAuthorizationToken returned a token (expires $out)"
    else
      auth_failed "$out"
    fi
    return
  fi
  if have curl && [ -n "${AWS_CONTAINER_CREDENTIALS_RELATIVE_URI:-}" ] && curl --help all 2>/dev/null | grep -q -- '--aws-sigv4'; then
    local creds ak sk tok
    creds=$(curl -fsS --max-time "$TIMEOUT" "http://169.254.170.2${AWS_CONTAINER_CREDENTIALS_RELATIVE_URI}")
    ak=$(printf '%s' "$creds" | sed -n 's/.*"AccessKeyId" *: *"\([^"]*\)".*/\1/p')
    sk=$(printf '%s' "$creds" | sed -n 's/.*"SecretAccessKey" *: *"\([^"]*\)".*/\1/p')
    tok=$(printf '%s' "$creds" | sed -n 's/.*"Token" *: *"\([^"]*\)".*/\1/p')
    if out=$(curl -sS --max-time "$((TIMEOUT * 3))" --aws-sigv4 "aws:amz:${REGION}:ecr" -u "${ak}:${sk}" \
              -H "x-amz-security-token: ${tok}" -H 'Content-Type: application/x-amz-json-1.1' \
              -H 'X-Amz-Target: AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken' \
              -d '{}' "https://api.ecr.${REGION}.amazonaws.com/" 2>&1) && printf '%s' "$out" | grep -q authorizationData; then
      ok "auth  ecr:GetAuthorizationToken returned a token (curl --aws-sigv4)"
    else
      auth_failed "$out"
    fi
    return
  fi
  info "auth  skipped: neither the aws CLI nor curl with --aws-sigv4 and container credentials is available"
}

auth_failed() {
  local out="$1"
  case "$out" in
    *AccessDenied*|*"not authorized"*|*UnrecognizedClient*|*ExpiredToken*)
      fail "auth  ecr:GetAuthorizationToken was denied: $out (grant ecr:GetAuthorizationToken on * to the role)" ;;
    *)
      fail "auth  ecr:GetAuthorizationToken failed: $out (network: see the api.ecr checks above)" ;;
  esac
}

if [ -z "$HOSTS" ]; then
  [ -n "$REGION" ] || die_usage "no region: pass --region (or --image), or set AWS_REGION"
  if [ -z "$ACCOUNT" ] && [ "$LIST" = 0 ] && have aws; then
    ACCOUNT=$(timeout "$((TIMEOUT * 3))" aws sts get-caller-identity --query Account --output text 2>/dev/null || true)
  fi
  HOSTS="api.ecr.${REGION}.amazonaws.com"
  if [ -n "$ACCOUNT" ]; then
    HOSTS="$HOSTS ${ACCOUNT}.dkr.ecr.${REGION}.amazonaws.com"
  else
    info "no registry account (pass --account or --image): checking the ECR registry endpoint by its service name"
    HOSTS="$HOSTS dkr.ecr.${REGION}.amazonaws.com"
  fi
  HOSTS="$HOSTS prod-${REGION}-starport-layer-bucket.s3.${REGION}.amazonaws.com"
  for svc in $SERVICES; do
    HOSTS="$HOSTS ${svc}.${REGION}.amazonaws.com"
  done
fi

if [ "$LIST" = 1 ]; then
  for host in $HOSTS; do echo "$host"; done
  exit 0
fi

info "region ${REGION:-unknown}, port $PORT, timeout ${TIMEOUT}s"
for host in $HOSTS; do
  check_host "$host"
done

if [ "$AUTH" = 1 ]; then
  if [ -n "$REGION" ]; then
    auth_token
  else
    fail "auth  no region for the ecr:GetAuthorizationToken call: pass --region"
  fi
fi

if [ "$FAILED" = 0 ]; then
  echo "ecr-connectivity-check: all checks passed"
else
  echo "ecr-connectivity-check: some checks FAILED (see the FAIL lines for the likely cause)"
fi
exit "$FAILED"
