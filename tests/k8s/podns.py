"""Set up a simulated pod's mounts, then exec its command. Run by ``simpod`` as

    unshare --mount --propagation private python -I podns.py SPEC_JSON COMMAND [ARG…]

SPEC_JSON: ``{"stage": DIR, "mounts": [[source, mountPath, is_dir, read_only], …]}``.

Each source is bind-mounted at its mountPath inside the pod's private mount namespace; a
source ``{"tmpfs": BYTES}`` (a memory-backed emptyDir) is a fresh tmpfs of that size. A
mountPath that does not exist must not be created on the host (``/dev/termination-log``
on the host would make any program that checks for it believe it runs in a pod), so its
nearest existing ancestor is shadowed: a tmpfs is mounted over it inside the namespace,
with every original entry bind-mounted back (devices, ``/dev/pts``, symlinks copied), and
the mount point is created in the tmpfs. Only an ancestor of ``/`` itself cannot be
shadowed: a missing top-level directory (``/data``) is created on the host.
"""

from __future__ import annotations

import ctypes
import json
import os
import sys

MS_RDONLY, MS_REMOUNT, MS_BIND, MS_REC = 1, 32, 4096, 16384
_libc = ctypes.CDLL(None, use_errno=True)


def mount(src: str | None, dst: str, fstype: str | None = None, flags: int = 0, data=None):
    enc = lambda s: s.encode() if s is not None else None  # noqa: E731
    if _libc.mount(enc(src), enc(dst), enc(fstype), flags, enc(data)) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"mount {src} -> {dst}: {os.strerror(err)}")


def shadow(directory: str, stage: str) -> None:
    """Make ``directory`` writable in this namespace only, with its entries still there."""
    os.makedirs(stage)
    mount(directory, stage, flags=MS_BIND | MS_REC)
    mount("simnode", directory, "tmpfs", 0, "mode=755")
    for name in os.listdir(stage):
        src, dst = os.path.join(stage, name), os.path.join(directory, name)
        if os.path.islink(src):
            os.symlink(os.readlink(src), dst)
        elif os.path.isdir(src):
            os.mkdir(dst)
            mount(src, dst, flags=MS_BIND | MS_REC)
        else:
            open(dst, "w").close()
            mount(src, dst, flags=MS_BIND)


def make_mount_point(path: str, is_dir: bool, stage: str, shadowed: list[str]) -> None:
    ancestor = os.path.dirname(path)
    while not os.path.exists(ancestor):
        ancestor = os.path.dirname(ancestor)
    ancestor = os.path.realpath(ancestor)
    if ancestor != "/" and not any(ancestor == s or ancestor.startswith(s + "/") for s in shadowed):
        shadow(ancestor, os.path.join(stage, str(len(shadowed))))
        shadowed.append(ancestor)
    if is_dir:
        os.makedirs(path, exist_ok=True)
    else:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        open(path, "a").close()


def main(argv: list[str]) -> None:
    spec, command = json.loads(argv[1]), argv[2:]
    shadowed: list[str] = []
    for src, dst, is_dir, read_only in spec["mounts"]:
        if not os.path.lexists(dst):
            make_mount_point(dst, is_dir, spec["stage"], shadowed)
        if isinstance(src, dict):
            mount("simnode-memory", dst, "tmpfs", 0, f"size={src['tmpfs']},mode=1777")
        else:
            mount(src, dst, flags=MS_BIND | MS_REC)
        if read_only:
            mount(None, dst, flags=MS_REMOUNT | MS_BIND | MS_RDONLY)
    os.execvp(command[0], command)


if __name__ == "__main__":
    try:
        main(sys.argv)
    except OSError as e:  # what a container runtime reports as a failed start
        print(f"simnode: cannot start the container: {e}", file=sys.stderr)
        sys.exit(128)
