"""The docs hold what the code points at: every ``formulas.md`` section the code cites has a
heading in docs/formulas.md, and every relative link in docs/*.md and README.md reaches an
existing file (and, with ``#anchor``, an existing heading)."""

from __future__ import annotations

import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
FORMULAS = ROOT / "docs" / "formulas.md"
CITING = [ROOT / "src", ROOT / "tests", ROOT / "benchmarks"]
SUFFIXES = {".py", ".toml", ".md"}

#: a citation: "formulas.md" (or "formulas") then an optional "sec."/"section"/"§" and a list of
#: section numbers and ranges: "sec. 9.2-9.4", "4.1, 4.5, 4.6", "sec. 1-3, 7", "sec. 4.6 and 5".
#: Line breaks and comment marks may sit anywhere in between.
_GAP = r"[\s#]*"
_NUM = r"\d+(?:\.\d+)?(?![\d.]*\d)"
CITE = re.compile(
    rf"formulas(?:\.md)?{_GAP}(?:(?:sec(?:tion)?s?\.?|§){_GAP})?"
    rf"({_NUM}(?:{_GAP}(?:-|–|,|and){_GAP}{_NUM})*)",
    re.I,
)
HEADING = re.compile(r"^#{1,6}\s+(\d+(?:\.\d+)?)\.?\s", re.M)



def _expand(spec: str) -> list[str]:
    """``"9.2-9.4, 10"`` -> ``["9.2", "9.3", "9.4", "10"]``; ``"1-3"`` -> ``["1", "2", "3"]``."""
    out: list[str] = []
    for part in re.split(r"\s*(?:,|\band\b)\s*", re.sub(r"[\s#]+", " ", spec).strip()):
        lo, hi = ([x.strip() for x in re.split(r"[-–]", part, maxsplit=1)] + [""])[:2]
        if not hi:
            out.append(lo)
        elif "." in lo and "." in hi and lo.split(".")[0] == hi.split(".")[0]:
            major = lo.split(".")[0]
            out += [f"{major}.{i}" for i in range(int(lo.split(".")[1]), int(hi.split(".")[1]) + 1)]
        elif "." not in lo and "." not in hi:
            out += [str(i) for i in range(int(lo), int(hi) + 1)]
        else:
            out += [lo, hi]
    return out


def citations() -> dict[str, list[str]]:
    """Section number -> the files that cite it."""
    found: dict[str, list[str]] = {}
    for base in CITING:
        for path in sorted(base.rglob("*")):
            if path.suffix not in SUFFIXES or not path.is_file() or path == pathlib.Path(__file__).resolve():
                continue
            text = path.read_text(encoding="utf-8", errors="replace")
            for match in CITE.finditer(text):
                for sec in _expand(match.group(1)):
                    found.setdefault(sec, []).append(str(path.relative_to(ROOT)))
    return found


def headings() -> set[str]:
    return set(HEADING.findall(FORMULAS.read_text(encoding="utf-8")))


def test_parser_reads_the_citation_forms():
    text = ("(formulas.md sec. 9.2-9.4) formulas.md 4.1,\n    4.5, 4.6 (formulas.md sec. 1-3, 7) "
            "formulas.md sec. 4.6 and 5; formulas 8.5; formulas.md sec. 1.3 eq. 2; Formulas.md\n# sec. 2.4")
    got = [s for m in CITE.finditer(text) for s in _expand(m.group(1))]
    assert got == ["9.2", "9.3", "9.4", "4.1", "4.5", "4.6", "1", "2", "3", "7", "4.6", "5", "8.5", "1.3", "2.4"]


def test_the_code_cites_formulas():
    assert len(citations()) >= 30  # the code cites about forty distinct sections


def test_every_cited_section_has_a_heading():
    have = headings()
    missing = {sec: files for sec, files in citations().items() if sec not in have}
    assert not missing, "docs/formulas.md lacks cited sections: " + "; ".join(
        f"{sec} (cited in {', '.join(sorted(set(files)))})" for sec, files in sorted(missing.items()))


def test_subsections_sit_under_their_section():
    have = headings()
    orphans = sorted(h for h in have if "." in h and h.split(".")[0] not in have)
    assert not orphans, orphans


