#!/usr/bin/env bash
# The container test: build the image, run the pipeline in it, check what comes out, and check
# that bad input makes the container exit non-zero with the pipeline's message.
#
# Engine: docker where a Docker engine answers (`docker info`), podman otherwise. As root on
# Debian, podman (and debootstrap, runc) are installed with apt-get when missing. With neither
# engine the test prints SKIPPED and exits 0: it is never passed silently.
#
# Usage: tests/container/run.sh [--image NAME] [--expected COMPARISON_JSON] [--from-scratch]
#   --image NAME        test an image built already (e.g. by CI) instead of building one
#   --expected FILE     also require the run's metrics to equal those in FILE
#   --from-scratch      (podman) first delete the cache: stand-in base image and layers
# Environment:
#   SCIKIT_LEARN_DATA             folder holding cal_housing_py3.pkz, mounted read-only (required)
#   CALHOUSING_CONTAINER_CACHE    podman's images and layer cache, kept between runs so a second
#                                 run reuses the base image and unchanged layers; delete it to
#                                 start from nothing (default /var/tmp/calhousing-container)
#   CALHOUSING_CONTAINER_ENGINE   docker or podman, instead of detecting
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
base_image="docker.io/library/python:3.11-slim"
stand_in_label="org.calhousing.stand-in"
cache="${CALHOUSING_CONTAINER_CACHE:-/var/tmp/calhousing-container}"
image=""
expected=""
from_scratch=false
while [[ $# -gt 0 ]]; do
    case $1 in
        --image) image=$2; shift 2 ;;
        --expected) expected=$(realpath "$2"); shift 2 ;;
        --from-scratch) from_scratch=true; shift ;;
        *) echo "usage: $0 [--image NAME] [--expected COMPARISON_JSON] [--from-scratch]" >&2; exit 2 ;;
    esac
done

say() { printf '[container-test] %s\n' "$*"; }
fail() { printf '[container-test] FAILED: %s\n' "$*" >&2; exit 1; }
elapsed() { printf '%ss' "$((SECONDS - $1))"; }

work="$(mktemp -d "${TMPDIR:-/tmp}/calhousing-container-test.XXXXXX")"
cleanup() { rm -rf "$work" 2>/dev/null || say "could not remove $work (files owned by the container's user)"; }
trap cleanup EXIT

# --- the engine --------------------------------------------------------------------------
engine="${CALHOUSING_CONTAINER_ENGINE:-}"
if [[ -z $engine ]]; then
    if command -v docker >/dev/null && docker info >/dev/null 2>&1; then
        engine=docker
    elif command -v podman >/dev/null; then
        engine=podman
    elif [[ $EUID -eq 0 ]] && command -v apt-get >/dev/null; then
        say "no Docker engine answers and podman is missing: installing podman with apt-get"
        engine=podman
    else
        say "SKIPPED: no Docker engine answers (docker info failed or docker is missing) and podman is not installed; install one of them to run the container test"
        exit 0
    fi
fi

# --- the data ----------------------------------------------------------------------------
data="${SCIKIT_LEARN_DATA:-}"
if [[ -z $data || ! -f $data/cal_housing_py3.pkz ]]; then
    fail "SCIKIT_LEARN_DATA must name a folder holding cal_housing_py3.pkz (got '${data}'); \
the test mounts it into the container instead of downloading"
fi
data="$(realpath "$data")"

