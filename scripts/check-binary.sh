#!/usr/bin/env bash
# Check built Linux napi modules before they are packed:
#   scripts/check-binary.sh FILE.node...
# For each file: size, ELF machine, whether it is stripped, and its NEEDED
# libraries. Then, by the libc the file links against (its NEEDED list; a name
# ending in -gnu.node / -musl.node must agree with it):
#   glibc: the highest GLIBC_x.y symbol version it requires; fails above
#          $MAX_GLIBC (default 2.17, the napi-rs floor), and lists the symbols
#          that need the highest version.
#   musl:  fails if a glibc-only library (libc.so.6, libm.so.6, libpthread.so.0,
#          libdl.so.2, librt.so.1, ld-linux*, libgcc_s.so.1) or any GLIBC_
#          symbol version is referenced.
# Both: fails on a NEEDED library outside the expected set (override with
# EXTRA_NEEDED="libfoo.so.1 libbar.so.2").
# Exit status: 0 if every file passed, 1 otherwise.
set -uo pipefail

max_glibc=${MAX_GLIBC:-2.17}
# What a Rust cdylib may need from the system and still load on any glibc
# distribution (all part of glibc itself, or libgcc_s which every glibc distro
# with a C++ runtime has and Node itself needs).
glibc_ok="libc.so.6 libm.so.6 libpthread.so.0 libdl.so.2 librt.so.1 libgcc_s.so.1 ld-linux-x86-64.so.2 ld-linux-aarch64.so.1"
# musl's libc.so is the whole C library (libm, libpthread, libdl are in it).
musl_ok="libc.so libc.musl-x86_64.so.1 libc.musl-aarch64.so.1 ld-musl-x86_64.so.1 ld-musl-aarch64.so.1"
glibc_only="libc.so.6 libm.so.6 libpthread.so.0 libdl.so.2 librt.so.1 libutil.so.1 libgcc_s.so.1 ld-linux-x86-64.so.2 ld-linux-aarch64.so.1"
extra=${EXTRA_NEEDED:-}

[ $# -gt 0 ] || { echo "usage: $0 FILE.node..." >&2; exit 2; }
command -v readelf >/dev/null || { echo "readelf not found (apt-get install binutils)" >&2; exit 2; }

# in_list WORD "space separated list"
in_list() { case " $2 " in *" $1 "*) return 0 ;; esac; return 1; }

status=0
for f in "$@"; do
  echo "== $f"
  if [ ! -f "$f" ]; then echo "FAIL: no such file"; status=1; continue; fi
  fail=0
  size=$(stat -c %s "$f")
  machine=$(readelf -h "$f" 2>/dev/null | sed -n 's/^ *Machine: *//p')
  if [ -z "$machine" ]; then echo "FAIL: not an ELF file"; status=1; continue; fi
  if readelf -S "$f" | grep -q '\.symtab'; then stripped="not stripped"; else stripped="stripped"; fi
  needed=$(readelf -d "$f" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
  versions=$(readelf --version-info "$f" | grep -o 'GLIBC_[0-9][0-9.]*' | sort -u -V)
  echo "size:    $size bytes ($(numfmt --to=iec-i --suffix=B "$size"))"
  echo "machine: $machine, $stripped"
  echo "needed:  $(tr '\n' ' ' <<<"$needed")"

  libc=unknown
  if grep -qE '^(libc\.so\.6|ld-linux)' <<<"$needed" || [ -n "$versions" ]; then libc=glibc
  elif grep -qE '^(libc\.so|libc\.musl-|ld-musl-)' <<<"$needed"; then libc=musl
  elif [ -z "$needed" ]; then libc=musl   # fully static: nothing from the system
  fi
  case "$(basename "$f")" in
    *-gnu.node) expect=glibc ;;
    *-musl.node) expect=musl ;;
    *) expect=$libc ;;
  esac
  echo "libc:    $libc (expected $expect)"
  [ "$libc" = "$expect" ] || { echo "FAIL: file name says $expect, the binary links $libc"; fail=1; }

  if [ "$expect" = glibc ]; then
    top=$(tail -n1 <<<"$versions")
    echo "highest: ${top:-none} (limit GLIBC_$max_glibc)"
    if [ -n "$top" ] && [ "$(printf '%s\n' "${top#GLIBC_}" "$max_glibc" | sort -V | tail -n1)" != "$max_glibc" ]; then
      echo "FAIL: needs $top, above GLIBC_$max_glibc; symbols needing it:"
      readelf --dyn-syms -W "$f" | grep -o "[^ ]*@$top" | sed 's/@.*//; s/^/  /' | sort -u
      fail=1
    fi
    ok="$glibc_ok $extra"
  else
    if [ -n "$versions" ]; then echo "FAIL: a musl module references glibc symbol versions: $(tr '\n' ' ' <<<"$versions")"; fail=1; fi
    for lib in $needed; do
      in_list "$lib" "$glibc_only" && { echo "FAIL: a musl module needs the glibc-only library $lib"; fail=1; }
    done
    ok="$musl_ok $extra"
  fi
  for lib in $needed; do
    in_list "$lib" "$ok" || in_list "$lib" "$glibc_only" || { echo "FAIL: unexpected dependency $lib"; fail=1; }
  done
  if [ $fail -eq 0 ]; then echo "OK"; else status=1; fi
done
exit $status