# ---------------------------------------------------------------- links
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
FENCE = re.compile(r"^```.*?^```", re.M | re.S)
INLINE_CODE = re.compile(r"`[^`\n]*`")


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[`*_]", "", heading.strip().lower())
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path: pathlib.Path) -> set[str]:
    body = FENCE.sub("", path.read_text(encoding="utf-8"))
    seen: dict[str, int] = {}
    out = set()
    for h in re.findall(r"^#{1,6}\s+(.+?)\s*#*\s*$", body, re.M):
        s = slug(h)
        n = seen.get(s, 0)
        seen[s] = n + 1
        out.add(s if n == 0 else f"{s}-{n}")
    return out


DOCS = sorted((ROOT / "docs").glob("*.md")) + [ROOT / "README.md"]


def links(path: pathlib.Path) -> list[str]:
    body = INLINE_CODE.sub("", FENCE.sub("", path.read_text(encoding="utf-8")))
    return [t for t in LINK.findall(body) if not re.match(r"^[a-z][a-z0-9+.-]*:", t, re.I)]


@pytest.mark.parametrize("doc", DOCS, ids=[str(d.relative_to(ROOT)) for d in DOCS])
def test_relative_links_resolve(doc):
    broken = []
    for target in links(doc):
        file_part, _, anchor = target.partition("#")
        dest = doc if not file_part else (doc.parent / file_part).resolve()
        rel = dest.relative_to(ROOT).as_posix() if dest.is_relative_to(ROOT) else str(dest)
        if not dest.exists():
            broken.append(f"{target} (no file {rel})")
            continue
        if anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            broken.append(f"{target} (no heading #{anchor} in {rel})")
    assert not broken, f"{doc.relative_to(ROOT)}: " + "; ".join(broken)


def test_slug_matches_github():
    assert slug("9.2 Checkpoint interval") == "92-checkpoint-interval"
    assert slug("0. Units, peaks and symbols") == "0-units-peaks-and-symbols"
    assert slug("Where to add a chip (`catalog/chips/`)") == "where-to-add-a-chip-catalogchips"


def test_section_numbers_are_unique():
    numbers = HEADING.findall(FORMULAS.read_text(encoding="utf-8"))
    assert len(numbers) == len(set(numbers)), sorted(n for n in numbers if numbers.count(n) > 1)


# ---------------------------------------------------------------- paths named in the docs
PATH = re.compile(r"`((?:[\w.-]+/)+[\w.-]+\.(?:py|toml|md|json))(?::\w+)?`")
#: first path parts that mean "this repository" (other repositories' files, e.g. nccl-tests'
#: doc/PERFORMANCE.md, are cited by name and not checked)
LOCAL = {"src", "tests", "benchmarks", "docs", ".ci", "superpod", "spec", "cost", "training", "serving", "scaling",
         "planners", "faces", "api", "catalog", "chips", "fabrics", "systems", "models", "calibration", "validation",
         "scale"}
BASES = [ROOT, ROOT / "src" / "superpod", ROOT / "src" / "superpod" / "catalog"]


@pytest.mark.parametrize("doc", DOCS, ids=[str(d.relative_to(ROOT)) for d in DOCS])
def test_named_source_files_exist(doc):
    """A file path the docs name in backticks (``cost/comm.py``, ``catalog/scale/cost.toml``)
    exists, relative to the repository, ``src/superpod`` or the catalog: a renamed module
    shows up here instead of leaving the docs stale."""
    named = {p for p in PATH.findall(doc.read_text(encoding="utf-8")) if p.split("/")[0] in LOCAL}
    missing = sorted(p for p in named if not any((b / p).exists() for b in BASES))
    assert not missing, f"{doc.relative_to(ROOT)} names missing files: {', '.join(missing)}"


# ---------------------------------------------------------------- dotted names named in the docs
DOTTED = re.compile(r"`((?:superpod\.)?(?:spec|cost|training|serving|scaling|planners|faces|api)(?:\.\w+)+)(?<!\.toml)(?<!\.py)`")


def resolve(name: str) -> bool:
    """Whether ``superpod.<name>`` is an importable module or an attribute chain of one."""
    import importlib

    parts = ("superpod." + name.removeprefix("superpod.")).split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for attr in parts[cut:]:
            if not hasattr(obj, attr):
                return False
            obj = getattr(obj, attr)
        return True
    return False


@pytest.mark.parametrize("doc", DOCS, ids=[str(d.relative_to(ROOT)) for d in DOCS])
def test_named_functions_exist(doc):
    """A dotted name the docs give in backticks (``serving.context.make_ctx``,
    ``superpod.planners.serve_estimate.serve``) resolves to a module, class or function."""
    named = set(DOTTED.findall(doc.read_text(encoding="utf-8")))
    missing = sorted(n for n in named if not resolve(n))
    assert not missing, f"{doc.relative_to(ROOT)} names what does not exist: {', '.join(missing)}"
