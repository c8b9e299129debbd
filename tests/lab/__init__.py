"""Tests against the two-host lab (scripts/lab): real libvirtd, QEMU and sshd."""
