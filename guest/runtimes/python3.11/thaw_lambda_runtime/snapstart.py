"""The runtime's side of SnapStart: hooks around the snapshot and the reseeding every
restored clone needs so that no two of them share random state."""

import os
import sys

# Set to "0" by a function whose code relies on the state of Python's `random` at INIT
# (random.seed(42) there): its restored clones then all continue that same stream.
RESEED_VARIABLE = "THAW_RESEED_RANDOM"


def _hooks():
    # Imported by name, after the user's code: a function that vendors AWS's own
    # snapshot_restore_py package registers into that copy, and it is the one that counts.
    import snapshot_restore_py
    return snapshot_restore_py


def run_before_snapshot():
    """Newest first; each hook leaves the list as it runs, so one that registers another
    hook has it run next."""
    hooks = _hooks().get_before_snapshot()
    while hooks:
        func, args, kwargs = hooks.pop()
        func(*args, **kwargs)


def run_after_restore():
    """In registration order, over the live list: a hook registered by a hook runs too."""
    for func, args, kwargs in _hooks().get_after_restore():
        func(*args, **kwargs)


def reseed_language_state():
    """Gives the restored clone its own random streams. The agent has already reseeded the
    kernel CRNG, so os.urandom (and with it uuid4, secrets, SystemRandom) is fresh; the
    state cached in Python's modules is not."""
    random = sys.modules.get("random")
    if random is not None and os.environ.get(RESEED_VARIABLE, "1").strip().lower() not in ("0", "false", "no", "off"):
        random.seed(os.urandom(32))
    tempfile = sys.modules.get("tempfile")
    if tempfile is not None:
        tempfile._name_sequence = None  # its own Random, seeded once per pid; names must not repeat
