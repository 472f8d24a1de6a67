"""The edge: load balancers and their listeners, the domain, alarm thresholds."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from generator.spec.base import Model, PortNumber, Slug, dns_name_error


class Listener(Model):
    """A listener. mode: https (only with a domain), redirect (HTTP->443 with a domain,
    else HTTP forward), auto (HTTPS with a domain, else HTTP)."""

    port: PortNumber
    """Listener port."""
    mode: Literal["https", "redirect", "auto"]
    """https (needs dns_record), redirect (HTTP to HTTPS with a domain, else HTTP) or auto (HTTPS with a domain, else HTTP)."""
    target_group: Slug
    """The target group (declared on a service) it forwards to."""


class LoadBalancer(Model):
    name: Slug
    """Load balancer name (slug); target groups and ${lb:NAME:url} refer to it."""
    dns_record: Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{0,62}$")] | None = None
    """Record name: the load balancer answers at <dns_record>.<region>.<BaseDomain>."""
    listeners: list[Listener] = Field(min_length=1)
    """Its listeners, one per port."""
    allow_from_services: list[Slug] = Field(default_factory=list)
    """Services whose tasks may call this load balancer."""
    allow_from_nat: bool = False
    """Let the platform's NAT gateways' public IPs reach it (tasks calling its public name)."""
    idle_timeout: int = Field(default=60, ge=1, le=4000)
    """Idle connection timeout in seconds."""

    @model_validator(mode="after")
    def _ports(self) -> LoadBalancer:
        ports = [x.port for x in self.listeners]
        if len(set(ports)) != len(ports):
            raise ValueError("listeners: ports must be unique")
        return self


class Domain(Model):
    base_domain: str = Field(default="", description="default of the BaseDomain parameter; '' = no domain")

    @field_validator("base_domain")
    @classmethod
    def _dns(cls, v: str) -> str:
        err = dns_name_error(v) if v else None
        if err:
            raise ValueError(f"{v!r}: {err}")
        return v


class Alarms(Model):
    cpu_high: int = Field(default=85, ge=1, le=100)
    """Alarm when a service's CPU stays above this percentage."""
    memory_high: int = Field(default=85, ge=1, le=100)
    """Alarm when a service's memory stays above this percentage."""
    target_5xx: int = Field(default=10, ge=1)
    """Alarm when targets return more 5xx responses than this per period."""
    response_time_seconds: float = Field(default=1.0, gt=0)
    """Alarm when the target response time exceeds this many seconds."""
