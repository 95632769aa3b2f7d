"""The MAINTAINERS parser (server/build/maintainers.c) against the kernel's
own scripts/get_maintainer.pl, both from Debian's linux-source-6.1 tarball.

The tarball is read once: its file list, MAINTAINERS and the script. The
script decides directories with `-d` relative to its working directory, so
the test lays out a tree of every directory of the tarball (plus empty
sample files, which `-f` wants to exist) and runs both sides there:
kc-maint-match loads MAINTAINERS from that tree as build import does, and
`perl scripts/get_maintainer.pl --no-tree --no-git --no-email --no-l
--no-keywords --subsystem -f PATH` runs once per sampled path (--no-tree:
the tree has no COPYING/Makefile...; --no-l: no mailing lists in the
output; --no-keywords: K: entries match file contents, not paths, and are
not part of the parser). The script prints the subsystems in an order that
depends on Perl's hash order, so sets are compared.

The sample is deterministic: every k-th file of the sorted list, plus for
every X: entry and every N: entry the first files the entry's text selects,
so exclusions and regexes are exercised, not just directory patterns.

Both inputs of the oracle are deterministic, so what is not our code is
cached (KC_TEST_CACHE, default ~/.cache/kcov-tests; the plain and the
sanitized tree run this test, and each would pay about a minute of CPU for
the same answers): the tarball's listing, keyed by its path, size and
mtime, and the script's answers, keyed by the script, MAINTAINERS, the
sample and perl's version. kc-maint-match always runs.
"""
import concurrent.futures
import hashlib
import json
import os
import re
import shutil
import subprocess
import tarfile

from kcovlib import check, run_tests, tmpdir

TARBALL = "/usr/src/linux-source-6.1.tar.xz"
TOP = "linux-source-6.1/"
MATCH = os.environ["KC_MAINT_MATCH"]
STRIDE_SAMPLE = 150


CACHE = os.environ.get("KC_TEST_CACHE") or os.path.join(os.path.expanduser("~"), ".cache",
                                                         "kcov-tests")


def cached(name, make):
    """make()'s JSON-able value, kept in CACHE/name (written atomically)."""
    path = os.path.join(CACHE, name)
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        pass
    value = make()
    os.makedirs(CACHE, exist_ok=True)
    tmp = "%s.%d.tmp" % (path, os.getpid())
    with open(tmp, "w") as f:
        json.dump(value, f)
    os.replace(tmp, path)
    return value


def read_tarball():
    """(sorted file paths, sorted directory paths, MAINTAINERS bytes, script bytes)."""
    check(os.path.exists(TARBALL), "%s missing (scripts/install-deps.sh installs "
          "linux-source-6.1)" % TARBALL)
    st = os.stat(TARBALL)
    key = hashlib.sha256(("%s %d %d" % (TARBALL, st.st_size, st.st_mtime_ns)).encode())
    v = cached("maint-tarball-%s.json" % key.hexdigest()[:16], lambda: [
        x if isinstance(x, list) else x.decode("latin-1") for x in list_tarball()])
    return v[0], v[1], v[2].encode("latin-1"), v[3].encode("latin-1")


def list_tarball():
    """read_tarball's answer, read from the tarball itself."""
    files, dirs, maint, script = [], [], None, None
    with tarfile.open(TARBALL, "r:xz") as tf:
        for ti in tf:
            if not ti.name.startswith(TOP):
                continue
            rel = ti.name[len(TOP):].rstrip("/")
            if not rel:
                continue
            if ti.isdir():
                dirs.append(rel)
            elif ti.isfile() or ti.issym():
                files.append(rel)
                if rel == "MAINTAINERS":
                    maint = tf.extractfile(ti).read()
                elif rel == "scripts/get_maintainer.pl":
                    script = tf.extractfile(ti).read()
    check(maint and script, "MAINTAINERS or scripts/get_maintainer.pl not in the tarball")
    return sorted(files), sorted(dirs), maint, script


