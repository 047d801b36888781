"""Randomness a restored clone must not share with its siblings: kernel entropy
(/dev/urandom), uuid4 (from os.urandom) and Python's `random` stream. `random` is seeded
during init, so without the runtime's reseed every clone would repeat the same stream."""

import random
import uuid

random.random()  # the stream exists before the snapshot


def handler(event, context):
    with open("/dev/urandom", "rb") as f:
        urandom = f.read(16).hex()
    return {
        "urandom": urandom,
        "uuid4": str(uuid.uuid4()),
        "random": [random.random() for _ in range(4)],
    }
