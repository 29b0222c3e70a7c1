"""Labelled sets from PyRIT, AgentDojo, inspect-evals and spikee, and our own files."""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from bench.injection import literals
from bench.injection.common import (
    HERE,
    Example,
    harmful_behaviours,
    package_dir,
    read_json,
    read_jsonl,
    rng_for,
)
from bench.injection.garak_sets import encoded

# --- pyrit ----------------------------------------------------------------------------------------


def _pyrit() -> Path:
    return package_dir("pyrit") / "pyrit/datasets"


def pyrit_jailbreaks() -> list[Example]:
    """PyRIT's jailbreak templates (in the wild, Pliny, jailbreakchat...), each around one of garak's
    harmful-behaviour requests."""
    rng, behaviours, out = rng_for("pyrit-jb"), harmful_behaviours(), []
    base = _pyrit() / "jailbreak/templates"
    for path in sorted(base.rglob("*.yaml")):
        if "multi_parameter" in path.parts:
            continue
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        value = doc.get("value") if isinstance(doc, dict) else None
        if not isinstance(value, str) or len(value) < 40:
            continue
        text = re.sub(r"\{\{\s*prompt\s*\}\}", rng.choice(behaviours), value)
        if "{{" in text:
            continue
        family = path.parent.relative_to(base).as_posix()
        out.append(Example(text.strip(), 1, "pyrit.jailbreak_templates", f"pyrit:{family}/{path.stem}"))
    return out


def pyrit_steal_system() -> list[Example]:
    doc = yaml.safe_load(
        (_pyrit() / "seed_datasets/local/psfuzz_steal_system.prompt").read_text(encoding="utf-8")
    )
    out = []
    for seed in doc["seeds"]:
        for part in re.split(r"\s\|\s+(?=\d+\.|你)", str(seed["value"])):
            part = re.sub(r"^\s*\d+\.\s*", "", part).strip(" |\n")
            if part:
                out.append(Example(part, 1, "pyrit.psfuzz_steal_system", "psfuzz"))
    return out


def pyrit_descriptions() -> list[Example]:
    out, openings = [], set()
    for path in sorted(_pyrit().rglob("*.yaml")) + sorted(_pyrit().rglob("*.prompt")):
        try:
            doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError:
            continue
        text = doc.get("description") if isinstance(doc, dict) else None
        # Hundreds of in-the-wild templates share one boilerplate description: keep one of each.
        if isinstance(text, str) and len(text) >= 60 and text[:60] not in openings:
            openings.add(text[:60])
            out.append(Example(text.strip(), 0, "meta.descriptions", f"pyrit-doc:{path.parent.name}"))
    return out


# --- agentdojo ------------------------------------------------------------------------------------


def _agentdojo() -> Path:
    return package_dir("agentdojo") / "agentdojo"


_SUITES = ("workspace", "travel", "banking", "slack")


def _yaml_with_includes(path: Path, marks: dict[str, str]) -> Any:
    raw = path.read_text(encoding="utf-8")
    for name, token in marks.items():
        raw = raw.replace("{" + name + "}", token)
    include = re.compile(r"^(\s*\w+:\s*)!include\s+(\S+)\s*$", re.MULTILINE)
    raw = include.sub(lambda m: f"{m.group(1)}__include__{m.group(2)}", raw)
    data = yaml.safe_load(raw)

    def expand(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: expand(v) for k, v in node.items()}
        if isinstance(node, list):
            return [expand(v) for v in node]
        if isinstance(node, str) and node.startswith("__include__"):
            return _yaml_with_includes(path.parent / node.removeprefix("__include__"), marks)
        return node

    return expand(data)


