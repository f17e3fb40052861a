#!/usr/bin/env bash
# fetch-ort.sh installs the ONNX Runtime shared library into .ort/ at the
# repository root, where package ort finds it without any flags.
#
# The library is taken from the onnxruntime-node npm package (which ships a
# plain CPU build of libonnxruntime.so.1 for linux/x64), fetched with the
# ordinary npm client. The extracted file is checked against a pinned sha256
# and moved into place atomically. Running the script again is a no-op when
# the library is already present with the right checksum.
set -euo pipefail

ORT_NPM_PACKAGE="onnxruntime-node"
ORT_VERSION="1.30.0"
ORT_MEMBER="package/bin/napi-v6/linux/x64/libonnxruntime.so.1"
ORT_SHA256="ffb75a925ba05e47b235bb66e3e3911714a80b328a9c9425539feb204aa32a23"

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
destdir="$root/.ort"
dest="$destdir/libonnxruntime.so.1"

die() {
	echo "fetch-ort: error: $*" >&2
	exit 1
}

sha_ok() {
	local got
	got="$(sha256sum "$1" | cut -d' ' -f1)"
	[[ "$got" == "$ORT_SHA256" ]]
}

if [[ "$(uname -s)/$(uname -m)" != "Linux/x86_64" ]]; then
	die "only linux/x86_64 is supported (got $(uname -s)/$(uname -m)); pass --ort-lib or set SHARPQ_ORT_LIB instead"
fi

if [[ -f "$dest" ]]; then
	if sha_ok "$dest"; then
		echo "fetch-ort: $dest already present (sha256 ok)"
		exit 0
	fi
	echo "fetch-ort: $dest has the wrong sha256; deleting it and fetching again" >&2
	rm -f "$dest"
fi

command -v npm >/dev/null 2>&1 || die "npm not found; install Node.js/npm, or pass --ort-lib / set SHARPQ_ORT_LIB"
command -v tar >/dev/null 2>&1 || die "tar not found"
command -v sha256sum >/dev/null 2>&1 || die "sha256sum not found"

tmp="$(mktemp -d "${TMPDIR:-/tmp}/fetch-ort.XXXXXX")"
partial=""
cleanup() {
	rm -rf "$tmp"
	if [[ -n "$partial" ]]; then
		rm -f "$partial"
	fi
}
trap cleanup EXIT

echo "fetch-ort: npm pack $ORT_NPM_PACKAGE@$ORT_VERSION"
tgz_name="$(cd "$tmp" && npm pack --silent --ignore-scripts "$ORT_NPM_PACKAGE@$ORT_VERSION" | tail -n 1)"
tgz="$tmp/$tgz_name"
[[ -f "$tgz" ]] || die "npm pack did not produce a tarball (got '$tgz_name')"

tar -xzf "$tgz" -C "$tmp" "$ORT_MEMBER" || die "$ORT_MEMBER not found in $tgz_name"
lib="$tmp/$ORT_MEMBER"

if ! sha_ok "$lib"; then
	got="$(sha256sum "$lib" | cut -d' ' -f1)"
	rm -f "$lib"
	die "sha256 mismatch for $ORT_MEMBER from $ORT_NPM_PACKAGE@$ORT_VERSION: got $got, want $ORT_SHA256 (file deleted)"
fi

mkdir -p "$destdir"
partial="$(mktemp "$destdir/.libonnxruntime.so.1.XXXXXX")"
cp "$lib" "$partial"
chmod 0644 "$partial"
sha_ok "$partial" || die "sha256 mismatch after copying into $destdir (file deleted)"
mv -f "$partial" "$dest"
partial=""
echo "fetch-ort: installed $dest (onnxruntime $ORT_VERSION, sha256 ok)"
