"""``pilothouse prompts`` as a user runs it: real processes, a real config file and SQLite store.
(Push, promote, rollback and history against a serving gateway are in test_prompts_gateway.py.)"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from tests.integration.prompt_support import cli

pytestmark = pytest.mark.integration

EXAMPLE = Path(__file__).parents[2] / "examples" / "prompts" / "support-reply.yaml"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "pilothouse.yaml").write_text(yaml.safe_dump({"storage": {"url": "sqlite:///ph.db"}}))
    (tmp_path / "prompts").mkdir()
    shutil.copy(EXAMPLE, tmp_path / "prompts")
    return tmp_path


def test_bad_files_push_nothing_and_name_file_and_line(project: Path) -> None:
    (project / "prompts" / "broken.yaml").write_text(
        "messages:\n  - role: user\n    content: '{{ who }}'\n"  # who is not declared
        "params:\n  temperature: hot\n"
    )
    result = cli("prompts", "push", cwd=project, check=False)
    assert result.returncode == 1
    assert "prompts/broken.yaml:5" in result.stderr and "params.temperature" in result.stderr
    listed = cli("prompts", "list", cwd=project)
    assert "support-reply" not in listed.stdout  # validated all files before pushing any


def test_list_show_diff_and_pull(project: Path) -> None:
    cli("prompts", "push", "--why", "first", cwd=project)
    source = project / "prompts" / "support-reply.yaml"
    source.write_text(source.read_text().replace("at most three sentences", "at most two sentences"))
    cli("prompts", "push", "--who", "bea", "--why", "shorter answers", cwd=project)
    cli("prompts", "promote", "support-reply", "1", "--label", "staging", cwd=project)

    listed = cli("prompts", "list", cwd=project).stdout
    assert "support-reply" in listed and "staging=1" in listed

    shown = cli(
        "prompts",
        "show",
        "support-reply@latest",
        "--var",
        "customer=Ada",
        "--var",
        "question=Why?",
        cwd=project,
    ).stdout
    assert "support-reply@2" in shown and "by bea: shorter answers" in shown
    assert "at most two sentences" in shown and "user: Ada asks: Why?" in shown

    diff = cli("prompts", "diff", "support-reply", "staging", cwd=project).stdout
    assert "--- support-reply@1" in diff and "+++ support-reply@2" in diff
    assert "-    You are a support agent for {{ product }}. Answer in at most three sentences" in diff

    pulled = cli("prompts", "pull", "--dir", "pulled", "--version", "staging", cwd=project).stdout
    assert "pulled/support-reply.yaml" in pulled
    text = (project / "pulled" / "support-reply.yaml").read_text()
    assert text.startswith("# support-reply version 1 ") and "at most three sentences" in text
