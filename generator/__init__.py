"""stackgen: a declarative platform spec -> AWS CloudFormation nested stacks for ECS Fargate."""

# The one place the version is written: pyproject.toml reads it (dynamic version),
# `stackgen --version` prints it and CHANGELOG.md has an entry for it.
__version__ = "0.1.0"
