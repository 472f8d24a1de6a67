import os
import sys

# stackgen's spec models are its own: a pydantic plugin installed beside it (found by scanning
# every installed distribution's entry points when the first model is built) has nothing to
# observe, and the scan is paid by every command. PYDANTIC_DISABLE_PLUGINS set by the caller wins.
os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")

from generator.cli import NO_TEARDOWN, main  # noqa: E402 - after the environment is set

code = main()
if sys.argv[1:2] and sys.argv[1] in NO_TEARDOWN:
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except OSError:  # (a reader gone away: the usual exit reports it)
        pass
    else:
        os._exit(code)
raise SystemExit(code)
