"""The read kernel: reading CloudFormation templates, knowing nothing of specs.

Every reader of templates uses it (the reachability preflight, diagnostics, the
invariants, the render profiles, the security gate's template discovery, the deploy
helpers, the cfn-lint plugin's condition logic):

- ``load``         the one loader (YAML short and long forms, JSON) and ``load_dir``
- ``refs``         the one reference walker (Ref, GetAtt, Sub variables, DependsOn)
- ``conditions``   the one Conditions evaluator (three-valued, values from the caller)
- ``templateset``  ``TemplateSet``: parent + children, cross-stack origins, presence,
                   ``present_with`` (is X there whenever Y is, under every condition),
                   ``scenarios``/``under``/``resolved`` (the values conditions compare,
                   a set under one combination, a fragment with its Fn::If decided)
- ``environments`` which values of ``Environment`` change a set of resource types
- ``values``       ``Renderer``: a value's text after deploy (ARNs for matching/messages)
- ``finding``      ``Finding``: the one problem type of every checker
- ``facts``        AWS facts read by more than one checker (TLS policies, stateful types)

A checker takes either the in-memory ``dict[str, dict]`` of ``render.synthesize()`` or
``load_dir(DIR)``: both are the same shape (file name -> template, ``main.yaml`` the parent).
"""

from generator.cfn.conditions import ANY_OTHER, Conditions, Other
from generator.cfn.environments import environments, with_environment
from generator.cfn.finding import ERROR, WARNING, Finding
from generator.cfn.load import (
    PARENT,
    STACK_TYPE,
    Lines,
    TemplateError,
    load_dir,
    load_file,
    load_file_with_lines,
    load_text,
)
from generator.cfn.refs import PSEUDO_PARAMETERS, Reference, depends_on, references, sub_parts, walk
from generator.cfn.templateset import Origin, TemplateSet

__all__ = [
    "ANY_OTHER",
    "ERROR",
    "PARENT",
    "PSEUDO_PARAMETERS",
    "STACK_TYPE",
    "WARNING",
    "Conditions",
    "Finding",
    "Lines",
    "Origin",
    "Other",
    "Reference",
    "TemplateError",
    "TemplateSet",
    "depends_on",
    "environments",
    "load_dir",
    "load_file",
    "load_file_with_lines",
    "load_text",
    "references",
    "sub_parts",
    "walk",
    "with_environment",
]
