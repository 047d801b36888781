"""Connections to Redis and PostgreSQL opened at INIT and kept across invocations, as Lambda
functions keep their database connections, and the SnapStart pattern that makes them survive
a restore: a before-snapshot hook closes them (a snapshot must not hold a TCP connection: each
restored clone would hold a copy the server never heard of), an after-restore hook gives the
clone an identity of its own and opens new ones.

The client libraries come as layers: scripts/debian-python-layer.sh builds them from Debian's
python3-redis and python3-psycopg2.

Environment: REDIS=HOST:PORT, POSTGRES=a libpq connection string (host=... dbname=...), and
DB_HOOKS=off to register no hooks (to see what a restored clone without them meets).

event: {"barrier": N}  optional: after its work, wait until the counter reaches N (so that N
                       invocations at once need N sandboxes)
       {"retry": true} optional: on a connection error, reconnect and run the work again
Work: INSERT a row (clone, count) into the table "clones" and INCR the Redis counter
"invocations" for its count, in one PostgreSQL transaction. Returns {"clone": ID, "count": N}.
"""

import os
import time
import uuid

import psycopg2
import redis
from snapshot_restore_py import register_after_restore, register_before_snapshot

clone_id = uuid.uuid4().hex
cache = db = None


def connect():
    """Opens both connections now (redis-py would otherwise connect on the first command),
    named after this clone so the servers' client lists tell clones apart."""
    global cache, db
    host, port = os.environ["REDIS"].rsplit(":", 1)
    # retry_on_error: redis-py reconnects and sends a command again once when its connection
    # turns out to be dead (a server's idle timeout, a restart).
    cache = redis.Redis(host=host, port=int(port), client_name="thaw-" + clone_id, socket_timeout=10,
                        retry_on_error=[redis.exceptions.ConnectionError])
    cache.ping()
    db = psycopg2.connect(os.environ["POSTGRES"], application_name="thaw-" + clone_id, connect_timeout=10)


def close():
    if cache is not None:
        cache.connection_pool.disconnect()  # redis-py's close() only hands its connection back to the pool
    if db is not None:
        db.close()


connect()

if os.environ.get("DB_HOOKS", "on") != "off":
    @register_before_snapshot
    def close_connections():
        close()

    @register_after_restore
    def reconnect():
        global clone_id
        clone_id = uuid.uuid4().hex  # the CRNG was reseeded for this clone
        connect()


def work():
    """One PostgreSQL transaction around the Redis INCR: the row is inserted first, so a dead
    PostgreSQL connection fails the work before the counter moves, and the transaction commits
    only if the INCR succeeded. (psycopg2's `with connection:` would hide the OperationalError
    of a dead connection behind an InterfaceError from its rollback.)"""
    try:
        with db.cursor() as cursor:
            cursor.execute("INSERT INTO clones (clone) VALUES (%s) RETURNING id", (clone_id,))
            row = cursor.fetchone()[0]
            count = cache.incr("invocations")
            cursor.execute("UPDATE clones SET count = %s WHERE id = %s", (count, row))
        db.commit()
    except BaseException:
        if not db.closed:
            db.rollback()
        raise
    return count


def handler(event, context):
    if event.get("retry"):
        try:
            count = work()
        except (redis.exceptions.ConnectionError, psycopg2.OperationalError, psycopg2.InterfaceError) as e:
            print(f"reconnecting after {type(e).__name__}: {str(e).strip()}")
            close()
            connect()
            count = work()
    else:
        count = work()
    barrier = event.get("barrier", 0)
    while int(cache.get("invocations") or 0) < barrier and context.get_remaining_time_in_millis() > 1000:
        time.sleep(0.05)
    return {"clone": clone_id, "count": count}