apt_install() {
    local missing=()
    for command_and_package in "$@"; do
        command -v "${command_and_package%%:*}" >/dev/null || missing+=("${command_and_package#*:}")
    done
    if [[ ${#missing[@]} -gt 0 ]]; then
        say "installing ${missing[*]} with apt-get"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    fi
}

# Rootful podman here needs a few settings (the defaults fail with "setrlimit ... Operation not
# permitted" or "cgroups in hybrid mode not supported"). They go in files of our own, named by
# CONTAINERS_CONF and CONTAINERS_STORAGE_CONF, so the machine's podman setup is left alone.
configure_podman() {
    local nofile nproc run="/run/calhousing-podman"
    nofile=$(ulimit -Hn)
    [[ $nofile == unlimited || $nofile -gt 1048576 ]] && nofile=1048576
    nproc=$(ulimit -Hu)
    [[ $nproc == unlimited || $nproc -gt 32768 ]] && nproc=32768
    mkdir -p "$cache/storage" "$run"
    cat >"$work/containers.conf" <<EOF
[containers]
netns = "host"
default_ulimits = ["nofile=$nofile:$nofile", "nproc=$nproc:$nproc"]

[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
runtime = "runc"
tmp_dir = "$run/libpod"
EOF
    cat >"$work/storage.conf" <<EOF
[storage]
driver = "overlay"
graphroot = "$cache/storage"
runroot = "$run/storage"
EOF
    export CONTAINERS_CONF="$work/containers.conf" CONTAINERS_STORAGE_CONF="$work/storage.conf"
}

# The official base image when it can be pulled; else a local stand-in, labelled so that every
# run says it used one. The official image is Debian bookworm with CPython 3.11 compiled into
# /usr/local and pip; the stand-in is Debian bookworm (debootstrap minbase, from the mirror apt
# uses) with this machine's own CPython 3.11 copied into /usr/local and pip from its ensurepip.
# Debian's python3 (3.11.2) is the fallback when this machine's python3 is not 3.11, but it
# cannot install every pinned version: some need Python >= 3.11.5.
ensure_podman_base_image() {
    if ! podman image exists "$base_image"; then
        say "pulling $base_image"
        if ! timeout 120 podman pull -q "$base_image" >/dev/null 2>"$work/pull.log"; then
            say "cannot pull $base_image ($(tail -n 1 "$work/pull.log")): making a local stand-in"
            make_stand_in_base_image
        fi
    fi
    local stand_in
    stand_in=$(podman image inspect --format "{{ index .Labels \"$stand_in_label\" }}" "$base_image")
    if [[ -n $stand_in && $stand_in != "<no value>" ]]; then
        say "NOTE: base image $base_image is a LOCAL STAND-IN, not the official image: $stand_in"
    else
        say "base image: the official $base_image"
    fi
}

make_stand_in_base_image() {
    local start=$SECONDS rootfs="$cache/rootfs.partial" mirror host_python packages version
    apt_install debootstrap:debootstrap
    # Debian's mirror that apt uses here, from lines like "500 http://deb.debian.org/debian bookworm/main ..."
    mirror=$(apt-cache policy | awk '$3 == "bookworm/main" && $2 ~ /^https?:/ {print $2; exit}')
    mirror=${mirror:-http://deb.debian.org/debian}
    host_python=$(python3 -c 'import sys; print(sys.base_prefix if sys.version_info[:2] == (3, 11) else "")' 2>/dev/null || true)
    packages=ca-certificates,netbase,tzdata
    if [[ -n $host_python ]]; then # the shared libraries CPython's modules link to (not Tk)
        packages+=,libssl3,libffi8,libsqlite3-0,libreadline8,libncursesw6,libbz2-1.0,liblzma5,zlib1g,libexpat1,libuuid1,libnsl2
    else
        packages+=,python3,python3-venv,python3-pip,python-is-python3
    fi
    rm -rf "$rootfs"
    say "debootstrap bookworm minbase from $mirror"
    debootstrap --variant=minbase --include="$packages" bookworm "$rootfs" "$mirror" \
        >"$work/debootstrap.log" 2>&1 || { tail -n 20 "$work/debootstrap.log" >&2; fail "debootstrap failed"; }
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
    if [[ -n $host_python ]]; then
        say "copying this machine's CPython from $host_python into /usr/local (without its site-packages)"
        mkdir -p "$rootfs/usr/local/bin" "$rootfs/usr/local/lib" "$rootfs/usr/local/include"
        cp -a "$host_python/bin/python3.11" "$rootfs/usr/local/bin/"
        ln -s python3.11 "$rootfs/usr/local/bin/python3"
        ln -s python3 "$rootfs/usr/local/bin/python"
        cp -a "$host_python"/lib/libpython3* "$rootfs/usr/local/lib/"
        cp -a "$host_python/include/python3.11" "$rootfs/usr/local/include/"
        tar -C "$host_python/lib" --exclude=python3.11/site-packages/* --exclude=python3.11/test \
            -c python3.11 | tar -C "$rootfs/usr/local/lib" -x
        chroot "$rootfs" ldconfig
        chroot "$rootfs" python3 -m ensurepip --default-pip >"$work/ensurepip.log" 2>&1 ||
            { cat "$work/ensurepip.log" >&2; fail "ensurepip failed in the stand-in"; }
        chroot "$rootfs" python3 -c 'import bz2, ctypes, lzma, readline, sqlite3, ssl, uuid, zlib' ||
            fail "the copied CPython lacks a shared library in the stand-in"
    else
        rm -f "$rootfs"/usr/lib/python3*/EXTERNALLY-MANAGED # pip installs system-wide, as in the official image
    fi
    version=$(chroot "$rootfs" python3 -c 'import platform; print(platform.python_version())')
    # PIP_CERT: pip 23 bundles its own CAs; like Debian's pip, use the system store (the build
    # mounts the host's there). Newer pips use the system store anyway.
    tar -C "$rootfs" -c . | podman import \
        --change "ENV LANG=C.UTF-8" \
        --change "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
        --change "ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt" \
        --change 'CMD ["python3"]' \
        --change "LABEL $stand_in_label=\"Debian bookworm (debootstrap minbase) with Python $version, made $(date -u +%Y-%m-%d) because the official image could not be pulled\"" \
        - "$base_image" >/dev/null
    rm -rf "$rootfs"
    say "stand-in base image (Python $version) made in $(elapsed "$start"), kept in $cache for later runs"
}

if [[ $engine == podman ]]; then
    if [[ $EUID -eq 0 ]]; then
        apt_install podman:podman runc:runc
        configure_podman
        if $from_scratch; then
            say "--from-scratch: deleting podman's storage in $cache"
            podman system reset --force >/dev/null
            rm -rf "$cache"
            mkdir -p "$cache/storage"
        fi
        ensure_podman_base_image
    fi
    # podman's build has no network of its own here, and pip inside it needs the host's CAs
    build_options=(--network host -v /etc/ssl/certs:/etc/ssl/certs:ro)
else
    build_options=()
fi
say "engine: $engine ($("$engine" --version))"

# --- build -------------------------------------------------------------------------------
if [[ -z $image ]]; then
    image="localhost/calhousing:test"
    start=$SECONDS
    say "building $image from $repo"
    "$engine" build "${build_options[@]}" -t "$image" -f "$repo/Dockerfile" "$repo"
    say "image built in $(elapsed "$start")"
fi
user=$("$engine" run --rm --entrypoint id "$image" -u)
[[ $user != 0 ]] || fail "the image runs as root; it must run as a non-root user"
say "the image runs as uid $user"

# Each run gets fresh output folders as the two volumes, writable by the image's user.
new_outputs() {
    local out="$work/$1"
    mkdir -p "$out/artifacts" "$out/reports"
    chmod 0777 "$out/artifacts" "$out/reports"
    echo "$out"
}

# run NAME [docker-run-options...] -- [command...]: runs the image, keeps stdout+stderr in
# $work/NAME.log and the exit code in $status.
run() {
    local name=$1 options=()
    shift
    while [[ $1 != -- ]]; do options+=("$1"); shift; done
    shift
    local start=$SECONDS
    say "run $name: $engine run ${options[*]} $image $*"
    set +e
    "$engine" run --rm "${options[@]}" "$image" "$@" >"$work/$name.log" 2>&1
    status=$?
    set -e
    say "run $name exited $status in $(elapsed "$start")"
}

expect_text() { # expect_text NAME TEXT: the log of run NAME contains TEXT
    grep -qF -- "$2" "$work/$1.log" || { tail -n 30 "$work/$1.log" >&2; fail "run $1: output lacks '$2'"; }
}
expect_no_text() {
    ! grep -qF -- "$2" "$work/$1.log" || fail "run $1: output should not contain '$2'"
}
show_error() { # the message a bad-input run ended with, for the log
    say "  its message: $(grep -m 1 'error:' "$work/$1.log" | cut -c 1-300)"
}
data_mount=(-v "$data:/data:ro" -e SCIKIT_LEARN_DATA=/data)

# --- the default command: the whole pipeline, then the summary ----------------------------
out=$(new_outputs default)
run default "${data_mount[@]}" -v "$out/artifacts:/app/artifacts" -v "$out/reports:/app/reports" --
[[ $status -eq 0 ]] || { tail -n 40 "$work/default.log" >&2; fail "the default command exited $status"; }
sed -n '/^Test R²/,$p' "$work/default.log"
expect_text default "Test R²: float 0.5758, 8-bit quantized"
expect_text default "First 5 test predictions"
expect_text default "Report: /app/reports/report.html"
python3 "$repo/tests/container/check_outputs.py" "$out/artifacts" "$out/reports" --bits 8 \
    ${expected:+--expected "$expected"}
default_out=$out

# --- the container exports the integer model as ONNX (its model card reads the test rows, so the
# data are mounted), and onnxruntime in it scores it as ours ---
run export "${data_mount[@]}" -v "$default_out/artifacts:/app/artifacts" -- \
    calhousing export --model integer -o /app/artifacts/model-int8.onnx
[[ $status -eq 0 ]] || { tail -n 20 "$work/export.log" >&2; fail "calhousing export exited $status"; }
expect_text export "Wrote the integer model to /app/artifacts/model-int8.onnx"
[[ -s $default_out/artifacts/model-int8.onnx ]] || fail "calhousing export wrote no model-int8.onnx"
run export-score -v "$default_out/artifacts:/app/artifacts" -- python -c "
import numpy as np, onnxruntime
from calhousing.run import artifacts
from calhousing.core import integer_inference
rows = np.array([[8.3252, 41, 6.98, 1.02, 322, 2.55, 37.88, -122.23], [1, 1, 1, 1, 1e6, 1, 30, -130]])
session = onnxruntime.InferenceSession('/app/artifacts/model-int8.onnx')
ours = integer_inference.predict_integer(artifacts.Run.open('/app/artifacts').integer_model(), rows)
theirs = session.run(None, {'features': rows})[0]
print('onnxruntime', theirs.tolist(), 'predict_integer', ours.tolist())
assert theirs.tolist() == ours.tolist()
print('model-int8.onnx scores as predict_integer')"
[[ $status -eq 0 ]] || { tail -n 20 "$work/export-score.log" >&2; fail "scoring model-int8.onnx in the container failed"; }
expect_text export-score "model-int8.onnx scores as predict_integer"

# --- parameters pass through, and the summary still follows ------------------------------
out=$(new_outputs bits4)
run bits4 "${data_mount[@]}" -v "$out/artifacts:/app/artifacts" -v "$out/reports:/app/reports" \
    -- calhousing run --no-progress -p bits 4
[[ $status -eq 0 ]] || { tail -n 40 "$work/bits4.log" >&2; fail "calhousing run -p bits 4 exited $status"; }
expect_text bits4 "4-bit quantized"
python3 "$repo/tests/container/check_outputs.py" "$out/artifacts" "$out/reports" --bits 4

# --- bad input: non-zero exit, the pipeline's own message, no summary ----------------------
# No data: an empty data folder and no network, so the loader can neither read nor download.
run no-data --network none -e SCIKIT_LEARN_DATA=/tmp/empty-data -- calhousing run --no-progress
[[ $status -ne 0 ]] || fail "a run without data exited 0"
show_error no-data
expect_text no-data "SCIKIT_LEARN_DATA"
expect_text no-data "cal_housing_py3.pkz"
expect_no_text no-data "Test R²"

run unknown-parameter "${data_mount[@]}" -- calhousing run -p colour 3
[[ $status -ne 0 ]] || fail "a run with an unknown parameter exited 0"
show_error unknown-parameter
expect_text unknown-parameter "unknown parameter(s) colour"
expect_no_text unknown-parameter "Test R²"

# Out of range, into the folders of the default run: they must come out unchanged.
before=$(cd "$default_out" && find . -type f -exec sha256sum {} + | sort)
run bits-out-of-range "${data_mount[@]}" -v "$default_out/artifacts:/app/artifacts" \
    -v "$default_out/reports:/app/reports" -- calhousing run -p bits 1
[[ $status -ne 0 ]] || fail "a run with bits 1 exited 0"
show_error bits-out-of-range
expect_text bits-out-of-range "bits must be an integer from 2 to 16, got 1"
expect_no_text bits-out-of-range "Test R²"
after=$(cd "$default_out" && find . -type f -exec sha256sum {} + | sort)
[[ $before == "$after" ]] || fail "the failed run changed the previous outputs"

run missing-artifacts -- calhousing summary
[[ $status -ne 0 ]] || fail "a summary without artifacts exited 0"
show_error missing-artifacts
expect_text missing-artifacts "lacks comparison.json"

run export-missing -- calhousing export --model integer -o /tmp/model.onnx
[[ $status -eq 1 ]] || fail "an export without artifacts exited $status, not 1"
show_error export-missing
expect_text export-missing "nothing was written"

say "PASSED: image $image built and run with $engine; outputs, the ONNX export and bad input checked"
