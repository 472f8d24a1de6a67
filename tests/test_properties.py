"""Property-based invariants over random valid specs plus the committed platforms.

``test_every_invariant_on_random_specs`` runs all invariants on each random spec
(200 examples in the ``ci`` profile, 2000 in ``deep``); each per-invariant test
below adds the seed platforms as explicit examples and a few more random specs,
and its docstring names the requirement it validates."""

from __future__ import annotations

import os
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, seed, settings

from generator import invariants as inv
from generator import render
from generator.cfn import TemplateSet
from generator.spec import Platform, load_spec
from tests.helpers import PLATFORMS
from tests.strategies import large_platforms, valid_platforms

PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "dev")
COMBINED = {"ci": 200, "deep": 2000}.get(PROFILE, 20)
EACH = {"ci": 5, "deep": 100}.get(PROFILE, 3)
LINTED = {"ci": 20, "deep": 100}.get(PROFILE, 3)
SEEDS = [load_spec(p) for p in PLATFORMS]


def seeded(test: Any) -> Any:
    """Add every committed platform as an explicit example."""
    for s in SEEDS:
        test = example(spec=s)(test)
    return test


def _ts(spec: Platform) -> TemplateSet:
    return TemplateSet(render.synthesize(spec))


# The combined property is the suite's longest test: four shards of COMBINED / 4 examples each,
# so pytest-xdist runs them on both cores.  Each shard has its own seed (under ``derandomize``
# every shard would draw the same specs); the seed platforms are the first shard's explicit
# examples.
SHARDS = 4


