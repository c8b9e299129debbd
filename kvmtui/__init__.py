"""kvmtui: a keyboard-driven terminal console for libvirt/KVM fleets."""

__version__ = "0.1.0"
