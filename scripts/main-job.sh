#!/usr/bin/env bash
# The main job: installs what is missing, builds, and runs thaw on real work:
#  1. a real Python function is built into an image and invoked cold in a KVM microVM (boot,
#     INIT, INVOKE), with Lambda's REPORT line; on a machine without /dev/kvm this runs inside
#     the emulated KVM host (--kvm emulated);
#  2. a python3 that imported much of the standard library is captured into a page store
#     (thaw capture) and the snapshot is shown (thaw inspect).
# Snapshot and lazy restore of the function itself (issue 6) are not built yet.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh build

out=$(mktemp -d /tmp/thaw-main-job.XXXXXX)
py_pid=
cleanup() {
  if [ -n "$py_pid" ]; then kill "$py_pid" 2>/dev/null || true; wait "$py_pid" 2>/dev/null || true; fi
  rm -rf "$out"
}
trap cleanup EXIT

kvm=auto
[ -c /dev/kvm ] || { kvm=emulated; echo "main job: no /dev/kvm here: the microVM runs inside the emulated KVM host"; }
echo "main job: building the python-hello image"
build/thaw --log-level warn image build --runtime python3.11 --code examples/functions/python-hello \
  --init-timeout 60 --out "$out/hello.img" 2>/dev/null
echo "main job: cold invoke (boot + INIT + INVOKE)"
start=$(date +%s.%N)
build/thaw --kvm "$kvm" invoke "$out/hello.img" --payload '{"name": "thaw"}'
echo "main job: cold invoke took $(python3 -c "import time; print(round(time.time() - $start, 1))") s of wall time in all"
echo

mkfifo "$out/ready"
python3 - >"$out/ready" <<'PY' &
import sys, json, re, os, collections, asyncio, email, http.client, http.server, xml.etree.ElementTree
import sqlite3, decimal, unittest, argparse, logging, subprocess, threading, multiprocessing, ssl, hashlib
import urllib.request, zipfile, tarfile, csv, datetime, pathlib, typing, dataclasses, inspect, ast, pickle
import socket, shutil, tempfile, difflib, textwrap, statistics, fractions, random, uuid, base64, gzip, bz2
import lzma, html.parser, configparser, concurrent.futures, ctypes, pdb, doctest, pydoc, smtplib, calendar
import queue, string, struct, codecs, unicodedata, tokenize, dis, traceback, timeit, enum, functools
import itertools, copy, pprint, heapq, bisect, array, weakref, contextlib, math, glob, zlib, hmac, secrets
import ipaddress, shlex, importlib.metadata, sysconfig, xmlrpc.client, wsgiref.simple_server, platform, time
print("ready", flush=True)
time.sleep(600)
PY
py_pid=$!
read -r _ <"$out/ready"
echo "main job: python3 (pid $py_pid) imported the standard library; capturing it"
build/thaw capture --pid "$py_pid" --out "$out/snapshot"
echo
build/thaw inspect "$out/snapshot"
