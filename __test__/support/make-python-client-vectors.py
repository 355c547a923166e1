"""Writes core/tests/data/python-client-v1.json: stored objects as the earlier
Python client (PyPI immukv 0.1.30) makes them, with its own functions
(dumps_canonical, hash_compute), for core/tests/vectors.rs.

    .s3/pyimmukv/bin/python __test__/support/make-python-client-vectors.py

- "non_finite": entries it writes with float('nan'), inf and -inf in the
  value (its json module writes NaN, Infinity and -Infinity): the log object,
  and the key object it writes when it repairs the entry.
- "repairs_of_js": for every JS-dialect log object of canonical-v1.json, the
  key object it writes when it repairs that entry (it parses the log object
  with json.loads and writes it again in its own form: 1e-05 for 0.00001).
"""
import json
import os

from immukv._internal.json_helpers import dumps_canonical
from immukv._internal.types import hash_compute

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DATA = os.path.join(ROOT, "core", "tests", "data")
LOG_VERSION = "3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY+MTRCxf3vjVBH40Nrjfkd4wgPjsZ3Lrn"


def repair(log_object, log_version_id=LOG_VERSION):
    """The key object _repair_orphan writes for a log object (client.py)."""
    d = json.loads(log_object)
    return dumps_canonical({
        "sequence": d["sequence"],
        "key": d["key"],
        "value": d.get("value"),
        "timestamp_ms": d["timestamp_ms"],
        "log_version_id": log_version_id,
        "hash": d["hash"],
        "previous_hash": d["previous_hash"],
    }).decode()


def python_entry(name, key, value, sequence):
    """A log object as set() writes it, and the repair of it."""
    fields = {
        "sequence": sequence,
        "key": key,
        "value": value,
        "timestamp_ms": 1700000000000 + sequence,
        "previous_hash": "sha256:" + "ab" * 32,
    }
    log = dict(fields, hash=hash_compute(fields), previous_version_id="v%d" % (sequence - 1))
    log_object = dumps_canonical(log).decode()
    return {"name": name, "log_version_id": LOG_VERSION, "log_object": log_object, "key_object": repair(log_object)}


def main():
    nan, inf = float("nan"), float("inf")
    non_finite = [
        python_entry("nan", "n", nan, 1),
        python_entry("infinity", "i", inf, 2),
        python_entry("minus-infinity", "m", -inf, 3),
        python_entry("nested", "cal/\u00e9", {"z": [1.0, nan, {"deep": [-inf]}], "a": inf, "s": "NaN Infinity"}, 4),
        python_entry("mixed-floats", "f", [nan, 1e-05, 1e16, 0.1, -0.0, 2**64], 5),
    ]
    canonical = json.load(open(os.path.join(DATA, "canonical-v1.json")))
    repairs = [
        {"name": v["name"], "key_object": repair(v["js"]["log_object"], v["entry"]["log_version_id"])}
        for v in canonical["vectors"]
    ]
    doc = {
        "format": "immukv-python-client-1",
        "made_by": "immukv 0.1.30 (PyPI), __test__/support/make-python-client-vectors.py",
        "non_finite": non_finite,
        "repairs_of_js": repairs,
    }
    with open(os.path.join(DATA, "python-client-v1.json"), "w") as f:
        json.dump(doc, f, indent=1, ensure_ascii=True)
        f.write("\n")


if __name__ == "__main__":
    main()
