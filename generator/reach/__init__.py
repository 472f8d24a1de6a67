"""Can every ECS task start?  The reachability model and both of its sides.

- ``model``     tasks, needs, permissions, endpoints, security-group rules, internet paths
- ``needs``     what a task needs to start: the one derivation (image source, log group,
                secrets and SSM, KMS, ECS Exec) from its containers' facts
- ``tasks``     the tasks of a template set and their containers' facts
- ``network``   network facts of a template set: subnets, routes, NAT / internet gateway,
                VPC endpoints, security-group rules
- ``iam``       IAM evaluation: statements from templates or live documents, one decision
- ``verdicts``  the static preflight: routes, security groups, IAM per task, and the wording
- ``live``      the live side (``python -m generator diagnose``): the same model read from
                a deployed account with read-only API calls

It sits beside the read kernel (``generator.cfn``) and below the command line:
``generator.preflight`` and ``generator.diagnose`` are the commands.
"""
