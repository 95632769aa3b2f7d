"""The independent oracle of the kernel merge tests (tests/kernel/e2e-merge.sh,
tests/kernel/e2e-patched.sh): which source lines a set of PCs or a binary's
coverage points fall on, by the toolchain's own symbolizers and ELF readers
(never kcovd's code), and the DA lines of an LCOV export."""
import difflib
import os
import shutil
import struct
import subprocess

A2L = shutil.which("llvm-addr2line") or shutil.which("llvm-addr2line-14")


def sh(*a):
    return subprocess.run(a, check=True, capture_output=True, text=True).stdout


def link_text(k):
    """Link-time address of _text in the build directory k's System.map."""
    return next(int(l.split()[0], 16) for l in open(f"{k}/System.map") if l.split()[2] == "_text")


def innermost(cmd, addrs, root):
    """(file relative to root, line) of the innermost frame of each address,
    by an addr2line-like cmd given -a -i -f."""
    out = subprocess.run(cmd, input="".join(f"{a:#x}\n" for a in addrs), check=True,
                         capture_output=True, text=True).stdout.splitlines()
    res, i = set(), 0
    while i < len(out):
        assert out[i].startswith("0x"), out[i]
        loc = out[i + 2]
        i += 3
        while i < len(out) and not out[i].startswith("0x"):
            i += 1
        f, _, l = loc.rpartition(":")
        l = l.split()[0] if l.split() else "0"
        if f != "??" and l.isdigit() and int(l):
            f = os.path.normpath(f)
            res.add((f[len(root):] if f.startswith(root) else f, int(l)))
    return res


def vmlinux_points(k):
    """Link-time addresses of the PCs (call + 5) of every guard call in an
    executable section of k's vmlinux."""
    vm = f"{k}/vmlinux"
    guard = next(int(l.split()[0], 16) for l in sh("nm", vm).splitlines()
                 if l.split()[-1] == "__sanitizer_cov_trace_pc_guard")
    pcs = []
    for line in sh("readelf", "-SW", vm).splitlines():
        f = line.replace("[ ", "[").split()
        if len(f) < 8 or f[2] != "PROGBITS" or "X" not in f[7]:
            continue
        addr, off, size = int(f[3], 16), int(f[4], 16), int(f[5], 16)
        with open(vm, "rb") as fh:
            fh.seek(off)
            text = fh.read(size)
        i = text.find(b"\xe8")
        while 0 <= i < size - 5:
            pc = addr + i + 5
            if pc + struct.unpack_from("<i", text, i + 1)[0] == guard:
                pcs.append(pc)
            i = text.find(b"\xe8", i + 1)
    return pcs


def module_points(k):
    """.text offsets of the PCs of the test module's guard calls (their
    R_X86_64_PLT32 relocations + 4)."""
    sites, sec = [], None
    for line in sh("readelf", "-rW", f"{k}/test_kcov_unique.ko").splitlines():
        if line.startswith("Relocation section"):
            sec = line.split("'")[1]
        f = line.split()
        # (.rela.text.FUNCTION sections relocate .text too)
        if sec and sec.startswith(".rela.text") and len(f) >= 5 and f[2] == "R_X86_64_PLT32" and \
                f[4] == "__sanitizer_cov_trace_pc_guard":
            sites.append(int(f[0], 16) + 4)
    return sites


def lines_of(k, vm_pcs, mod_offs, root):
    """Source lines of link-time vmlinux PCs and module .text offsets of build
    directory k (llvm-addr2line for vmlinux, GNU addr2line -j .text for the
    relocatable module), relative to root."""
    return innermost([A2L, "-a", "-i", "-f", "-e", f"{k}/vmlinux"], [p - 5 for p in vm_pcs], root) | \
        innermost(["addr2line", "-a", "-i", "-f", "-j", ".text", "-e",
                   f"{k}/test_kcov_unique.ko"], [o - 5 for o in mod_offs], root)


def lcov(path):
    """{(file, line): count} of the DA records of an LCOV file."""
    da, sf = {}, None
    for line in open(path):
        line = line.strip()
        if line.startswith("SF:"):
            sf = line[3:]
        elif line.startswith("DA:"):
            l, c = line[3:].split(",")[:2]
            da[(sf, int(l))] = int(c)
    return da


def source_lines(k, f):
    """The lines of source file f (relative) of build directory k's tree, or
    None (an absolute path, or a file the tree does not have)."""
    p = os.path.join(k, "linux-source-6.1", f)
    if f.startswith("/") or not os.path.isfile(p):
        return None
    return open(p, "rb").read().decode("utf-8", "replace").split("\n")


def line_map(ks, kt, f):
    """How file f's lines in tree ks land in tree kt, by difflib (an
    independent diff, not kcovd's): None when a tree lacks the file,
    "identity" when the texts are equal, else {line in ks: line in kt} of
    the matching blocks."""
    a, b = source_lines(ks, f), source_lines(kt, f)
    if a is None or b is None:
        return None
    if a == b:
        return "identity"
    m = {}
    for blk in difflib.SequenceMatcher(None, a, b, autojunk=False).get_matching_blocks():
        for j in range(blk.size):
            m[blk.a + j + 1] = blk.b + j + 1
    return m
