"""A fake PyPI origin for the tests: real HTTP servers on loopback serving a declarative, mutable corpus.

    from support.fakeorigin import Corpus, running_origin

    corpus = Corpus()
    corpus.add_project("Foo.Bar", [{"version": "1.0", "files": ["py3-none-any", "sdist"]}])
    with running_origin(corpus) as origin:  # .url .files_url .counters .faults .corpus
        corpus.add_release("foo-bar", "1.1", files=[("cp312-cp312-manylinux_2_28_x86_64", 50_000)])
        origin.faults.add("http_503", rate=0.3, on=("file",))

As a separate process (benchmarks), printing one JSON line with the URLs when ready:

    python tests/support/fakeorigin --corpus-spec spec.json --port 0 --files-port 0 --state-dir DIR

Spec JSON: {"generate": {generate_corpus kwargs}, "projects": [{"name", "releases": [add_release kwargs
with "version"]}], "synthetic_root": N}.
"""

from .accounting import Counters, RequestRecord
from .artifacts import Artifact, ArtifactSpec, ArtifactStore, default_cache_dir
from .corpus import Corpus, PageOverride
from .faults import KINDS as FAULT_KINDS
from .faults import Fault, FaultRule, Faults
from .generate import DEFAULT_SIZE_MIX, generate_corpus
from .hostile import hostile_file_entries, hostile_pages, hostile_project_names
from .model import ChangelogEntry, DistFile, FileSpec, Project, Release, core_metadata, normalize
from .render import HTML_V1, JSON_V1, TEXT_HTML, negotiate
from .server import Options, OriginServer, running_origin

__all__ = [
    "DEFAULT_SIZE_MIX",
    "FAULT_KINDS",
    "HTML_V1",
    "JSON_V1",
    "TEXT_HTML",
    "Artifact",
    "ArtifactSpec",
    "ArtifactStore",
    "ChangelogEntry",
    "Corpus",
    "Counters",
    "DistFile",
    "Fault",
    "FaultRule",
    "Faults",
    "FileSpec",
    "Options",
    "OriginServer",
    "PageOverride",
    "Project",
    "Release",
    "RequestRecord",
    "core_metadata",
    "default_cache_dir",
    "generate_corpus",
    "hostile_file_entries",
    "hostile_pages",
    "hostile_project_names",
    "negotiate",
    "normalize",
    "running_origin",
]