def _leaves(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for value in node.values():
            yield from _leaves(value)
    elif isinstance(node, list):
        for value in node:
            yield from _leaves(value)
    elif isinstance(node, str):
        yield node


def _agentdojo_suite(suite: str) -> tuple[dict[str, str], list[str]]:
    """Injection vector name -> default text, and every text leaf with ``⟦name⟧`` marks for vectors."""
    base = _agentdojo() / "data/suites" / suite
    vectors = yaml.safe_load((base / "injection_vectors.yaml").read_text(encoding="utf-8"))
    defaults = {name: str(v.get("default", "")) for name, v in vectors.items()}
    marks = {name: f"⟦{name}⟧" for name in defaults}
    return defaults, list(_leaves(_yaml_with_includes(base / "environment.yaml", marks)))


def _agentdojo_templates() -> dict[str, str]:
    templates: dict[str, str] = {}
    for path in sorted((_agentdojo() / "attacks").glob("*_attacks.py")):
        for text in literals.string_constants(path):
            names = set(re.findall(r"\{(\w+)\}", text))
            if "goal" in names and names <= {"goal", "user", "model"} and "`" not in text:  # not docstrings
                templates[f"{path.stem}:{len(templates)}"] = text
    return templates


def _agentdojo_tasks(suite: str, kind: str, attr: str) -> list[str]:
    path = _agentdojo() / f"default_suites/v1/{suite}/{kind}.py"
    found = literals.classes(path)
    return [str(attrs[attr]) for _, attrs, _ in found.values() if isinstance(attrs.get(attr), str)]


def agentdojo_injections() -> list[Example]:
    """AgentDojo's attack templates (important instructions, ignore previous, InjecAgent, system
    message, TODO) with its injection goals, placed at its injection points in emails, files,
    reviews and messages of its four task suites."""
    templates, out = _agentdojo_templates(), []
    for suite in _SUITES:
        rng = rng_for(f"agentdojo:{suite}")
        defaults, leaves = _agentdojo_suite(suite)
        goals = _agentdojo_tasks(suite, "injection_tasks", "GOAL")
        for leaf in leaves:
            names = [n for n in defaults if f"⟦{n}⟧" in leaf]
            for name in names:
                for key in rng.sample(sorted(templates), min(3, len(templates))):
                    attack = templates[key].format(goal=rng.choice(goals), user="Emma Johnson", model="GPT-4")
                    text = leaf
                    for other in names:
                        if other != name:
                            text = text.replace(f"⟦{other}⟧", defaults[other])
                    at = text.index(f"⟦{name}⟧")
                    text = text.replace(f"⟦{name}⟧", attack)
                    out.append(
                        Example(
                            text, 1, "agentdojo.injections", f"dojo:{suite}:{key}", (at, at + len(attack))
                        )
                    )
    return out


def agentdojo_documents() -> list[Example]:
    out = []
    for suite in _SUITES:
        defaults, leaves = _agentdojo_suite(suite)
        for leaf in leaves:
            for name, value in defaults.items():
                leaf = leaf.replace(f"⟦{name}⟧", value)
            if len(leaf) >= 60:
                out.append(Example(leaf, 0, "agentdojo.documents", f"dojo-doc:{suite}"))
    return out


def agentdojo_user_tasks() -> list[Example]:
    out = []
    for suite in _SUITES:
        for prompt in _agentdojo_tasks(suite, "user_tasks", "PROMPT"):
            out.append(Example(prompt, 0, "agentdojo.user_tasks", f"dojo-user:{suite}"))
    return out


# --- inspect-evals --------------------------------------------------------------------------------


def _inspect() -> Path:
    return package_dir("inspect-evals") / "inspect_evals"


def writingbench() -> list[Example]:
    """WritingBench writing requests (English ones), many with long source material pasted in."""
    rows = [
        json.loads(line) for line in (_inspect() / "writingbench/benchmark_all.jsonl").open(encoding="utf-8")
    ]
    english = [r for r in rows if not re.search(r"[\u4e00-\u9fff]", r["query"])]
    rng = rng_for("writingbench")
    return [
        Example(r["query"], 0, "inspect_evals.writingbench", f"wb:{r['domain2']}")
        for r in rng.sample(english, 400)
    ]


def freshqa() -> list[Example]:
    path = _inspect() / "abstention_bench/data/freshqa/FreshQA_v12182024.csv"
    lines = path.read_text(encoding="utf-8").splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("id,split,question"))
    rows = list(csv.DictReader(lines[header:]))
    return [
        Example(r["question"], 0, "inspect_evals.freshqa", f"fq:{int(r['id']) // 25}")
        for r in rows
        if r["question"]
    ]


def persistbench() -> list[Example]:
    out = []
    for path in sorted((_inspect() / "persistbench/benchmark_samples").glob("*.jsonl")):
        for i, line in enumerate(path.open(encoding="utf-8")):
            row = json.loads(line)
            out.append(Example(row["query"], 0, "inspect_evals.persistbench", f"pb:{path.stem}:{i // 20}"))
    return out


def swe_lancer() -> list[Example]:
    """GitHub issue descriptions of SWE-Lancer tasks: the tool content a coding agent reads."""
    csv.field_size_limit(1 << 30)
    path = _inspect() / "swe_lancer/data/all_swelancer_tasks.csv"
    with path.open(encoding="utf-8", newline="") as handle:
        rows = [r for r in csv.DictReader(handle) if len(r["description"]) >= 200]
    rng = rng_for("swe-lancer")
    return [
        Example(r["description"].replace("\\n", "\n"), 0, "inspect_evals.swe_lancer", f"swe:{i // 10}")
        for i, r in enumerate(rng.sample(rows, len(rows)))
    ]


def tau2_documents() -> list[Example]:
    """tau2-bench's bank knowledge base (procedures full of imperatives) and agent policy sections."""
    import gzip

    domains = _inspect() / "tau2/data/domains"
    with gzip.open(domains / "banking_knowledge/documents.json.gz") as handle:
        documents = json.loads(handle.read().decode("utf-8"))
    rng = rng_for("tau2")
    out = [
        Example(f"{d['title']}\n\n{d['content']}", 0, "inspect_evals.tau2", f"tau2-doc:{i // 10}")
        for i, d in enumerate(rng.sample(documents, 500))
    ]
    for path in sorted(domains.glob("*/*policy*.txt")) + sorted(domains.glob("*/*policy*.md")):
        for i, section in enumerate(re.split(r"\n(?=#+ )", path.read_text(encoding="utf-8"))):
            if len(section) >= 200:
                out.append(
                    Example(
                        section.strip(), 0, "inspect_evals.tau2", f"tau2-policy:{path.parent.name}:{i // 4}"
                    )
                )
    return out


