"""Start, wait for, stop and provision the project's local S3 servers.

Both servers run on 127.0.0.1 from a virtual environment in .s3/ (git-ignored):
SeaweedFS (a real object store with atomic conditional writes and real 403s for
its read-only identity) and moto (AWS's status codes). `start` is idempotent and
returns only when a real signed PutObject succeeds, because SeaweedFS answers on
its port seconds before writes work.
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STATE = os.path.join(ROOT, ".s3")

ADMIN = ("adminkey", "adminsecret")
READER = ("readerkey", "readersecret")
WEED_PORTS = dict(master=19020, master_grpc=19021, volume=19022, volume_grpc=19023,
                  filer=19024, filer_grpc=19025, s3=19026, s3_grpc=19027)
MOTO_PORT = 19030

SERVERS = {
    "weed": {"endpoint": f"http://127.0.0.1:{WEED_PORTS['s3']}", "port": WEED_PORTS["s3"]},
    "moto": {"endpoint": f"http://127.0.0.1:{MOTO_PORT}", "port": MOTO_PORT},
}


def bin_path(name):
    return os.path.join(STATE, "venv", "bin", name)


def pidfile(name):
    return os.path.join(STATE, f"{name}.pid")


def alive(name):
    try:
        pid = int(open(pidfile(name)).read())
        os.kill(pid, 0)
        return pid
    except (OSError, ValueError):
        return None


def s3client(server, creds=ADMIN):
    import boto3
    from botocore.config import Config
    return boto3.client(
        "s3", endpoint_url=SERVERS[server]["endpoint"], region_name="us-east-1",
        aws_access_key_id=creds[0], aws_secret_access_key=creds[1],
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1},
                      connect_timeout=2, read_timeout=10))


def spawn(name, argv, env=None):
    log = open(os.path.join(STATE, f"{name}.log"), "ab")
    proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            env={**os.environ, **(env or {})}, start_new_session=True, cwd=STATE)
    with open(pidfile(name), "w") as f:
        f.write(str(proc.pid))


def start_weed(fresh):
    data = os.path.join(STATE, "weed-data")
    # Start empty when it was not running: every test and demo makes its own
    # bucket, and each bucket holds a volume; with -volume.max=0 the count is
    # capped by free disk space / volume size, so buckets left by earlier runs
    # would use it up. (A server that was running but did not answer is
    # restarted with its data: another run may be using it.)
    if fresh:
        shutil.rmtree(data, ignore_errors=True)
    os.makedirs(data, exist_ok=True)
    config = os.path.join(STATE, "weed-s3.json")
    with open(config, "w") as f:
        json.dump({"identities": [
            {"name": "admin", "credentials": [{"accessKey": ADMIN[0], "secretKey": ADMIN[1]}],
             "actions": ["Admin", "Read", "List", "Tagging", "Write"]},
            {"name": "reader", "credentials": [{"accessKey": READER[0], "secretKey": READER[1]}],
             "actions": ["Read", "List"]},
        ]}, f)
    p = WEED_PORTS
    spawn("weed", [
        bin_path("weed"), "server", f"-dir={data}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
        "-master.telemetry=false", "-master.volumeSizeLimitMB=100", "-volume.max=0",
        "-volume.preStopSeconds=0",
        f"-master.port={p['master']}", f"-master.port.grpc={p['master_grpc']}",
        f"-volume.port={p['volume']}", f"-volume.port.grpc={p['volume_grpc']}",
        "-filer", f"-filer.port={p['filer']}", f"-filer.port.grpc={p['filer_grpc']}",
        f"-filer.localSocket={data}/filer.sock",
        "-s3", f"-s3.port={p['s3']}", f"-s3.port.grpc={p['s3_grpc']}", "-s3.port.iceberg=0",
        "-s3.port.lance=0", f"-s3.localSocket={data}/s3.sock", f"-s3.config={config}",
    ], env={"WEED_MASTER_VOLUME_GROWTH_COPY_1": "1"})


def start_moto():
    spawn("moto", [bin_path("moto_server"), "-H", "127.0.0.1", "-p", str(MOTO_PORT)])


def writable(server):
    """True when a real signed CreateBucket + PutObject succeeds."""
    try:
        c = s3client(server)
        try:
            c.create_bucket(Bucket="immukv-ready")
        except c.exceptions.BucketAlreadyOwnedByYou:
            pass
        except c.exceptions.BucketAlreadyExists:
            pass
        c.put_object(Bucket="immukv-ready", Key="ready", Body=b"ok")
        return True
    except Exception:
        return False


def wait_writable(server, timeout):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if writable(server):
            return True
        if not alive(server):
            return False
        time.sleep(0.5)
    return False


def start(names):
    os.makedirs(STATE, exist_ok=True)
    for name in names:
        if alive(name) and writable(name):
            print(f"{name}: already running at {SERVERS[name]['endpoint']}")
            continue
        was_running = bool(alive(name))
        stop([name], quiet=True)
        if name == "weed":
            start_weed(fresh=not was_running)
        else:
            start_moto()
    for name in names:
        if not wait_writable(name, 90):
            log = os.path.join(STATE, f"{name}.log")
            tail = open(log, errors="replace").read()[-3000:] if os.path.exists(log) else ""
            sys.exit(f"{name} did not accept a signed PutObject within 90 s (a server out of volumes"
                     f" starts empty after `bash scripts/s3.sh stop`); log tail:\n{tail}")
        print(f"{name}: ready at {SERVERS[name]['endpoint']}")


def stop(names, quiet=False):
    for name in names:
        pid = alive(name)
        if pid:
            try:
                os.killpg(pid, signal.SIGTERM)
            except OSError:
                pass
            for _ in range(200):  # SeaweedFS takes ~15 s to exit on SIGTERM
                if not alive(name):
                    break
                time.sleep(0.1)
            if alive(name):
                os.killpg(pid, signal.SIGKILL)
                for _ in range(50):
                    if not alive(name):
                        break
                    time.sleep(0.1)
            if not quiet:
                print(f"{name}: stopped")
        try:
            os.remove(pidfile(name))
        except OSError:
            pass


def bucket(server, name, versioning=True):
    c = s3client(server)
    try:
        c.create_bucket(Bucket=name)
    except (c.exceptions.BucketAlreadyOwnedByYou, c.exceptions.BucketAlreadyExists):
        pass
    if versioning:
        c.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    print(name)


def main(argv):
    cmd = argv[0] if argv else "start"
    rest = argv[1:]
    names = [n for n in rest if n in SERVERS] or list(SERVERS)
    if cmd == "start":
        start(names)
    elif cmd == "stop":
        stop(names)
    elif cmd == "status":
        for n in names:
            print(f"{n}: {'running' if alive(n) else 'stopped'} {SERVERS[n]['endpoint']}")
    elif cmd == "bucket":
        server, name = rest[0], rest[1]
        bucket(server, name, versioning="--no-versioning" not in rest)
    else:
        sys.exit(f"usage: s3.sh start|stop|status [weed|moto] | bucket weed|moto NAME [--no-versioning]")


if __name__ == "__main__":
    main(sys.argv[1:])
