"""Start, wait for, stop and provision the project's local S3 servers.

All run on 127.0.0.1 from virtual environments in .s3/ (git-ignored):
SeaweedFS (a real object store with atomic conditional writes and real 403s for
its read-only identity), moto (AWS's status codes) and LocalStack's own S3
provider (conditional writes answered as AWS answers them: a losing PUT gets
its 412 at once, If-Match on a missing key is 404 NoSuchKey). `start` is
idempotent and returns only when a real signed PutObject succeeds, because
SeaweedFS answers on its port seconds before writes work. A server that already
answers on its port but was not started from this checkout (another clone's,
say) is used as it is, and `stop` leaves it alone.

LocalStack needs Python 3.12 or later, which the project's main venv (the
machine's python3, 3.11 here) is not: it gets its own venv, .s3/localstack-venv,
made on first start with the first Python 3.12+ found (IMMUKV_LOCALSTACK_PYTHON,
python3.13 / python3.12 on PATH, pyenv's versions, python3).
"""
import glob
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
LOCALSTACK_PORT = 19040

SERVERS = {
    "weed": {"endpoint": f"http://127.0.0.1:{WEED_PORTS['s3']}", "port": WEED_PORTS["s3"]},
    "moto": {"endpoint": f"http://127.0.0.1:{MOTO_PORT}", "port": MOTO_PORT},
    "localstack": {"endpoint": f"http://127.0.0.1:{LOCALSTACK_PORT}", "port": LOCALSTACK_PORT},
}

# Newer releases of these break LocalStack's start-up (measured): keep the set.
LOCALSTACK_PINS = ["localstack-core[base-runtime]==2026.3.0", "cbor2==5.6.5", "cryptography==43.0.3",
                   "pyopenssl==24.2.1", "service_identity==24.2.0"]
LOCALSTACK_VENV = os.path.join(STATE, "localstack-venv")


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


def python_version(python):
    """(major, minor) of `python` if it runs and can make a venv with pip, else None."""
    try:
        out = subprocess.run([python, "-c", "import sys, venv, ensurepip; print(*sys.version_info[:2])"],
                             capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if out.returncode != 0:  # e.g. a pyenv shim of a version that is not selected
        return None
    return tuple(int(x) for x in out.stdout.split())


def localstack_python():
    """The first Python 3.12+ found, 3.13 and 3.12 first (what LocalStack 2026.3 is known to run on)."""
    pyenv = os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv")
    def pyenv_versions(pattern):
        return sorted(glob.glob(os.path.join(pyenv, "versions", pattern, "bin", "python3")), reverse=True)
    candidates = [os.environ.get("IMMUKV_LOCALSTACK_PYTHON"), shutil.which("python3.13"),
                  *pyenv_versions("3.13.*"), shutil.which("python3.12"), *pyenv_versions("3.12.*"),
                  *pyenv_versions("3.1[4-9].*"), shutil.which("python3")]
    tried = []
    for python in dict.fromkeys(c for c in candidates if c):
        version = python_version(python)
        tried.append(f"{python} ({'.'.join(map(str, version)) if version else 'does not run'})")
        if version and version >= (3, 12):
            return python
    if os.environ.get("IMMUKV_LOCALSTACK_PYTHON"):
        tried.insert(0, "IMMUKV_LOCALSTACK_PYTHON is set but is not a Python 3.12+ with venv and ensurepip")
    sys.exit("LocalStack needs Python 3.12 or later (it does not import on 3.11), and none was found.\n"
             "Tried: " + ("; ".join(tried) or "nothing on PATH") + ".\n"
             "Install one (e.g. `pyenv install 3.13`, or your distribution's python3.12/python3.13 with its venv"
             " module) or point IMMUKV_LOCALSTACK_PYTHON at one.")


def install_localstack():
    """LocalStack's own venv (.s3/localstack-venv), made or remade when the pins change."""
    marker = os.path.join(LOCALSTACK_VENV, "immukv-pins.txt")
    wanted = "\n".join(LOCALSTACK_PINS) + "\n"
    python = os.path.join(LOCALSTACK_VENV, "bin", "python")
    if os.path.exists(marker) and open(marker).read() == wanted and python_version(python):
        return python
    base = localstack_python()
    print(f"localstack: installing {' '.join(LOCALSTACK_PINS)} into {LOCALSTACK_VENV} with {base}", flush=True)
    shutil.rmtree(LOCALSTACK_VENV, ignore_errors=True)
    subprocess.run([base, "-m", "venv", LOCALSTACK_VENV], check=True)
    subprocess.run([python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *LOCALSTACK_PINS],
                   check=True, stdout=sys.stderr)
    with open(marker, "w") as f:
        f.write(wanted)
    return python


def start_localstack():
    python = install_localstack()
    data = os.path.join(STATE, "localstack")
    shutil.rmtree(data, ignore_errors=True)  # in memory anyway (PERSISTENCE=0): start empty
    os.makedirs(data, exist_ok=True)
    address = f"127.0.0.1:{LOCALSTACK_PORT}"
    spawn("localstack", [python, "-m", "localstack.runtime.main"], env={
        # Host mode, no Docker: only S3 (and KMS, for SSE-KMS writes), on
        # loopback, nothing fetched from the network or sent to it.
        "GATEWAY_LISTEN": address, "LOCALSTACK_HOST": address, "SERVICES": "s3,kms",
        "DNS_ADDRESS": "0", "SKIP_SSL_CERT_DOWNLOAD": "1", "DISABLE_EVENTS": "1",
        "PERSISTENCE": "0", "FILESYSTEM_ROOT": data,
    })


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
        if not was_running and writable(name):
            # Started from another checkout (each has its own .s3/): use it,
            # and leave it to whoever started it.
            print(f"{name}: already answering at {SERVERS[name]['endpoint']} (not started here)")
            continue
        stop([name], quiet=True)
        if name == "weed":
            start_weed(fresh=not was_running)
        elif name == "moto":
            start_moto()
        else:
            start_localstack()
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
    elif cmd == "restart":
        # Empty again (SeaweedFS's data is wiped when it starts after a stop;
        # moto and LocalStack keep nothing). Servers not started from this
        # checkout are left as they are: another run may be using them.
        mine = [n for n in names if alive(n)]
        for n in names:
            if n not in mine:
                print(f"{n}: not started here, left as it is")
        stop(mine)
        start(mine)
    elif cmd == "status":
        for n in names:
            print(f"{n}: {'running' if alive(n) else 'stopped'} {SERVERS[n]['endpoint']}")
    elif cmd == "bucket":
        server, name = rest[0], rest[1]
        bucket(server, name, versioning="--no-versioning" not in rest)
    else:
        sys.exit("usage: s3.sh start|stop|restart|status [weed|moto|localstack] | bucket weed|moto|localstack NAME [--no-versioning]")


if __name__ == "__main__":
    main(sys.argv[1:])
