"""The earlier Python client (PyPI immukv 0.1.30, installed by scripts/s3.sh
into .s3/pyimmukv) driven by the tests: a writer, a repairer and a reader on
the same bucket and prefix as this package.

    .s3/pyimmukv/bin/python pyimmukv.py < '{"op": ..., "endpoint", "bucket", "prefix", ...}'

(the arguments as JSON on stdin: a long list of sets does not fit in argv)

op "set":  "sets": [[key, value_json], ...]: each value is read with Python's
           json.loads (so NaN, Infinity, 1.0 and 1e-05 mean what they mean to
           a Python caller) and set, one after another. One JSON line per
           set ({"i", "key", "sequence", "hash", "versionId"} when it was
           acknowledged), flushed at once: a process killed midway has
           printed exactly the sets it saw acknowledged.
op "get":  "keys": [...]: the client's get of each key (its first read
           repairs an orphan head, as the client does), one JSON line each
           with the value as Python's json.dumps writes it.
Failures are printed as {"error": ...} lines and do not stop the run. Each
repair the client makes (a key object it writes for an orphan head) is told
on stderr as a {"repaired": message} line.
"""
import json
import logging
import sys

from immukv import Config, ImmuKVClient, S3Credentials, S3Overrides


def client(args):
    config = Config(
        s3_bucket=args["bucket"],
        s3_region="us-east-1",
        s3_prefix=args.get("prefix", ""),
        repair_check_interval_ms=0,
        overrides=S3Overrides(
            endpoint_url=args["endpoint"],
            credentials=S3Credentials(aws_access_key_id="adminkey", aws_secret_access_key="adminsecret"),
            force_path_style=True,
        ),
    )
    identity = lambda v: v  # noqa: E731
    return ImmuKVClient(config, identity, identity)


class Repairs(logging.Handler):
    """The client logs each repair it makes at INFO (client.py, _repair_orphan)."""

    def emit(self, record):
        message = record.getMessage()
        if message.startswith(("Propagated log entry", "Created key object")):
            sys.stderr.write(json.dumps({"repaired": message}) + "\n")
            sys.stderr.flush()


def say(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def main():
    args = json.loads(sys.stdin.read())
    log = logging.getLogger("immukv.client")
    log.setLevel(logging.INFO)
    log.addHandler(Repairs())
    c = client(args)
    try:
        if args["op"] == "set":
            for i, (key, value_json) in enumerate(args["sets"]):
                try:
                    e = c.set(key, json.loads(value_json))
                except Exception as err:  # noqa: BLE001 - reported, the run goes on
                    say({"i": i, "error": f"{type(err).__name__}: {err}", "key": key})
                    continue
                say({"i": i, "key": key, "sequence": e.sequence, "hash": e.hash, "versionId": e.version_id})
        elif args["op"] == "get":
            for key in args["keys"]:
                try:
                    e = c.get(key)
                except Exception as err:  # noqa: BLE001
                    say({"error": f"{type(err).__name__}: {err}", "key": key})
                    continue
                say({"key": key, "sequence": e.sequence, "hash": e.hash, "versionId": e.version_id, "valueJson": json.dumps(e.value)})
        else:
            raise SystemExit(f"unknown op {args['op']!r}")
    finally:
        c.close()


if __name__ == "__main__":
    main()
