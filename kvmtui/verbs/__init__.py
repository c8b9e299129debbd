"""The `:` verbs, one module per feature, each verb registered with its grammar and handler
in one `kvmtui.core.commands.verb` call.

Importing this package registers them all. The Textual app and the one-shot command line
name it to the registry (`kvmtui.core.commands.verbs_from`), which imports it when a verb
is first looked up; neither this package nor its modules import Textual.
"""

# In this order, which is the order `help` lists them in.
from kvmtui.verbs import views, lifecycle, migration, console, display, placement  # noqa: F401, I001
from kvmtui.verbs import guest_config, tags  # noqa: F401
from kvmtui.verbs import snapshots  # noqa: F401
from kvmtui.verbs import hardware  # noqa: F401
from kvmtui.verbs import storage  # noqa: F401
from kvmtui.verbs import capabilities, networks  # noqa: F401
from kvmtui.verbs import create  # noqa: F401
from kvmtui.verbs import addresses  # noqa: F401
from kvmtui.verbs import agent  # noqa: F401
from kvmtui.verbs import backups  # noqa: F401
from kvmtui.verbs import blockjobs  # noqa: F401
from kvmtui.verbs import history  # noqa: F401
