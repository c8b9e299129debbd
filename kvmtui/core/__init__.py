"""kvmtui's core: everything that talks to libvirt and SSH.

Nothing in this package imports Textual: the screens render the frozen snapshots it
produces and call its asyncio API, so the core is testable with pytest-asyncio alone.

libvirt logs warnings to stderr by default, which is the terminal the UI draws on; unless
the operator chose otherwise, its log goes to a file in the user's log directory. This must
happen before libvirt initialises, hence here, before any module of the core imports it.
"""

import os as _os

import platformdirs as _platformdirs

if "LIBVIRT_LOG_OUTPUTS" not in _os.environ:
    _log_dir = _platformdirs.user_log_dir("kvmtui")
    _os.makedirs(_log_dir, exist_ok=True)
    _os.environ["LIBVIRT_LOG_OUTPUTS"] = f"3:file:{_log_dir}/libvirt.log"