def shard(k: int) -> Any:
    def wrap(test: Any) -> Any:
        test = given(spec=valid_platforms())(test)
        test = seeded(test) if k == 0 else test
        return seed(k)(settings(max_examples=COMBINED // SHARDS, database=None)(test))

    return wrap


def _every_invariant(spec: Platform) -> None:
    """All invariants (seeds/003 Properties 1-10 and the project's 12-24) on one spec."""
    violations = inv.check_all(render.synthesize(spec), spec)
    assert not violations, violations


@shard(0)
def test_every_invariant_on_random_specs(spec: Platform) -> None:
    _every_invariant(spec)


@shard(1)
def test_every_invariant_on_random_specs_1(spec: Platform) -> None:
    _every_invariant(spec)


@shard(2)
def test_every_invariant_on_random_specs_2(spec: Platform) -> None:
    _every_invariant(spec)


@shard(3)
def test_every_invariant_on_random_specs_3(spec: Platform) -> None:
    _every_invariant(spec)


def each(test: Any) -> Any:
    return settings(max_examples=EACH)(seeded(given(spec=valid_platforms(12))(test)))


@each
def test_fargate_task_definitions(spec: Platform) -> None:
    """seeds/003 Property 1 (Req 3.2): FARGATE, awsvpc, valid CPU/memory."""
    assert inv.fargate_task_definitions(_ts(spec)) == []


@each
def test_awslogs_logging(spec: Platform) -> None:
    """seeds/003 Property 2 (Req 3.6): awslogs with group, region, prefix; group exists."""
    assert inv.awslogs_logging(_ts(spec)) == []


@each
def test_container_health_checks(spec: Platform) -> None:
    """seeds/003 Property 3 (Req 3.7): full container health checks; grace >= startPeriod."""
    assert inv.container_health_checks(_ts(spec)) == []


@each
def test_target_group_health_checks(spec: Platform) -> None:
    """seeds/003 Property 4 (Req 4.4): explicit TG health checks; TG port = container port."""
    assert inv.target_group_health_checks(_ts(spec)) == []


@each
def test_efs_access_points(spec: Platform) -> None:
    """seeds/003 Property 5 (Req 6.4): POSIX 1000/1000 (never 0), owner = user, 755."""
    assert inv.efs_access_points(_ts(spec)) == []


@each
def test_domain_names(spec: Platform) -> None:
    """seeds/003 Property 6 (Req 7.4): {service}.{region}.{base_domain}."""
    assert inv.domain_names(_ts(spec)) == []


@each
def test_iam_least_privilege(spec: Platform) -> None:
    """seeds/003 Property 7 (Req 8.4): no wildcards; '*' only where unavoidable; exact secret reads."""
    assert inv.iam_least_privilege(_ts(spec)) == []


@each
def test_noecho_secrets(spec: Platform) -> None:
    """seeds/003 Property 8 (Req 9.3): secrets are NoEcho without Default; no Output leaks."""
    assert inv.noecho_secrets(_ts(spec)) == []


@each
def test_log_groups(spec: Platform) -> None:
    """seeds/003 Property 9 (Req 11.1): retention per spec and a KMS key on every log group."""
    assert inv.log_groups(_ts(spec), spec) == []


@each
def test_security_group_ingress(spec: Platform) -> None:
    """seeds/003 Property 10 (Req 12.3): no CIDR into tasks; world only to ALB 80/443."""
    assert inv.security_group_ingress(_ts(spec)) == []


@each
def test_world_ingress(spec: Platform) -> None:
    """Invariant 21: 0.0.0.0/0 and ::/0 only on tcp 80/443, parameter defaults included."""
    assert inv.world_ingress(_ts(spec)) == []


def test_parameter_defaults_match_terraform() -> None:
    """seeds/003 Property 11 (Req 13.3): parent defaults = Terraform v1.0.8 (MCP platform)."""
    from tests.test_parameter_defaults import TERRAFORM_V1_0_8

    spec = next(s for s in SEEDS if s.name == "mcp-gateway")
    assert inv.parameter_defaults(_ts(spec), {cfn: d for _, cfn, d in TERRAFORM_V1_0_8}) == []


@each
def test_references_resolve(spec: Platform) -> None:
    """Invariant 12: every Ref/GetAtt/Sub/DependsOn target and child edge exists."""
    assert inv.references_resolve(_ts(spec)) == []


@each
def test_stateful_policies(spec: Platform) -> None:
    """Invariant 13: DeletionPolicy and UpdateReplacePolicy on stateful resources."""
    assert inv.stateful_policies(_ts(spec)) == []


@each
def test_encrypted_with_cmk(spec: Platform) -> None:
    """Invariant 14: encryption at rest with the project's CMK."""
    assert inv.encrypted_with_cmk(_ts(spec)) == []


@each
def test_private_services(spec: Platform) -> None:
    """Invariant 15: no public IP, private subnets, circuit breaker with rollback (public IPs
    only where the spec chose egress public-ip, as check_all reads it)."""
    assert inv.private_services(_ts(spec), allow_public_ip=spec.network.egress == "public-ip") == []


@each
def test_logical_ids_stable(spec: Platform) -> None:
    """Invariant 16: alphanumeric IDs, identical across two generations (hash seeds: test_determinism)."""
    a, b = _ts(spec), _ts(spec)
    assert inv.logical_ids(a) == []
    assert inv.stable_ids(a, b) == []


@each
def test_quotas(spec: Platform) -> None:
    """Invariant 17: CloudFormation template and hierarchy quotas."""
    files = render.render(spec)
    assert inv.quotas(_ts(spec), files) == []


@each
def test_listener_tls(spec: Platform) -> None:
    """Invariant 18: TLS 1.2+ policies; HTTP redirects to HTTPS on domain platforms."""
    assert inv.listener_tls(_ts(spec)) == []


@each
def test_data_reachability(spec: Platform) -> None:
    """Invariant 19: EFS users reach the EFS SG on 2049; DB users reach the DB SG."""
    assert inv.data_reachability(_ts(spec)) == []


def _lint_clean(spec: Platform, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Invariant 20: cfn-lint reports zero errors and warnings (in-process, one call per example)."""
    from generator.lint import lint_paths

    out = tmp_path_factory.mktemp("lint")
    render.write(render.render(spec), out)
    assert lint_paths(sorted(out.glob("*.yaml")), use_cache=True) == []


# Two shards of LINTED / 2 examples, own seeds (as the combined property above).
@pytest.mark.slow
@seed(0)
@settings(max_examples=LINTED // 2, database=None)
@seeded
@given(spec=valid_platforms(8))
def test_cfn_lint_clean_on_random_specs(spec: Platform, tmp_path_factory: pytest.TempPathFactory) -> None:
    _lint_clean(spec, tmp_path_factory)


@pytest.mark.slow
@seed(1)
@settings(max_examples=LINTED - LINTED // 2, database=None)
@given(spec=valid_platforms(8))
def test_cfn_lint_clean_on_more_random_specs(spec: Platform, tmp_path_factory: pytest.TempPathFactory) -> None:
    _lint_clean(spec, tmp_path_factory)


LARGE_EXAMPLES = {"ci": 3, "deep": 20}.get(PROFILE, 1)


@pytest.mark.slow
# The smallest platform this test is about has 100 services, each drawn with every shape the
# strategies know (sidecars, routes, network shapes): its base example is large by design.
@settings(max_examples=LARGE_EXAMPLES, suppress_health_check=[HealthCheck.large_base_example])
@given(spec=large_platforms())
def test_large_platforms_keep_quotas_placement_and_the_contract(spec: Platform) -> None:
    """Service groups (generator.placement) on 100-150 services (``ci``; up to 300 in ``deep``):
    every template within its per-template quotas (the 2,500 resources of one operation: the
    roots, tests/test_roots.py), the parent's wiring and every child's interface hold
    (``render.synthesize`` checks the contract), and placing any prefix of the services
    gives them the groups they have in the whole platform (appending never moves one)."""
    from generator import placement
    from tests.test_scale import over_quota

    templates = render.synthesize(spec)
    assert over_quota(templates) == []
    whole = placement.mapping(spec)
    for k in sorted({1, len(spec.services) // 3, len(spec.services) - 1}):
        prefix = spec.model_copy(update={"services": spec.services[:k]})
        assert placement.mapping(prefix) == {n: whole[n] for n in placement.mapping(prefix)}
