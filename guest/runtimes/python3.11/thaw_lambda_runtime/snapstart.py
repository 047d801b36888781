"""The runtime's side of SnapStart: hooks around the snapshot and the reseeding every
restored clone needs so that no two of them share random state."""

import os
import sys


def _hooks():
    # Imported by name, after the user's code: a function that vendors AWS's own
    # snapshot_restore_py package registers into that copy, and it is the one that counts.
    import snapshot_restore_py
    return snapshot_restore_py


def run_before_snapshot():
    for func, args, kwargs in reversed(list(_hooks().get_before_snapshot())):
        func(*args, **kwargs)


def run_after_restore():
    for func, args, kwargs in list(_hooks().get_after_restore()):
        func(*args, **kwargs)


def reseed_language_state():
    """Gives the restored clone its own random streams. The agent has already reseeded the
    kernel CRNG, so os.urandom (and with it uuid4, secrets, SystemRandom) is fresh; the
    state cached in Python's modules is not."""
    random = sys.modules.get("random")
    if random is not None:
        random.seed(os.urandom(32))
    tempfile = sys.modules.get("tempfile")
    if tempfile is not None:
        tempfile._name_sequence = None  # its own Random, seeded once per pid
