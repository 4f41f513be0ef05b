#!/bin/sh
# Builds the compose file's two local images FROM scratch, with no registry:
#   $CROWSNEST_IMAGE (default crowsnest:local) from a crowsnest binary (Dockerfile.crowsnest),
#   $INFLUXDB_IMAGE (default crowsnest-influxd:local) from Debian's influxd (Dockerfile.influxd).
# Each image gets the binary and, when it is dynamically linked, exactly the shared libraries
# and loader `ldd` lists, at the paths `ldd` gives.
#
# usage: deploy/compose/build-images.sh [CROWSNEST_BINARY [INFLUXD_BINARY]]
#   CROWSNEST_BINARY  default target/release/crowsnest
#   INFLUXD_BINARY    default $(command -v influxd)   (apt-get install influxdb)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
crowsnest=${1:-$here/../../target/release/crowsnest}
influxd=${2:-$(command -v influxd || true)}
CROWSNEST_IMAGE=${CROWSNEST_IMAGE:-crowsnest:local}
INFLUXDB_IMAGE=${INFLUXDB_IMAGE:-crowsnest-influxd:local}

for b in "$crowsnest" "$influxd"; do
  if [ -z "$b" ] || [ ! -x "$b" ]; then
    echo "build-images.sh: no executable at '${b:-influxd}' (build crowsnest with cargo build --release; install influxd with apt-get install influxdb)" >&2
    exit 1
  fi
done

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# context DIR BINARY NAME: DIR/rootfs/NAME, the libraries, an empty DIR/state; prints the
# libraries' directories, colon-separated.
context() {
  mkdir -p "$1/rootfs/tmp" "$1/rootfs/etc" "$1/state"
  if command -v strip >/dev/null 2>&1 && strip --strip-debug -o "$1/rootfs/$3" "$2" 2>/dev/null; then
    :
  else
    cp "$2" "$1/rootfs/$3"
  fi
  printf 'root:x:0:0:root:/:/%s\nnobody:x:65534:65534:nobody:/:/%s\n' "$3" "$3" >"$1/rootfs/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' >"$1/rootfs/etc/group"
  # The system's CA certificates: for https sinks and API servers (and the HTTP client's
  # setup, which loads them even for http:// URLs).
  if [ -r /etc/ssl/certs/ca-certificates.crt ]; then
    mkdir -p "$1/rootfs/etc/ssl/certs"
    cp -L /etc/ssl/certs/ca-certificates.crt "$1/rootfs/etc/ssl/certs/"
  fi
  dirs=""
  # `libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)` and `/lib64/ld-linux-x86-64.so.2 (0x...)`;
  # a static binary has none ("not a dynamic executable").
  for lib in $(ldd "$2" 2>/dev/null | grep -o '/[^ ]*' || true); do
    mkdir -p "$1/rootfs$(dirname "$lib")"
    cp -L "$lib" "$1/rootfs$lib"
    case ":$dirs:" in *":$(dirname "$lib"):"*) ;; *) dirs="${dirs:+$dirs:}$(dirname "$lib")" ;; esac
  done
  echo "$dirs"
}

build() { # DIR DOCKERFILE TAG LIBRARY_PATH
  # The classic builder: FROM scratch needs no registry and no BuildKit frontend.
  DOCKER_BUILDKIT=0 docker build -q -f "$here/$2" --build-arg "LIBRARY_PATH=$4" -t "$3" "$1"
}

libs=$(context "$work/crowsnest" "$crowsnest" crowsnest)
build "$work/crowsnest" Dockerfile.crowsnest "$CROWSNEST_IMAGE" "$libs"
libs=$(context "$work/influxd" "$influxd" influxd)
build "$work/influxd" Dockerfile.influxd "$INFLUXDB_IMAGE" "$libs"
echo "built $CROWSNEST_IMAGE and $INFLUXDB_IMAGE"
