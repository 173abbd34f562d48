"""A filesystem that loses power: a FUSE passthrough that drops every write not yet made durable.

``PowerLossMount(work_dir)`` mounts it; an engine's data directory goes under ``mount.path``; after
the caller has SIGKILLed every process using it, ``mount.power_cut()`` leaves what a machine would
find after a power failure and mounts again on the same path; ``mount.stats()`` counts what was
written, synced and dropped. ``unavailable_reason()`` says why it cannot run here (None: it can).
README.md states the durability model.
"""
from .model import CutStats, Stats
from .mount import INSTALL_COMMAND, MountUser, PowerLossError, PowerLossMount, PowerLossUnavailable, install_fuse, mount_users, unavailable_reason

__all__ = [
    "INSTALL_COMMAND", "CutStats", "MountUser", "PowerLossError", "PowerLossMount", "PowerLossUnavailable", "Stats",
    "install_fuse", "mount_users", "unavailable_reason",
]
