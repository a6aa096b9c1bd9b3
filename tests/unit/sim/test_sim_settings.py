"""Settings precedence (flags > env > file > defaults) and one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from servegate.cli.sim import sim
from servegate.errors import ConfigError
from servegate.sim.settings import SimSettings, load_settings


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "sim.yaml"
    p.write_text(text)
    return p


def test_defaults() -> None:
    s = load_settings(None, {}, {})
    assert s == SimSettings()


def test_precedence(tmp_path: Path) -> None:
    cfg = write(tmp_path, "seed: 1\nport: 1111\nmodel_name: from-file\nmax_num_seqs: 3\n")
    env = {"SERVEGATE_SIM_SEED": "2", "SERVEGATE_SIM_PORT": "2222", "OTHER": "x"}
    s = load_settings(cfg, env, {"seed": 3, "port": None})
    assert s.seed == 3  # flag beats env and file
    assert s.port == 2222  # env beats file (the flag was not given)
    assert s.model_name == "from-file"  # file beats default
    assert s.max_num_seqs == 3
    assert s.decode_base_s == SimSettings().decode_base_s


def test_env_bool_and_literal() -> None:
    env = {"SERVEGATE_SIM_TIMESTAMPS": "true", "SERVEGATE_SIM_LATENCY_MODEL": "distribution"}
    s = load_settings(None, env, {})
    assert s.timestamps is True and s.latency_model == "distribution"


def test_unknown_env_var_is_an_error() -> None:
    with pytest.raises(ConfigError, match="SERVEGATE_SIM_SEEED: unknown"):
        load_settings(None, {"SERVEGATE_SIM_SEEED": "1"}, {})


def test_bad_env_value_names_the_variable() -> None:
    with pytest.raises(ConfigError, match="SERVEGATE_SIM_PORT: port"):
        load_settings(None, {"SERVEGATE_SIM_PORT": "eighty"}, {})


def test_bad_flag_value_names_the_flag() -> None:
    with pytest.raises(ConfigError, match="--fault-stall-rate: fault_stall_rate"):
        load_settings(None, {}, {"fault_stall_rate": 2.0})


def test_file_typo_names_file_and_line(tmp_path: Path) -> None:
    cfg = write(tmp_path, "seed: 1\nmax_num_seq: 4\n")
    with pytest.raises(ConfigError) as exc:
        load_settings(cfg, {}, {})
    msg = str(exc.value)
    assert f"{cfg}:2: max_num_seq: unknown field" in msg
    assert "\n" not in msg


def test_missing_and_malformed_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        load_settings(tmp_path / "nope.yaml", {}, {})
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_settings(write(tmp_path, "seed: [1\n"), {}, {})


def test_cli_print_settings_merges_sources(tmp_path: Path) -> None:
    cfg = write(tmp_path, "seed: 5\nmodel_name: m\n")
    res = CliRunner().invoke(
        sim,
        ["--config", str(cfg), "--model-name", "flag-model", "--timestamps", "--print-settings"],
        env={"SERVEGATE_SIM_PORT": "9999"},
    )
    assert res.exit_code == 0, res.output
    data = yaml.safe_load(res.output)
    assert data["seed"] == 5 and data["model_name"] == "flag-model"
    assert data["port"] == 9999 and data["timestamps"] is True


def test_cli_help_lists_every_setting() -> None:
    res = CliRunner().invoke(sim, ["--help"], terminal_width=200)
    assert res.exit_code == 0
    for name in SimSettings.model_fields:
        assert "--" + name.replace("_", "-") in res.output


def test_cli_bad_input_is_a_user_error(tmp_path: Path) -> None:
    res = CliRunner().invoke(sim, ["--config", str(tmp_path / "missing.yaml")])
    assert res.exit_code == 1
    assert "missing.yaml: no such file" in res.output
    res = CliRunner().invoke(sim, ["--port", "notanumber"])
    assert res.exit_code == 2 and "--port" in res.output


def test_example_settings_files_validate() -> None:
    root = Path(__file__).resolve().parents[3] / "loadprofiles" / "sim"
    files = sorted(root.glob("*.yaml"))
    assert files, "loadprofiles/sim/ should hold example settings"
    for f in files:
        load_settings(f, {}, {})


def test_the_simulator_binds_loopback_unless_told_otherwise() -> None:
    # servegate runs as root on its users' machines: nothing listens beyond loopback by default
    assert SimSettings().host == "127.0.0.1"
    printed = CliRunner().invoke(sim, ["--print-settings"], env={"SERVEGATE_SIM_HOST": None})
    assert printed.exit_code == 0 and yaml.safe_load(printed.output)["host"] == "127.0.0.1"
    flag = CliRunner().invoke(sim, ["--host", "0.0.0.0", "--print-settings"])
    assert yaml.safe_load(flag.output)["host"] == "0.0.0.0"
    env = CliRunner().invoke(sim, ["--print-settings"], env={"SERVEGATE_SIM_HOST": "::1"})
    assert yaml.safe_load(env.output)["host"] == "::1"


def test_the_simulator_image_listens_on_the_pods_address() -> None:
    # In a pod the network namespace is the pod's own: probes and Services reach its IP.
    from servegate.cluster.node.images import SIM_CONFIG

    assert "SERVEGATE_SIM_HOST=0.0.0.0" in SIM_CONFIG.env
