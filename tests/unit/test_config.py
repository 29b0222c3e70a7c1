from __future__ import annotations

from pathlib import Path

import pytest

from pilothouse.core.config import load_config, parse_config
from pilothouse.core.errors import ConfigError

pytestmark = pytest.mark.unit

TEMPLATE = Path(__file__).parents[2] / "pilothouse" / "cli" / "templates" / "pilothouse.yaml"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "pilothouse.yaml"
    path.write_text(text)
    return path


def test_starter_template_is_valid() -> None:
    config = load_config(TEMPLATE)
    assert config.server.port == 8787
    assert {m.name for m in config.models} == {"smollm2", "local-embed"}


def test_unknown_key_names_its_path(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as exc:
        load_config(write(tmp_path, "server:\n  prot: 1\n"))
    assert exc.value.path == "server.prot"
    assert "pilothouse.yaml" in str(exc.value)


def test_wrong_type_names_list_index(tmp_path: Path) -> None:
    text = (
        "providers: {f: {type: fake}}\nmodels:\n  - {name: a, provider: f, upstream: x}\n"
        "  - {name: b, provider: f, upstream: x, input_price: -1}\n"
    )
    with pytest.raises(ConfigError) as exc:
        load_config(write(tmp_path, text))
    assert exc.value.path == "models[1].input_price"


def test_unknown_provider_reference(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as exc:
        load_config(write(tmp_path, "models:\n  - {name: a, provider: nope, upstream: x}\n"))
    assert exc.value.path == "models[0].provider"
    assert "unknown provider 'nope'" in exc.value.message


def test_yaml_syntax_error_names_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as exc:
        load_config(write(tmp_path, "server:\n  port: 1\n bad: [\n"))
    assert "line 3" in exc.value.message


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "absent.yaml")


def test_secrets_from_env_and_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PH_TEST_ADMIN", "from-env")
    secret_file = tmp_path / "key.txt"
    secret_file.write_text("from-file\n")
    config = parse_config(
        {
            "admin_key": "env:PH_TEST_ADMIN",
            "keys": [{"name": "ci", "secret": f"file:{secret_file}"}],
        }
    )
    assert config.admin_key is not None
    assert config.admin_key.get_secret_value() == "from-env"
    assert config.keys[0].secret.get_secret_value() == "from-file"
    assert "from-env" not in repr(config)
    assert "from-env" not in config.model_dump_json()


def test_missing_env_secret_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PH_TEST_MISSING", raising=False)
    with pytest.raises(ConfigError) as exc:
        parse_config({"admin_key": "env:PH_TEST_MISSING"})
    assert exc.value.path == "admin_key"
    assert "PH_TEST_MISSING" in exc.value.message


def test_fingerprint_changes_with_config() -> None:
    a = parse_config({"server": {"port": 1}})
    b = parse_config({"server": {"port": 2}})
    assert a.fingerprint() != b.fingerprint()
    assert a.fingerprint() == parse_config({"server": {"port": 1}}).fingerprint()


def test_provider_options_are_validated_by_the_provider() -> None:
    from pilothouse.core.config import ProviderConfig
    from pilothouse.providers import build_provider

    with pytest.raises(ConfigError) as exc:
        build_provider("f", ProviderConfig(type="fake", latency_ms="slow"))  # type: ignore[call-arg]
    assert exc.value.path == "providers.f.latency_ms"
    with pytest.raises(ConfigError) as exc:
        build_provider("x", ProviderConfig(type="nonesuch"))
    assert exc.value.path == "providers.x.type"
