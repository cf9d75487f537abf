"""The YAML reader: numbers as written, no duplicate keys, no alias bombs, errors name the file."""

import pytest

from crossbar.experiments import ConfigError, load_config
from crossbar.yamlio import YamlFileError, parse_yaml, read_yaml


def test_si_numbers_are_floats():
    assert parse_yaml("lr: 1e-3\ng: 25e-6\nn: 3\n") == {"lr": 1e-3, "g": 25e-6, "n": 3}


def test_sweep_config_reads_lr_written_without_a_dot(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("sigma_val: [0]\nlr: 1e-3\n")
    assert load_config(path).lr == 1e-3


def test_duplicate_keys_are_refused():
    with pytest.raises(YamlFileError, match="duplicate key 'a'"):
        parse_yaml("a: 1\nb: 2\na: 3\n", name="c.yaml")


def test_alias_bomb_is_refused_quickly(tmp_path):
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [*a{i-1}, *a{i-1}, *a{i-1}, *a{i-1}, *a{i-1}, *a{i-1}, *a{i-1}, "
              f"*a{i-1}, *a{i-1}, *a{i-1}]" for i in range(1, 10)]
    path = tmp_path / "bomb.yaml"
    path.write_text("model_kwargs:\n" + "\n".join("  " + line for line in lines) + "\n")
    assert path.stat().st_size < 2000  # 10**10 leaves once expanded
    with pytest.raises(ConfigError, match="bomb.yaml.*aliases"):
        load_config(path)  # refused while parsing, before anything could expand it


def test_deep_nesting_is_a_clear_error(tmp_path):
    path = tmp_path / "deep.yaml"
    path.write_text("a: " + "[" * 5000 + "]" * 5000 + "\n")
    with pytest.raises(YamlFileError, match="deep.yaml"):
        read_yaml(path)


@pytest.mark.parametrize("kind", ["binary", "folder", "missing", "huge"])
def test_unreadable_files_name_the_file(tmp_path, kind):
    path = tmp_path / "x.yaml"
    if kind == "binary":
        path.write_bytes(b"\xff\xfe\x00binary")
    elif kind == "folder":
        path.mkdir()
    elif kind == "huge":
        path.write_text("a: 1\n" + "#" * (1 << 20) + "\n")
    with pytest.raises(YamlFileError) as err:
        read_yaml(path)
    assert str(path) in str(err.value)
