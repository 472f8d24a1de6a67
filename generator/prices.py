"""The price files the cost estimate reads: ``data/prices-<region>.yaml``, one per region.

Every file has the same items (``PRICE_ITEMS``); each item holds its prices (a number, or
``null`` when no published price was found for that region) and three facts: ``source``
(the AWS pricing page that publishes it), ``recorded`` (the date of the figure) and
``evidence`` (what was read, and where).  Reading a ``null`` price raises
:class:`MissingPrice`, so an estimate can say which line it could not price instead of
pricing it at zero or at another region's rate.

The region is ``--region``, else ``AWS_REGION`` / ``AWS_DEFAULT_REGION`` (as the AWS CLI
and deploy.sh read them), else us-east-1.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

DATA = Path(__file__).resolve().parent.parent / "data"
DEFAULT_REGION = "us-east-1"
REGION_VARIABLES = ("AWS_REGION", "AWS_DEFAULT_REGION")
FILE_KEYS = ("region", "currency", "recorded", "source", "hours_per_month")
# item -> its prices (the fields generator.cost reads)
PRICE_ITEMS: dict[str, tuple[str, ...]] = {
    "nat_gateway": ("hour", "gb_processed"),
    "public_ipv4": ("hour",),
    "interface_endpoint": ("hour_per_az", "gb_processed"),
    "gateway_endpoint": ("hour", "gb_processed"),
    "cross_az": ("gb_each_way",),
    "alb": ("hour", "lcu_hour"),
    "fargate": ("vcpu_hour", "gb_hour"),
    "fargate_spot": ("vcpu_hour", "gb_hour"),
    "aurora_serverless_v2": ("acu_hour", "storage_gb_month", "io_million"),
    "rds_proxy_serverless": ("acu_hour", "min_acus"),
    "efs_standard": ("gb_month",),
    "cloudwatch_logs": ("ingest_gb", "storage_gb_month"),
    "secrets_manager": ("secret_month",),
    "kms": ("key_month",),
}
ITEM_FACTS = ("source", "recorded", "evidence")
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class MissingPrice(LookupError):
    """A price the region's file records as not found (``null``)."""

    def __init__(self, item: str, field: str) -> None:
        super().__init__(f"{item}.{field}")
        self.name = f"{item}.{field}"


class PriceItem(dict):
    """One item of a price file; reading a ``null`` price raises :class:`MissingPrice`."""

    def __init__(self, name: str, values: Mapping[str, Any]) -> None:
        super().__init__(values)
        self.name = name

    def __getitem__(self, key: str) -> Any:
        value = super().__getitem__(key)
        if value is None:
            raise MissingPrice(self.name, key)
        return value

    def prices(self) -> dict[str, float | None]:
        """The item's prices (its facts left out); ``None`` for a price that was not found."""
        return {k: v for k, v in self.items() if k not in ITEM_FACTS}


def price_path(region: str) -> Path:
    return DATA / f"prices-{region}.yaml"


def regions() -> list[str]:
    """The regions that have a price file."""
    return sorted(p.stem.removeprefix("prices-") for p in DATA.glob("prices-*.yaml"))


def resolve_region(given: str | None, environ: Mapping[str, str] | None = None) -> tuple[str, str]:
    """(region, where it came from): ``--region``, else AWS_REGION / AWS_DEFAULT_REGION, else us-east-1."""
    if given:
        return given, "--region"
    env = os.environ if environ is None else environ
    for name in REGION_VARIABLES:
        if env.get(name):
            return env[name], name
    return DEFAULT_REGION, "default"


def load_prices(region: str = DEFAULT_REGION, path: str | Path | None = None) -> dict[str, Any]:
    """A price file, checked: every item present with its facts, every price a number or null.
    Raises ValueError (or OSError / yaml.YAMLError) naming the file and the problem."""
    p = Path(path) if path else price_path(region)
    if not path and not p.is_file():
        raise ValueError(f"no price file for region {region!r} ({p.name}); recorded regions: {', '.join(regions())}")
    data = yaml.safe_load(p.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"{p}: not a mapping")
    for key in (*FILE_KEYS, *PRICE_ITEMS):
        if key not in data:
            raise ValueError(f"{p}: missing {key}")
    for name in PRICE_ITEMS:
        item = data[name]
        if not isinstance(item, dict):
            raise ValueError(f"{p}: {name}: not a mapping")
        for fact in ITEM_FACTS:
            if not item.get(fact):
                raise ValueError(f"{p}: {name}: missing {fact}")
        if not DATE.match(str(item["recorded"])):
            raise ValueError(f"{p}: {name}.recorded: {item['recorded']!r} is not a YYYY-MM-DD date")
        data[name] = PriceItem(name, item)
        fields = sorted(data[name].prices())
        if fields != sorted(PRICE_ITEMS[name]):
            raise ValueError(f"{p}: {name}: prices {', '.join(fields)}; expected {', '.join(PRICE_ITEMS[name])}")
        for field, value in data[name].prices().items():
            if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
                raise ValueError(f"{p}: {name}.{field}: {value!r} is not a number or null")
    return data


def missing_prices(prices: Mapping[str, Any]) -> list[str]:
    """The prices a file records as not found, as ``item.field``."""
    return [
        f"{name}.{field}" for name in PRICE_ITEMS for field, value in prices[name].prices().items() if value is None
    ]


def spot_split(tasks: float, strategy: Sequence[tuple[str, int, int]]) -> tuple[float, float]:
    """(on-demand, spot) task counts for a capacity provider strategy [(provider, weight, base)]."""
    if tasks <= 0:
        return 0.0, 0.0
    on_demand = spot = 0.0
    rest = float(tasks)
    for provider, _w, base in strategy:
        if base:
            n = min(float(base), rest)
            rest -= n
            if provider == "FARGATE_SPOT":
                spot += n
            else:
                on_demand += n
    total_weight = sum(w for _p, w, _b in strategy)
    if rest > 0:
        if total_weight == 0:
            on_demand += rest
        else:
            spot += rest * sum(w for p, w, _b in strategy if p == "FARGATE_SPOT") / total_weight
            on_demand += rest * sum(w for p, w, _b in strategy if p != "FARGATE_SPOT") / total_weight
    return on_demand, spot
