"""``template_dict(t)``: the dict ``t.to_dict()`` returns, in one walk.

troposphere's ``Template.to_dict`` encodes with ``encode_to_dict``, which for every object
calls ``obj.to_dict()`` (itself ``encode_to_dict`` of the object's contents) and then
encodes that result again: each value is walked once per object above it, and each step
tries ``hasattr(obj, "to_dict")`` and ``hasattr(obj, "JSONrepr")`` before the type tests.
On 300 services that was about a third of synthesis.

``encode`` gives the same result in one walk. For the classes whose ``to_dict`` is
troposphere's own (``BaseAWSObject``, ``AWSHelperFn``, ``Tags``) it does what that method
does, in the same order: an object's validation (required properties, its ``validate``)
runs before its contents are walked, so the first failure raised is the same one.
Anything else (a class with its own ``to_dict``, awacs' ``JSONrepr``) goes the way
``encode_to_dict`` goes. Re-encoding an encoded value is the identity, so encoding once
is enough. ``tests/test_determinism.py`` compares the two on every committed platform,
the examples and random specs, and shows a missing required property still fails.
"""

from __future__ import annotations

from typing import Any

from troposphere import AWSHelperFn, BaseAWSObject, Tags, Template

__all__ = ["encode", "template_dict"]

_OBJECT_TO_DICT = BaseAWSObject.to_dict
_FN_TO_DICT = AWSHelperFn.to_dict
_TAGS_TO_DICT = Tags.to_dict
_TEMPLATE_TO_DICT = Template.to_dict
_PLAIN = frozenset({str, int, float, bool, type(None)})


def encode(obj: Any) -> Any:
    """``troposphere.encode_to_dict(obj)``, walked once."""
    cls = type(obj)
    if cls in _PLAIN:
        return obj
    # leaves are returned as they are without a call (most values are leaves)
    if cls is dict:
        return {k: v if type(v) in _PLAIN else encode(v) for k, v in obj.items()}
    if cls is list or cls is tuple:
        return [v if type(v) in _PLAIN else encode(v) for v in obj]
    method = getattr(cls, "to_dict", None)
    if method is _OBJECT_TO_DICT:
        return _aws_object(obj)
    if method is _FN_TO_DICT:
        return encode(obj.data)
    if method is _TAGS_TO_DICT:
        return [encode(tag) for tag in obj.tags]
    # encode_to_dict's own order for everything else
    if hasattr(obj, "to_dict"):
        return encode(obj.to_dict())
    if isinstance(obj, (list, tuple)):
        return [encode(v) for v in obj]
    if isinstance(obj, dict):
        return {k: encode(v) for k, v in obj.items()}
    if hasattr(obj, "JSONrepr"):
        return encode(obj.JSONrepr())
    return obj


def _aws_object(obj: BaseAWSObject) -> Any:
    """``BaseAWSObject.to_dict()`` (validation on, as ``encode_to_dict`` calls it), encoded."""
    if obj.do_validation:
        obj._validate_props()
        obj.validate()
    if obj.properties:
        return encode(obj.resource)
    if hasattr(obj, "resource_type"):
        return {k: encode(v) for k, v in obj.resource.items() if k != "Properties"}
    return {}


def template_dict(t: Template) -> dict[str, Any]:
    """``t.to_dict()``: the same sections in the same order, encoded in one walk."""
    if type(t).to_dict is not _TEMPLATE_TO_DICT:
        return t.to_dict()
    d: dict[str, Any] = {}
    if t.description:
        d["Description"] = t.description
    if t.metadata:
        d["Metadata"] = t.metadata
    if t.conditions:
        d["Conditions"] = t.conditions
    if t.mappings:
        d["Mappings"] = t.mappings
    if t.outputs:
        d["Outputs"] = t.outputs
    if t.parameters:
        d["Parameters"] = t.parameters
    if t.version:
        d["AWSTemplateFormatVersion"] = t.version
    if t.transform:
        d["Transform"] = t.transform
    if t.rules:
        d["Rules"] = t.rules
    if t.globals:
        d["Globals"] = t.globals
    d["Resources"] = t.resources
    return encode(d)
