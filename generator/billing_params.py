"""The values of the parameters that change the bill, as one environment deploys the stack.

deploy.sh deploys an environment with ``parameters/<spec file stem>/<env>.json`` (a JSON list
of ``"Key=Value"`` strings, read here with deploy's own reader,
``generator.deploy.params.read_params_file``); a parameter the file leaves out takes the
template default.  The parameters that change the estimate:

* ``Environment``: per-environment sizing (the ``Sizing`` mapping) and egress mode;
* ``DatabaseMinAcu`` / ``DatabaseMaxAcu``: Aurora Serverless v2 capacity (and RDS Proxy);
* ``<Service>ImageUri`` of each service without an ECR repository: a public-registry image is
  pulled through the NAT (an empty value runs the spec's fallback image).

Desired counts and autoscaling bounds are not parameters (the spec fixes them).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from generator import naming
from generator.deploy.params import ParamError, read_params_file
from generator.spec import Platform

PARAMETERS = Path(__file__).resolve().parent.parent / "parameters"


class ParamsError(ValueError):
    """A parameters file the estimate cannot use; the message names the file and the field."""


@dataclass(frozen=True)
class Deployment:
    """The billing parameters' values as one environment deploys the stack."""

    environment: str
    min_acu: float | None = None
    max_acu: float | None = None
    images: dict[str, str] = field(default_factory=dict)  # service -> ImageUri value (no ECR repository)
    path: Path | None = None  # the parameters file read, if any
    from_file: dict[str, str] = field(default_factory=dict)
    defaulted: list[str] = field(default_factory=list)  # billing parameters at their template default
    notes: list[str] = field(default_factory=list)


def billing_defaults(spec: Platform) -> dict[str, str]:
    """The template defaults of the parameters that change the bill (as parent.py writes them)."""
    out = {"Environment": spec.default_environment}
    if spec.database:
        out["DatabaseMinAcu"] = f"{spec.database.min_acu:g}"
        out["DatabaseMaxAcu"] = f"{spec.database.max_acu:g}"
    for s in spec.services:
        if not s.image.repository:
            out[naming.image_param(s.name)] = s.image.default
    return out


def params_path(spec_file: str | Path, env: str) -> Path:
    """Where deploy.sh reads an environment's values: parameters/<spec file stem>/<env>.json."""
    return PARAMETERS / Path(spec_file).stem / f"{env}.json"


def acu_value(path: Path | None, name: str, value: str) -> float:
    try:
        return float(value)
    except ValueError:
        raise ParamsError(f"{path}: {name}: {value!r} is not a number") from None


def deployment(spec: Platform, env: str | None = None, path: Path | None = None, required: bool = False) -> Deployment:
    """The billing values an environment deploys with: the parameters file's, else the template defaults.

    ``path`` missing is a note (template defaults priced as ``env``), or a ParamsError when
    ``required`` (a file the user named).  A file that leaves ``Environment`` out deploys as the
    template default, and is priced so."""
    defaults = billing_defaults(spec)
    values: dict[str, str] = {}
    notes: list[str] = []
    read = path is not None and path.is_file()
    if read:
        assert path is not None
        try:
            values = read_params_file(path)
        except ParamError as exc:
            raise ParamsError(str(exc)) from None
    elif path is not None and required:
        raise ParamsError(f"{path}: parameters file not found")
    elif path is not None:
        notes.append(f"no parameters file {shown(path)}: template defaults priced")
    billing = {k: values[k] for k in defaults if k in values}
    environment = billing.get("Environment", defaults["Environment"] if read else env or defaults["Environment"])
    if environment not in spec.environments:
        where = f"{path}: Environment: " if "Environment" in billing else ""
        raise ParamsError(f"{where}environment {environment!r} is not one of {spec.environments}")
    if env and environment != env:
        how = "sets" if "Environment" in billing else "leaves out Environment, so the stack deploys with"
        notes.append(f"{shown(path)} {how} Environment={environment}: priced as {environment}, not {env}")
    min_acu = max_acu = None
    if spec.database:
        min_acu = acu_value(path, "DatabaseMinAcu", billing.get("DatabaseMinAcu", defaults["DatabaseMinAcu"]))
        max_acu = acu_value(path, "DatabaseMaxAcu", billing.get("DatabaseMaxAcu", defaults["DatabaseMaxAcu"]))
        if min_acu > max_acu:
            raise ParamsError(f"{path}: DatabaseMinAcu {min_acu:g} is above DatabaseMaxAcu {max_acu:g}")
    images = {
        s.name: billing.get(naming.image_param(s.name), s.image.default)
        for s in spec.services
        if not s.image.repository
    }
    return Deployment(
        environment,
        min_acu,
        max_acu,
        images,
        path if read else None,
        billing,
        [k for k in defaults if k not in billing],
        notes,
    )


def shown(path: Path | None) -> str:
    if path is None:
        return "-"
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def deployment_lines(d: Deployment) -> list[str]:
    """Which billing values came from the parameters file and which are template defaults."""
    if d.path is not None:
        given = ", ".join(f"{k}={v}" for k, v in d.from_file.items()) or "none of the billing parameters"
        out = [f"Deployment values from {shown(d.path)}: {given}"]
    else:
        out = ["Deployment values: no parameters file read"]
    if d.defaulted:
        out.append(f"  template defaults: {', '.join(d.defaulted)}")
    out += [f"  note: {n}" for n in d.notes]
    return out