def sample(files, maint):
    """Deterministic sample: a stride over the sorted list, then per X: entry
    two files below its literal prefix, per N: entry the first file its
    regex finds (Python's re is close enough to choose samples)."""
    picked = set(files[::max(1, len(files) // STRIDE_SAMPLE)])
    text = maint.decode("utf-8", "replace")
    for m in re.finditer(r"^X:\s*(\S+)", text, re.M):
        lit = re.split(r"[*?\[]", m.group(1))[0]
        picked.update([f for f in files if f.startswith(lit)][:2])
    for m in re.finditer(r"^N:\s*(\S+)", text, re.M):
        try:
            rx = re.compile(m.group(1))
        except re.error:
            continue
        picked.update([f for f in files if rx.search(f)][:1])
    picked.discard("MAINTAINERS")
    return sorted(picked)


def perl_subsystems(tree, path):
    p = subprocess.run(["perl", "scripts/get_maintainer.pl", "--no-tree", "--no-git",
                        "--no-email", "--no-l", "--no-keywords", "--subsystem", "-f", path],
                       cwd=tree, capture_output=True, text=True, timeout=120)
    check(p.returncode == 0, "get_maintainer.pl %s: %d %s" % (path, p.returncode, p.stderr))
    return {line.rstrip() for line in p.stdout.splitlines() if line.strip()}


def test_parser_equals_get_maintainer():
    files, dirs, maint, script = read_tarball()
    tree = tmpdir("kcov-maint-")
    try:
        for d in dirs:
            os.makedirs(os.path.join(tree, d), exist_ok=True)
        with open(os.path.join(tree, "MAINTAINERS"), "wb") as f:
            f.write(maint)
        with open(os.path.join(tree, "scripts/get_maintainer.pl"), "wb") as f:
            f.write(script)
        paths = sample(files, maint)
        check(len(paths) >= 250, "sample too small: %d" % len(paths))
        for p in paths:
            full = os.path.join(tree, p)
            os.makedirs(os.path.dirname(full), exist_ok=True)
            open(full, "a").close()

        out = subprocess.run([MATCH, tree], input="".join(p + "\n" for p in paths),
                             capture_output=True, text=True, timeout=300)
        check(out.returncode == 0, "kc-maint-match: %d %s" % (out.returncode, out.stderr))
        ours = {}
        for line in out.stdout.splitlines():
            parts = line.split("\t")
            ours[parts[0]] = set(parts[1:])
        check(sorted(ours) == paths, "kc-maint-match answered other paths")

        def oracle():
            with concurrent.futures.ThreadPoolExecutor(max_workers=2) as ex:
                return [sorted(s) for s in ex.map(lambda p: perl_subsystems(tree, p), paths)]
        perl = subprocess.run(["perl", "-e", "print $^V"], capture_output=True, text=True).stdout
        key = hashlib.sha256(script + b"\0" + maint + b"\0" +
                             "\n".join(paths + [perl]).encode())
        theirs = dict(zip(paths, map(set, cached("maint-oracle-%s.json" % key.hexdigest()[:16],
                                                 oracle))))
        bad = [(p, sorted(ours[p] - theirs[p]), sorted(theirs[p] - ours[p]))
               for p in paths if ours[p] != theirs[p]]
        check(not bad, "%d of %d paths differ (path, only ours, only the script's): %s"
              % (len(bad), len(paths), bad[:10]))
        sections = set().union(*theirs.values())
        # Not only "THE REST": the sample reaches many sections, and
        # most paths belong to more than one.
        multi = sum(1 for p in paths if len(theirs[p]) > 1)
        print("%d paths, %d distinct subsystems, %d in more than one; %s"
              % (len(paths), len(sections), multi, out.stderr.strip()), flush=True)
        check(len(sections) >= 150, "the sample covers only %d subsystems" % len(sections))
        check(multi >= len(paths) // 2, "only %d paths in several subsystems" % multi)
    finally:
        shutil.rmtree(tree, ignore_errors=True)


if __name__ == "__main__":
    run_tests([test_parser_equals_get_maintainer])
