"""Parent parameter defaults equal the upstream Terraform v1.0.8 values
(../shared/reference/mcp-gateway-upstream.md, section 2). seeds/003 Property 11."""

from __future__ import annotations

import pytest

# (Terraform variable, CloudFormation parameter, Terraform v1.0.8 default)
TERRAFORM_V1_0_8 = [
    ("name", "Name", "mcp-gateway"),
    ("vpc_cidr", "VpcCidr", "10.0.0.0/16"),
    ("ingress_cidr_blocks", "IngressCidrBlocks", "0.0.0.0/0"),
    ("alarm_email", "AlarmEmail", ""),
    ("base_domain", "BaseDomain", "mycorp.click"),
    ("keycloak_admin", "KeycloakAdmin", "admin"),
    ("keycloak_database_username", "DatabaseUsername", "keycloak"),
    ("keycloak_database_min_acu", "DatabaseMinAcu", "0.5"),
    ("keycloak_database_max_acu", "DatabaseMaxAcu", "2"),
    ("keycloak_log_level", "KeycloakLogLevel", "INFO"),
    ("registry_image_uri", "RegistryImageUri", ""),
    ("auth_server_image_uri", "AuthImageUri", "mcpgateway/auth-server:latest"),
    ("currenttime_image_uri", "CurrenttimeImageUri", ""),
    ("mcpgw_image_uri", "McpgwImageUri", ""),
    ("realserverfaketools_image_uri", "RealserverfaketoolsImageUri", ""),
    ("flight_booking_agent_image_uri", "FlightBookingAgentImageUri", ""),
    ("travel_assistant_agent_image_uri", "TravelAssistantAgentImageUri", ""),
    ("embeddings_provider", "EmbeddingsProvider", "sentence-transformers"),
    ("embeddings_model_name", "EmbeddingsModelName", "all-MiniLM-L6-v2"),
    ("embeddings_model_dimensions", "EmbeddingsModelDimensions", "384"),
    ("embeddings_aws_region", "EmbeddingsAwsRegion", "us-east-1"),
    ("session_cookie_secure", "SessionCookieSecure", "true"),
    ("session_cookie_domain", "SessionCookieDomain", ""),
]
# Terraform variables with no default: required NoEcho parameters here.
TERRAFORM_REQUIRED = [("keycloak_admin_password", "KeycloakAdminPassword")]


@pytest.mark.parametrize(("tf", "cfn", "default"), TERRAFORM_V1_0_8, ids=[r[0] for r in TERRAFORM_V1_0_8])
def test_default_matches_terraform(mcp_templates: dict, tf: str, cfn: str, default: str) -> None:
    params = mcp_templates["main.yaml"]["Parameters"]
    assert cfn in params, f"{tf} has no parameter {cfn}"
    assert str(params[cfn]["Default"]) == default


@pytest.mark.parametrize(("tf", "cfn"), TERRAFORM_REQUIRED)
def test_required_secret_has_no_default(mcp_templates: dict, tf: str, cfn: str) -> None:
    p = mcp_templates["main.yaml"]["Parameters"][cfn]
    assert p["NoEcho"] is True
    assert "Default" not in p


def test_the_table_fails_on_a_wrong_default(mcp_templates: dict) -> None:
    params = mcp_templates["main.yaml"]["Parameters"]
    assert str(params["VpcCidr"]["Default"]) != "10.1.0.0/16"
