"""``make acceptance``: an end-to-end acceptance run of a platform against a real account (or
the local emulator), in the manner of taskcat and widdix's acceptance tests.

``python -m generator.acceptance --help`` describes the run. Modules:

- ``__main__`` the command line: inputs checked before anything is created (exit 2), the
               run, the report, the summary and the exit status
- ``run``      the order of the run: deploy, checks, diagnose, delete (always), survivors
- ``scripts``  deploy.sh, delete.sh and the survivors helper, run as a user runs them
- ``stack``    the deployed stack read back through the APIs: services, target groups,
               load balancers and listeners, schedules
- ``services`` service created / steady, target group attached / healthy, schedules
- ``probes``   HTTP(S) probes of the public listeners and the health paths
- ``pulls``    image pulls since the deploy: recorded, none failed, none slow (AWS only)
- ``costs``    what the run costs, from ``python -m generator cost``
- ``report``   the checks, the verdict, the JUnit XML report and the one-screen summary
"""
