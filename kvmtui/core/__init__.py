"""kvmtui's core: everything that talks to libvirt and SSH.

Nothing in this package imports Textual: the screens render the frozen snapshots it
produces and call its asyncio API, so the core is testable with pytest-asyncio alone.
"""
