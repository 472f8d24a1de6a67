import os

# stackgen's spec models are its own: a pydantic plugin installed beside it (found by scanning
# every installed distribution's entry points when the first model is built) has nothing to
# observe, and the scan is paid by every command. PYDANTIC_DISABLE_PLUGINS set by the caller wins.
os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")

from generator.cli import main  # noqa: E402 - after the environment is set

raise SystemExit(main())
