#!/usr/bin/env python3
"""Writes a reproducible OCI image archive FROM scratch, with no image tool and no pull.

One uncompressed layer holds the given files (sorted, mtime 0, owner root, fixed modes), so
the same inputs give the same layer, config, manifest and archive digests byte for byte.

    oci.py --out img.tar --name oxidize.local/foo:0.1.0 --entrypoint /bin/foo \
        --user 65532:65532 --file /abs/src=/dest/path[:mode] ...

Prints the manifest digest (what `ctr images ls` and the kubelet show as the image digest).
The archive is an OCI image layout (oci-layout, index.json, blobs/sha256/...) that
`ctr images import`, `podman load` and `skopeo copy oci-archive:` accept; the index carries
both the OCI ref-name and containerd's image-name annotations.
"""

import argparse
import hashlib
import io
import json
import os
import sys
import tarfile

EPOCH = 0


def add_dir(tar, name, seen):
    parts = name.strip("/").split("/")[:-1]
    for i in range(1, len(parts) + 1):
        d = "/".join(parts[:i])
        if d in seen:
            continue
        seen.add(d)
        info = tarfile.TarInfo(d + "/")
        info.type = tarfile.DIRTYPE
        info.mode = 0o755
        info.mtime = EPOCH
        tar.addfile(info)


def layer_bytes(files, empty_dirs):
    buf = io.BytesIO()
    seen = set()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        entries = sorted(files, key=lambda f: f[1])
        for d in sorted(empty_dirs):
            add_dir(tar, d.strip("/") + "/x", seen)
        for src, dest, mode in entries:
            dest = dest.strip("/")
            add_dir(tar, dest, seen)
            with open(src, "rb") as fh:
                data = fh.read()
            info = tarfile.TarInfo(dest)
            info.size = len(data)
            info.mode = mode if mode is not None else (os.stat(src).st_mode & 0o777)
            info.mtime = EPOCH
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def blob(data):
    return "sha256:" + hashlib.sha256(data).hexdigest(), data


def tar_member(tar, name, data):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o644
    info.mtime = EPOCH
    tar.addfile(info, io.BytesIO(data))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--name", required=True, action="append", help="image reference; repeatable")
    ap.add_argument("--entrypoint", required=True)
    ap.add_argument("--user", default="")
    ap.add_argument("--env", action="append", default=[])
    ap.add_argument("--label", action="append", default=[])
    ap.add_argument("--dir", action="append", default=[], help="an empty directory to create")
    ap.add_argument("--file", action="append", default=[], help="SRC=DEST[:MODE(octal)]")
    args = ap.parse_args()

    files = []
    for spec in args.file:
        src, _, dest = spec.partition("=")
        mode = None
        if ":" in dest:
            dest, _, m = dest.rpartition(":")
            mode = int(m, 8)
        if not os.path.isfile(src):
            sys.exit(f"oci.py: {src} is not a file (for {dest})")
        files.append((src, dest, mode))

    layer_digest, layer = blob(layer_bytes(files, args.dir))
    labels = dict(kv.split("=", 1) for kv in args.label)
    config = {
        "architecture": "amd64",
        "os": "linux",
        "created": "1970-01-01T00:00:00Z",
        "config": {
            "Entrypoint": [args.entrypoint],
            "Env": ["PATH=/usr/local/bin:/usr/bin:/bin"] + args.env,
            "Labels": labels,
            **({"User": args.user} if args.user else {}),
        },
        "rootfs": {"type": "layers", "diff_ids": [layer_digest]},
        "history": [{"created": "1970-01-01T00:00:00Z", "created_by": "scripts/images/oci.py"}],
    }
    config_digest, config_data = blob(json.dumps(config, sort_keys=True, separators=(",", ":")).encode())
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": config_digest,
            "size": len(config_data),
        },
        "layers": [
            {
                "mediaType": "application/vnd.oci.image.layer.v1.tar",
                "digest": layer_digest,
                "size": len(layer),
            }
        ],
    }
    manifest_digest, manifest_data = blob(
        json.dumps(manifest, sort_keys=True, separators=(",", ":")).encode()
    )
    index = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [
            {
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": manifest_digest,
                "size": len(manifest_data),
                "annotations": {
                    "io.containerd.image.name": name,
                    "org.opencontainers.image.ref.name": name.rsplit(":", 1)[-1],
                },
            }
            for name in args.name
        ],
    }
    with tarfile.open(args.out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        tar_member(tar, "oci-layout", b'{"imageLayoutVersion":"1.0.0"}')
        for digest, data in sorted(
            [(layer_digest, layer), (config_digest, config_data), (manifest_digest, manifest_data)]
        ):
            tar_member(tar, "blobs/sha256/" + digest.split(":")[1], data)
        tar_member(tar, "index.json", json.dumps(index, sort_keys=True, separators=(",", ":")).encode())
    print(manifest_digest)


if __name__ == "__main__":
    main()
