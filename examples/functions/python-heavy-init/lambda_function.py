"""A function with a heavy init, like real ones that load frameworks and models: it imports a
large part of the standard library and builds tens of MB of data structures at import time,
so a cold start pays for all of it and a restored snapshot pays for none of it."""

import argparse
import asyncio
import base64
import collections
import concurrent.futures
import csv
import dataclasses
import datetime
import decimal
import difflib
import email.mime.multipart
import email.mime.text
import fractions
import hashlib
import html.parser
import http.client
import http.server
import inspect
import ipaddress
import json
import logging.handlers
import multiprocessing
import pathlib
import pickle
import pydoc
import re
import shutil
import sqlite3
import statistics
import string
import tarfile
import textwrap
import typing
import unittest
import urllib.request
import uuid
import xml.dom.minidom
import xml.etree.ElementTree
import zipfile
import zlib

_ROWS = 100_000

# ~70 MB of Python objects (100 MB resident with the imports): a list of dicts, an index
# over it, and a blob of bytes. Give it --memory 512.
TABLE = [{"id": i, "name": "item-%06d" % i, "score": (i * 7919) % 1000 / 10.0, "tags": ("a", "b", str(i % 17))}
         for i in range(_ROWS)]
INDEX = {row["name"]: row for row in TABLE}
BLOB = hashlib.sha256(b"thaw").digest() * (4 * 1024 * 1024 // 32)
WORDS = collections.Counter(re.findall(r"[a-z]+", textwrap.dedent(pydoc.__doc__ or "").lower() * 1000))


def handler(event, context):
    name = (event or {}).get("name", "item-000042")
    row = INDEX.get(name)
    return {
        "rows": len(TABLE),
        "row": row and {"id": row["id"], "name": row["name"], "score": row["score"]},
        "blob_bytes": len(BLOB),
        "modules": len(__import__("sys").modules),
    }
