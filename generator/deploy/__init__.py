"""Deploy-side helpers called by ``deploy.sh`` and ``delete.sh``.

Each module is a small command-line tool (``python -m generator.deploy.<module> --help``):

- ``params``     validate a parameters file against a template's Parameters; NoEcho values
                 come only from ``STACKGEN_PARAM_<Name>`` (never from files, never logged)
- ``artifacts``  the artifact bucket: ensure (encrypted, public access blocked, versioned),
                 upload, purge a stack's prefix; package (awscli's packager in process,
                 reading the templates on libyaml: ``package_yaml``)
- ``changeset``  create a change set (nested stacks included) and summarise it, highlighting
                 replacement or removal of stateful resources
- ``events``     stream parent and nested stack events while polling, then print the root
                 cause of a failure
- ``outputs``    print a stack's outputs as a table
- ``survivors``  list what outlives a stack delete (retained resources, final snapshots,
                 secrets in their recovery window, ...)
- ``nested``     predict the changes inside a nested stack when the endpoint returns no
                 nested change sets (the local emulator)
- ``stateful``   the stateful resource types and the properties that replace a resource
- ``emulator``   start/stop the local AWS emulator (ministack) in the background, through
                 ``ministack/launch.py`` (nested-stack fixes, providers for the types ministack
                 lacks, AWS-like strictness and nested change sets; ministack 1.5.33 only)

- ``forkserver`` the helper server of one deploy.sh/delete.sh run: imports boto3 and the
                 helpers once and forks each helper from there (``lib.sh`` ``pyhelper``)

``lib.sh`` holds the shell functions deploy.sh and delete.sh share.

Every AWS client is built by :func:`generator.deploy._aws.client`, which passes
``endpoint_url`` explicitly whenever an endpoint is configured.
"""
