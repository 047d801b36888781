"""Randomness a restored clone must not share with its siblings: kernel entropy
(/dev/urandom), uuid4 (from os.urandom) and Python's `random` stream. `random` is seeded
during init, so without the runtime's reseed every clone would repeat the same stream."""

import os
import random
import uuid

from snapshot_restore_py import register_before_snapshot

random.random()  # the stream exists before the snapshot


@register_before_snapshot
def _draw_from_the_kernel():
    # A read lets the guest kernel reseed its CRNG now if it is due, so that clones restored
    # without host entropy (thaw's debug option) go on from one CRNG state: the uniqueness test
    # relies on that to show that the host's entropy is what tells clones apart.
    os.urandom(16)


def handler(event, context):
    with open("/dev/urandom", "rb") as f:
        urandom = f.read(16).hex()
    return {
        "urandom": urandom,
        "uuid4": str(uuid.uuid4()),
        "random": [random.random() for _ in range(4)],
    }
