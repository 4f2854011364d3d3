#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""lazyfs.py mount BACKING SYNCED MOUNTPOINT | lazyfs.py cut BACKING SYNCED — a FUSE
pass-through that can lose what was not synced, as a power cut would (after LazyFS, which
does this for real databases' tests).

mount: every operation goes through to BACKING at once, and each fsync/fdatasync of a
file copies its content to the same name under SYNCED (a directory outside the mount;
filled with BACKING's files at mount: they survived the last cut). Runs in the foreground.
cut: the power cut, once the mount is gone (kill -9 the layer, umount -l): every file of
BACKING goes back to its content under SYNCED, or to empty when it was never synced. What
the kernel's page cache would have kept after a kill -9 is lost; what a sync made durable
remains.

The model is of file data only: names (create, rename, unlink, mkdir) count as durable at
once, as on a journaling file system after the directory's fsync, which the journal does
for every rename. A rename carries the source's synced content to the new name.

Used by tests/integration/test_power_cut.sh. Needs /dev/fuse, root (or fusermount) and
python3-fusepy."""
import errno
import os
import shutil
import sys

from fusepy import FUSE, FuseOSError, Operations


class Lazy(Operations):
    def __init__(self, root, synced):
        self.root = os.path.realpath(root)
        self.snap = os.path.realpath(synced)
        shutil.rmtree(self.snap, ignore_errors=True)
        shutil.copytree(self.root, self.snap)

    def _full(self, path):
        return os.path.join(self.root, path.lstrip("/"))

    def _snap(self, path):
        return os.path.join(self.snap, path.lstrip("/"))

    # ---- pass-through ----
    def access(self, path, mode):
        if not os.access(self._full(path), mode):
            raise FuseOSError(errno.EACCES)

    def chmod(self, path, mode):
        return os.chmod(self._full(path), mode)

    def chown(self, path, uid, gid):
        return os.chown(self._full(path), uid, gid)

    def getattr(self, path, fh=None):
        try:
            st = os.lstat(self._full(path))
        except OSError as e:
            raise FuseOSError(e.errno)
        return {k: getattr(st, k) for k in ("st_atime", "st_ctime", "st_gid", "st_mode",
                                            "st_mtime", "st_nlink", "st_size", "st_uid")}

    def readdir(self, path, fh):
        return [".", ".."] + os.listdir(self._full(path))

    def mkdir(self, path, mode):
        os.mkdir(self._full(path), mode)
        os.makedirs(self._snap(path), exist_ok=True)

    def rmdir(self, path):
        os.rmdir(self._full(path))
        shutil.rmtree(self._snap(path), ignore_errors=True)

    def unlink(self, path):
        os.unlink(self._full(path))
        if os.path.exists(self._snap(path)):
            os.unlink(self._snap(path))

    def rename(self, old, new):
        os.rename(self._full(old), self._full(new))
        if os.path.exists(self._snap(old)):
            os.rename(self._snap(old), self._snap(new))
        elif os.path.exists(self._snap(new)):
            os.unlink(self._snap(new))  # the new name's content was never synced

    def utimens(self, path, times=None):
        return os.utime(self._full(path), times)

    def statfs(self, path):
        st = os.statvfs(self._full(path))
        return {k: getattr(st, k) for k in ("f_bavail", "f_bfree", "f_blocks", "f_bsize",
                                            "f_favail", "f_ffree", "f_files", "f_flag",
                                            "f_frsize", "f_namemax")}

    def open(self, path, flags):
        try:
            return os.open(self._full(path), flags)
        except OSError as e:
            raise FuseOSError(e.errno)

    def create(self, path, mode, fi=None):
        try:
            return os.open(self._full(path), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        except OSError as e:
            raise FuseOSError(e.errno)

    def read(self, path, length, offset, fh):
        return os.pread(fh, length, offset)

    def write(self, path, buf, offset, fh):
        return os.pwrite(fh, buf, offset)

    def truncate(self, path, length, fh=None):
        with open(self._full(path), "r+b") as f:
            f.truncate(length)

    def flush(self, path, fh):
        return 0

    def release(self, path, fh):
        return os.close(fh)

    def fsync(self, path, datasync, fh):
        shutil.copyfile(self._full(path), self._snap(path))
        return 0

    def fsyncdir(self, path, datasync, fh):
        return 0


def cut(root, snap):
    for d, _, files in os.walk(root):
        for f in files:
            full = os.path.join(d, f)
            synced = os.path.join(snap, os.path.relpath(full, root))
            data = b""
            if os.path.exists(synced):
                with open(synced, "rb") as fh:
                    data = fh.read()
            with open(full, "wb") as fh:
                fh.write(data)


def main():
    if sys.argv[1:2] == ["cut"] and len(sys.argv) == 4:
        return cut(sys.argv[2], sys.argv[3])
    if sys.argv[1:2] != ["mount"] or len(sys.argv) != 5:
        sys.exit(__doc__)
    # single-threaded: one operation at a time
    FUSE(Lazy(sys.argv[2], sys.argv[3]), sys.argv[4], foreground=True, nothreads=True)


if __name__ == "__main__":
    main()
