"""The dependency graph the closure tests serve from the fake origin, and the environments they target.

    app 2.0 (newest; 1.0 older)   -> liba>=1,<2         (liba 2.0 is newest: the range excludes it; 1.9rc1 is a
                                                          prerelease, 1.6 is yanked: both skipped, so 1.5)
                                  -> libb[fast]>=1      (extra: adds speedup; libb's "slow" extra is not asked)
                                  -> oldpy-compat ; python_version < "3.12"
                                  -> winonly ; sys_platform == "win32"     (never on Linux)
                                  -> cyc-a              (cyc-a -> cyc-b -> cyc-a: a cycle)
                                  -> modern             (2.0 needs Python >= 3.12; 3.11 gets 1.0)
    broken 1.0                    -> ghost>=1           (ghost is not on the origin)

Compiled projects (liba, cyc-b) carry cp311/cp312/cp313 wheels for manylinux_2_17 (+manylinux2014) and
manylinux_2_28 on x86_64 and aarch64, an abi3 wheel, a Windows wheel and an sdist, so the best-wheel
choice per environment matters.
"""

from __future__ import annotations

from support.fakeorigin import Corpus

PYTHONS = ("3.11", "3.12", "3.13")
PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_28_aarch64")
REQUIREMENTS = ("app", "broken")
INSTALLABLE = ("app",)  # broken needs ghost, which the origin does not have


def compiled(versions: tuple[str, ...] = ("311", "312", "313")) -> list[str]:
    files = []
    for v in versions:
        files.append(f"cp{v}-cp{v}-manylinux_2_17_x86_64.manylinux2014_x86_64")
        files.append(f"cp{v}-cp{v}-manylinux_2_17_aarch64.manylinux2014_aarch64")
    files.append("cp313-cp313-manylinux_2_28_x86_64")  # beats 2_17 for 3.13 on x86_64
    files.append("cp311-abi3-manylinux_2_28_aarch64")  # abi3: 3.11+ on aarch64, below cpXY-cpXY wheels
    files.append("cp311-cp311-win_amd64")
    files.append("sdist")
    return files


def build_corpus(corpus: Corpus | None = None) -> Corpus:
    corpus = corpus or Corpus()
    add = corpus.add_project
    add("app", [
        {"version": "1.0", "files": ["py3-none-any", "sdist"], "requires_dist": ["liba"]},
        {"version": "2.0", "files": ["py3-none-any", "sdist"], "requires_dist": [
            "liba>=1,<2", "libb[fast]>=1", 'oldpy-compat; python_version < "3.12"',
            'winonly; sys_platform == "win32"', "cyc-a", "modern"]},
    ])
    add("liba", [
        {"version": "1.0", "files": ["py3-none-any"]},
        {"version": "1.5", "files": compiled()},
        {"version": "1.6", "files": ["py3-none-any"], "yanked": "broken build"},
        {"version": "1.9rc1", "files": ["py3-none-any"]},
        {"version": "2.0", "files": ["py3-none-any"]},
    ])
    add("libb", [{"version": "1.0", "files": ["py3-none-any"], "provides_extra": ["fast", "slow"],
                  "requires_dist": ['speedup>=1; extra == "fast"', 'slowdep; extra == "slow"']}])
    add("speedup", [{"version": "1.0", "files": ["py3-none-any"]}, {"version": "1.1", "files": ["py2.py3-none-any"]}])
    add("slowdep", [{"version": "1.0", "files": ["py3-none-any"]}])
    add("oldpy-compat", [{"version": "1.0", "files": ["py3-none-any"]}])
    add("winonly", [{"version": "1.0", "files": ["cp311-cp311-win_amd64", "cp312-cp312-win_amd64"]}])
    add("cyc-a", [{"version": "1.0", "files": ["py3-none-any"], "requires_dist": ["cyc-b"]}])
    add("cyc-b", [{"version": "1.0", "files": compiled(), "requires_dist": ["cyc-a>=1"]}])
    add("modern", [
        {"version": "1.0", "files": ["py3-none-any"], "requires_python": ">=3.8"},
        {"version": "2.0", "files": ["py3-none-any"], "requires_python": ">=3.12"},
    ])
    add("broken", [{"version": "1.0", "files": ["py3-none-any"], "requires_dist": ["ghost>=1"]}])
    add("unrelated", [{"version": "1.0", "files": ["py3-none-any"]}])
    return corpus


def closure_table(**overrides: object) -> dict[str, object]:
    table: dict[str, object] = {"requirements": list(REQUIREMENTS), "pythons": list(PYTHONS),
                                "platforms": list(PLATFORMS)}
    table.update(overrides)
    return table
