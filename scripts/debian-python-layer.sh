#!/usr/bin/env bash
# Builds a layer directory for the python3.11 runtime from installed Debian packages of Python
# libraries, laid out as Lambda's layers are (`thaw layer publish NAME --content OUT_DIR`):
#   python/  each package's files under /usr/lib/python3/dist-packages, and those of the Python
#            packages it depends on (the first installed alternative of each dependency);
#   lib/     the shared libraries their extension modules load (ldd), but glibc's own, which
#            every image has: a layer brings what its code needs, as on Lambda.
# usage: debian-python-layer.sh OUT_DIR PACKAGE...   (e.g. python3-psycopg2)
set -euo pipefail
[ $# -ge 2 ] || { echo "usage: $0 OUT_DIR PACKAGE..." >&2; exit 2; }
out=$1; shift
site=/usr/lib/python3/dist-packages

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

# The python3-* packages a package depends on, one per line (python3 itself excluded).
python_dependencies() {
  local group alt name
  dpkg-query -W -f='${Depends}' "$1" | tr ',' '\n' | while read -r group; do
    [ -n "$group" ] || continue
    while read -r alt; do
      name=${alt%% *}; name=${name%%:*}
      if installed "$name"; then
        case $name in python3-*) echo "$name";; esac
        break
      fi
    done < <(tr '|' '\n' <<<"$group")
  done
}

declare -A seen=()
queue=("$@")
while [ ${#queue[@]} -gt 0 ]; do
  pkg=${queue[0]}; queue=("${queue[@]:1}")
  [ -z "${seen[$pkg]:-}" ] || continue
  installed "$pkg" || { echo "$0: $pkg is not installed (apt-get install $pkg)" >&2; exit 1; }
  seen[$pkg]=1
  while read -r dep; do queue+=("$dep"); done < <(python_dependencies "$pkg")
done

rm -rf "$out"
mkdir -p "$out/python" "$out/lib"
for pkg in "${!seen[@]}"; do
  dpkg -L "$pkg" | while read -r path; do
    case $path in "$site"/*) ;; *) continue;; esac
    [ -f "$path" ] && [ ! -L "$path" ] || continue
    rel=${path#"$site"/}
    mkdir -p "$out/python/$(dirname "$rel")"
    cp "$path" "$out/python/$rel"
  done
done

find "$out/python" -name '*.so' -print0 | xargs -0 -r ldd | sed -nE 's/^\s*\S+ => (\/\S+) .*/\1/p' | sort -u |
  while read -r lib; do
    case $(basename "$lib") in libc.so.*|libm.so.*|ld-linux*|libpthread.so.*|libdl.so.*|librt.so.*) continue;; esac
    cp -L "$lib" "$out/lib/"
  done
echo "layer $out: ${!seen[*]}; $(find "$out/python" -type f | wc -l) Python files, $(ls "$out/lib" | wc -l) shared libraries, $(du -sh "$out" | cut -f1)"
