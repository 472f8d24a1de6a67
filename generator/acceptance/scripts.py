"""Running the project's own scripts and helpers as a user would: ``deploy.sh --yes``,
``delete.sh --yes``, ``python -m generator.deploy.survivors`` and ``... events mark``.

stdin is never a terminal (nothing prompts: secrets come from ``STACKGEN_PARAM_<Name>``);
their output is streamed to ours, indented, and kept for the report.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Run:
    argv: list[str]
    code: int
    output: str
    seconds: float

    def tail(self, lines: int = 1) -> str:
        """The last non-empty lines of the output (where the scripts print their error)."""
        found = [line.strip() for line in self.output.splitlines() if line.strip()]
        return " | ".join(found[-lines:]) if found else f"exit {self.code}, no output"


def run(
    argv: list[str], env: dict[str, str], echo: Callable[[str], None] | None = None, timeout: float | None = None
) -> Run:
    """Run a command from the repository root; each output line goes to ``echo`` as it comes."""
    start = time.monotonic()
    lines: list[str] = []
    proc = subprocess.Popen(
        argv,
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        errors="replace",
    )
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line.rstrip("\n"))
            if echo:
                echo(line.rstrip("\n"))
            if timeout is not None and time.monotonic() - start > timeout:
                proc.kill()
                lines.append(f"(killed after {timeout:.0f} s)")
                break
        code = proc.wait()
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    return Run(argv, code, "\n".join(lines), time.monotonic() - start)


def interval_arg(seconds: float) -> str:
    """A number as deploy.sh and delete.sh accept it (digits, an optional fraction; no exponent)."""
    return f"{seconds:.3f}".rstrip("0").rstrip(".") or "0"


class Scripts:
    """deploy.sh, delete.sh and the survivors helper with the run's platform, environment,
    stack, region and endpoint."""

    def __init__(
        self,
        platform: str,
        env_name: str,
        stack: str,
        region: str,
        endpoint: str | None,
        environ: dict[str, str],
        params_file: str | None = None,
        echo: Callable[[str], None] | None = None,
        interval: float | None = None,
    ):
        self.platform, self.env_name, self.stack = platform, env_name, stack
        self.interval = interval
        self.environ = environ
        self.params_file = params_file
        self.echo = echo
        self.aws = ["--region", region] + (["--endpoint-url", endpoint] if endpoint else [])

    def _common(self) -> list[str]:
        return ["--platform", self.platform, "--env", self.env_name, "--stack-name", self.stack, *self.aws]

    def _polling(self) -> list[str]:
        """``--interval`` for deploy.sh and delete.sh (their event polling), when one is set."""
        return [] if self.interval is None else ["--interval", interval_arg(self.interval)]

    def deploy(self) -> Run:
        extra = ["--params-file", self.params_file] if self.params_file else []
        return run(
            [str(ROOT / "deploy.sh"), *self._common(), *self._polling(), *extra, "--yes"], self.environ, self.echo
        )

    def delete(self) -> Run:
        return run([str(ROOT / "delete.sh"), *self._common(), *self._polling(), "--yes"], self.environ, self.echo)

    def _helper(self, module: str, *args: str) -> Run:
        return run([sys.executable, "-m", f"generator.deploy.{module}", *args, *self.aws], self.environ)

    def mark(self) -> str:
        """The timestamp of the stack's newest event: where the delete's events start."""
        r = self._helper("events", "mark", "--stack-name", self.stack)
        return r.output.strip().splitlines()[-1] if r.code == 0 and r.output.strip() else "0"

    def survivors_before(self, save: Path) -> tuple[Run, list[dict]]:
        """What will survive the delete (generator.deploy.survivors before), and the list."""
        r = self._helper("survivors", "before", "--stack-name", self.stack, "--save", str(save))
        listed = json.loads(save.read_text())["survivors"] if r.code == 0 and save.exists() else []
        return r, listed

    def survivors_after(self, stack_id: str, load: Path, since: str) -> Run:
        """What survived, checked through the service APIs (generator.deploy.survivors after)."""
        return self._helper("survivors", "after", "--stack-name", stack_id, "--load", str(load), "--since", since)
