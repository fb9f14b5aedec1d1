"""The operator's side of CloudPyPI: what ``fab`` (fabfile.py) does on this machine around the engine.

fabfile.py holds only thin tasks, whose docstrings are ``fab --list``; they call these modules:

- ``codes``: the exit codes the tasks end with;
- ``hostdefaults``: the dev server's service settings (user, runner, config and report paths, budget) as
  the roles' defaults files give them: the one source for the Ansible side and this one;
- ``devserver``: which host the tasks talk to (the Ansible inventory, or ``fab -H``) and how to reach it;
- ``runner``: running commands there (the service runner as the service user) and here, a failure
  becoming one sentence and the command's exit code;
- ``service``: the systemd side of the sync service (its journal, who holds the mirror's lock);
- ``team``: the team list in the inventory's group_vars (``fab onboard``, ``fab offboard``);
- ``present``: what tasks print that the engine does not (``fab status``'s sections around the
  engine's own output).

They import Fabric, Invoke and ruamel.yaml, the operator's development dependencies; nothing in the
engine imports them, so the dev server (which installs the engine's runtime dependencies only) never does.
"""
