"""The local emulator's launcher: ministack 1.5.33 made to behave like CloudFormation and AWS.

``launch.py`` is what ``generator.deploy.emulator`` runs with ministack's own venv's python.
It patches ministack in process before starting it:

- ``launch.py``     three nested-stack fixes (attributes kept in a nested update,
                    DeletionPolicy and events on a nested delete, rollback of a failed
                    nested create)
- ``providers.py``  the resource types ministack lacks (security-group rules, EIPs, NAT
                    gateways, flow logs, RDS proxies, capacity-provider associations), through
                    its own service back ends, and the registration of all of them
- ``application_autoscaling.py`` the Application Auto Scaling API ministack lacks, and the
                    providers of ScalableTarget and ScalingPolicy
- ``service_call.py`` calling a service's API handlers in process, as a client would
- ``strictness.py`` AWS rules ministack does not enforce (AlreadyExists for named
                    resources, deletion protection, snapshots on replace, container
                    secrets, a target group without a listener)
- ``nested_changesets.py`` CreateChangeSet with IncludeNestedStacks creates a change set
                    per modified nested stack, as CloudFormation does

Nothing here imports ministack at module level, so the project's own venv can read the
tables (tests compare them with cfn-lint's schemas).
"""
