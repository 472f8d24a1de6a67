"""The edge: load balancers and their listeners, the domain, alarm thresholds."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from generator.spec.base import Model, PortNumber, Slug, dns_name_error


class Listener(Model):
    """A listener. mode: https (only with a domain), redirect (HTTP->443 with a domain,
    else HTTP forward), auto (HTTPS with a domain, else HTTP)."""

    port: PortNumber
    mode: Literal["https", "redirect", "auto"]
    target_group: Slug


class LoadBalancer(Model):
    name: Slug
    dns_record: Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{0,62}$")] | None = None
    listeners: list[Listener] = Field(min_length=1)
    allow_from_services: list[Slug] = Field(default_factory=list)
    allow_from_nat: bool = False
    idle_timeout: int = Field(default=60, ge=1, le=4000)

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
    memory_high: int = Field(default=85, ge=1, le=100)
    target_5xx: int = Field(default=10, ge=1)
    response_time_seconds: float = Field(default=1.0, gt=0)
