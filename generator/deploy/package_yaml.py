"""awscli's packager reads templates on libyaml: the same data, in a fraction of the time.

``aws cloudformation package`` (``awscli.customizations.cloudformation``) reads every
template with ``yamlhelper.yaml_parse``, on PyYAML's pure-Python scanner and parser: about
half the CPU of ``artifacts package`` on a platform's templates. :func:`yaml_parse` is the
same function on libyaml's (``yaml.CSafeLoader``) with awscli's own constructors (the
intrinsic-function tags, mappings as ``OrderedDict``, merge keys): the same data, key order
and types. ``tests/test_package_yaml.py`` compares the two on every committed template, on
CloudFormation's short forms, on JSON and on the scalars hardest to read.

The writing stays awscli's (``yamlhelper.yaml_dump``, pure Python): libyaml's emitter folds
long double-quoted strings at other places, and the S3 keys of a packaged platform are MD5s of
those bytes, so a changed byte would re-upload every nested template and update every nested
stack on the next deploy (a test shows the difference on inline Lambda code).

:func:`in_awscli` puts :func:`yaml_parse` in the packager's place for a ``with`` block. On a
PyYAML built without libyaml it is awscli's pure-Python reading again.
"""

from __future__ import annotations

import contextlib
import functools
import json
from collections import OrderedDict
from collections.abc import Iterator
from typing import Any

import yaml


@functools.cache
def loader() -> type:
    """awscli's ``SafeLoaderWrapper`` (its constructors) on libyaml's scanner and parser."""
    from awscli.customizations.cloudformation import yamlhelper  # noqa: PLC0415 - only packaging needs awscli

    class Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
        pass

    Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, yamlhelper._dict_constructor)
    Loader.add_multi_constructor("!", yamlhelper.intrinsics_multi_constructor)
    return Loader


def yaml_parse(text: str) -> Any:
    """``yamlhelper.yaml_parse``: JSON when the text is JSON, else YAML with CloudFormation's tags."""
    try:
        return json.loads(text, object_pairs_hook=OrderedDict)
    except ValueError:
        return yaml.load(text, loader())  # noqa: S506 - a SafeLoader (awscli's constructors)


@contextlib.contextmanager
def in_awscli() -> Iterator[None]:
    """For the block, awscli's packager (``artifact_exporter``) reads templates with :func:`yaml_parse`."""
    from awscli.customizations.cloudformation import artifact_exporter  # noqa: PLC0415

    saved = artifact_exporter.yaml_parse
    artifact_exporter.yaml_parse = yaml_parse
    try:
        yield
    finally:
        artifact_exporter.yaml_parse = saved