def _ipi_samples() -> list[dict[str, Any]]:
    return list(read_json(_inspect() / "ipi_coding_agent/dataset/samples.json"))


def _ipi_text(sample: dict[str, Any]) -> str:
    files = "\n\n".join(f"--- {name} ---\n{body}" for name, body in sample["repo_files"].items())
    return f"{sample['task_description']}\n\nIssue:\n{sample['issue_text']}\n\nRepository:\n{files}"


def ipi_coding_agent() -> list[Example]:
    """CodeIPI: bug-fix tasks whose issue, README, code comments or config carry an instruction."""
    return [
        Example(_ipi_text(s), int(not s["is_benign"]), "inspect_evals.ipi_coding_agent", f"ipi:{s['id']}")
        for s in _ipi_samples()
    ]


def agent_threat_bench() -> list[Example]:
    """AgentThreatBench: poisoned inboxes, customer records and memory stores (rendered as the JSON
    an agent's tool would return)."""
    out = []
    for path in sorted((_inspect() / "agent_threat_bench/data").glob("*.json")):
        for row in read_json(path):
            store = {k: v for k, v in row.items() if k in ("inbox", "customer_db", "memory_store")}
            text = json.dumps(store, indent=1, ensure_ascii=False)
            out.append(Example(text, 1, "inspect_evals.agent_threat_bench", f"atb:{row['id']}"))
    return out


def inspect_readmes() -> list[Example]:
    """README paragraphs of inspect-evals' security benchmarks: prose about attacks (benign)."""
    out = []
    for name in ("ipi_coding_agent", "agent_threat_bench", "b3", "agentdojo", "coconot", "xstest"):
        path = _inspect() / name / "README.md"
        if not path.exists():
            continue
        for paragraph in re.split(r"\n\s*\n", path.read_text(encoding="utf-8")):
            paragraph = paragraph.strip()
            if len(paragraph) >= 200 and not paragraph.startswith(("```", "|", "<!--", "-", "*", "#")):
                out.append(Example(paragraph, 0, "meta.descriptions", f"readme:{name}"))
    return out


# --- spikee ---------------------------------------------------------------------------------------


def _spikee() -> Path:
    return package_dir("spikee") / "spikee/data/workspace/datasets"


def spikee_attacks() -> list[Example]:
    """Spikee's jailbreak wrappers around its instructions (exfiltration, XSS, system-prompt
    extraction...), alone or inside its sample emails and documents."""
    rng, folders = rng_for("spikee"), ("seeds-cybersec-2026-01", "seeds-sysmsg-extraction-2025-04")
    jailbreaks = {j["id"]: j["text"] for f in folders for j in read_jsonl(_spikee() / f / "jailbreaks.jsonl")}
    instructions = [
        i["instruction"] for f in folders for i in read_jsonl(_spikee() / f / "instructions.jsonl")
    ]
    documents = [d for d in read_jsonl(_spikee() / "seeds-llm-mailbox/base_user_inputs.jsonl")]
    out = []
    for key in sorted(jailbreaks):
        for _ in range(2):
            attack = jailbreaks[key].replace("<INSTRUCTION>", rng.choice(instructions).rstrip("."))
            document = rng.choice([*documents, None])
            if document is None:
                out.append(Example(attack, 1, "spikee.attacks", f"spikee:{key}"))
                continue
            body = document["document"]
            at = rng.choice([0, len(body)])
            text = body[:at] + ("\n" if at else "") + attack + ("\n" if not at else "") + body[at:]
            start = at + (1 if at else 0)
            out.append(Example(text, 1, "spikee.attacks", f"spikee:{key}", (start, start + len(attack))))
    return out


def spikee_benign() -> list[Example]:
    out = [
        Example(d["document"], 0, "spikee.benign", "spikee-doc")
        for d in read_jsonl(_spikee() / "seeds-llm-mailbox/base_user_inputs.jsonl")
    ]
    for row in read_jsonl(_spikee() / "seeds-investment-advice-fp/standalone_user_inputs.jsonl"):
        out.append(Example(row["text"], 0, "spikee.benign", "spikee-fp"))
    return out


# --- ours -----------------------------------------------------------------------------------------


def benign_triggers() -> list[Example]:
    lines = (HERE / "benign_triggers.txt").read_text(encoding="utf-8").splitlines()
    texts = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    return [
        Example(t.replace("\\n", "\n"), 0, "ours.benign_triggers", f"bt:{i}") for i, t in enumerate(texts)
    ]


def hard_negatives() -> list[Example]:
    lines = (HERE / "benign_hard_train.txt").read_text(encoding="utf-8").splitlines()
    texts = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    return [Example(t.replace("\\n", "\n"), 0, "ours.hard_negatives", f"hn:{i}") for i, t in enumerate(texts)]


def encoded_benign() -> list[Example]:
    questions = [e.text for e in freshqa()]
    return encoded(
        rng_for("encoded-benign").sample(questions, 80), 0, "garak.encoded_benign", rng_for("encb")
    )
