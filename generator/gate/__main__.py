import sys

from generator.gate.cli import main

sys.exit(main())
