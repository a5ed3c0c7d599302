"""Every option is validated when the decorator is applied; nothing is created on error."""

from __future__ import annotations

import pytest

import kinetic
from kinetic import SpecError


def f(x):
    return x


@pytest.mark.parametrize(
    ("options", "option"),
    [
        ({"accelerator": "quantum-9000"}, "accelerator"),
        ({"accelerator": "l4x3"}, "accelerator"),
        ({"backend": "nomad"}, "backend"),
        ({"timeout": 0}, "timeout"),
        ({"timeout": -5}, "timeout"),
        ({"timeout": 8 * 24 * 3600}, "timeout"),
        ({"timeout": "1h"}, "timeout"),
        ({"grace_period": -1}, "grace_period"),
        ({"env": {"BAD-NAME": "x"}}, "env"),
        ({"env": {"X": object()}}, "env['X']"),
        ({"env": ["X=1"]}, "env"),
        ({"capture_env": ["BAD*PATTERN"]}, "capture_env"),
        ({"store": "s3://bucket"}, "store"),
        ({"store": "gs://"}, "store"),
        ({"store": "gs:///x"}, "store"),
        ({"name": ""}, "name"),
        ({"namespace": "Not_Valid"}, "namespace"),
        ({"acclerator": "cpu"}, "option"),
    ],
)
def test_bad_option_names_option_value_and_accepted(options, option, tmp_path):
    with pytest.raises(SpecError) as info:
        kinetic.run(**options)(f)
    assert info.value.option == option
    assert f"invalid {option}=" in str(info.value)
    assert not (tmp_path / "store").exists()


def test_unknown_accelerator_lists_known_ones():
    with pytest.raises(SpecError, match="nvidia-l4"):
        kinetic.run(accelerator="tpu-v99")(f)


def test_accelerator_aliases_are_canonical():
    assert kinetic.run(accelerator=" L4 ")(f).spec.accelerator == "nvidia-l4"
    assert kinetic.run(accelerator="a100-80gbx8")(f).spec.accelerator.startswith("nvidia-a100-80gb")


def test_spec_is_json_round_trippable():
    import json

    spec = kinetic.JobSpec(accelerator="l4x2", env={"A": 1}, capture_env=["HF_*"], timeout=60)
    again = kinetic.JobSpec.from_dict(json.loads(json.dumps(spec.to_dict())))
    assert again == spec and again.env == {"A": "1"}


def test_decorator_rejects_what_cannot_work():
    with pytest.raises(TypeError, match="classmethod"):
        kinetic.run(classmethod(f))
    with pytest.raises(TypeError, match="needs a function"):
        kinetic.run(42)

    async def coro():
        pass

    with pytest.raises(TypeError, match=r"asyncio\.run"):
        kinetic.run()(coro)
    with pytest.raises(kinetic.SpecError):  # every refusal is a KineticError too
        kinetic.run(42)


@pytest.mark.parametrize("job_id", ["../x", "a/b", "", "UPPER", "-x", "x" * 64])
def test_bad_job_ids_rejected(job_id):
    with pytest.raises(kinetic.InvalidJobIdError):
        kinetic.attach(job_id)


def test_settings_precedence(tmp_path, monkeypatch):
    from kinetic.spec import settings

    cfg = tmp_path / "config.toml"
    cfg.write_text('backend = "kubernetes"\nnamespace = "ml"\n')
    monkeypatch.setenv("KINETIC_CONFIG", str(cfg))
    assert settings.resolve("namespace").source.startswith("config")
    assert settings.resolve("backend").value == "kubernetes"
    monkeypatch.setenv("KINETIC_BACKEND", "local")
    assert settings.resolve("backend").source == "env KINETIC_BACKEND"
    assert settings.resolve("backend", "kubernetes").source == "argument"
    monkeypatch.delenv("KINETIC_STORE")
    assert settings.resolve("store").source == "default"
