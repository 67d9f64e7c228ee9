"""`tunecast gate`: exit 0 on the satisfiable example, 1 with the reason on the unsatisfiable one, 2 naming
the line of a malformed file; JUnit and Markdown reports; the published schema is current."""

from __future__ import annotations

import json
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from api.planfile import PlanFileError, dump_schema, load_plan_file
from tests.cli.test_cli import run_cli
from tests.processes import serving

REPO_ROOT = Path(__file__).resolve().parents[2]


def run_gate(args: list[str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    return run_cli(["gate", *args], tmp_path / "data", timeout_s=300)


def test_gate_passes_the_satisfiable_example(tmp_path: Path) -> None:
    junit, markdown = tmp_path / "gate.xml", tmp_path / "summary.md"
    result = run_gate(
        [str(REPO_ROOT / "examples" / "gate-pass.yaml"), "--junit", str(junit), "--markdown", str(markdown)], tmp_path
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "PASS" in result.stdout
    suite = ET.parse(junit).getroot()
    assert suite.get("failures") == "0" and int(suite.get("tests", "0")) >= 2
    assert "✅ pass" in markdown.read_text()


def test_gate_fails_the_unsatisfiable_example_and_says_why(tmp_path: Path) -> None:
    junit = tmp_path / "gate.xml"
    result = run_gate([str(REPO_ROOT / "examples" / "gate-fail.yaml"), "--junit", str(junit)], tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "FAIL" in result.stdout
    assert "requirements.min_accuracy" in result.stdout and "against 0.990" in result.stdout
    failures = [case for case in ET.parse(junit).getroot().iter("testcase") if case.find("failure") is not None]
    assert [case.get("name") for case in failures] == ["requirements.min_accuracy"]


def test_gate_malformed_file_exits_2_naming_the_line(tmp_path: Path) -> None:
    plan = tmp_path / "plan.yaml"
    plan.write_text("task: {name: x}\ngrid:\n  models: [llama-7b]\n  methods:\n    - {name: lora, rank: -3}\n")
    result = run_gate([str(plan)], tmp_path)
    assert result.returncode == 2
    assert f"{plan}:5:" in result.stderr and "grid.methods[0].rank" in result.stderr


def test_gate_unparseable_yaml_exits_2(tmp_path: Path) -> None:
    plan = tmp_path / "plan.yaml"
    plan.write_text("task: {name: x\n  bad")
    result = run_gate([str(plan)], tmp_path)
    assert result.returncode == 2 and "not valid YAML" in result.stderr


@pytest.mark.parametrize(
    ("text", "line", "field"),
    [
        (
            "task: {name: x}\ngrid:\n  models: [llama-7b]\n  methods: [{name: zero_shot}]\nbudget:\n  max_usd: -4\n",
            6,
            "budget.max_usd",
        ),
        ("task: {name: x}\n", 1, "plan"),
        (
            "task: {name: x}\ncandidates:\n  - model: llama-7b\n    method: {name: icl, shots: 0}\n",
            4,
            "candidates[0].method.shots",
        ),
        ("task: {name: x, kind: regression}\ngrid: {models: [a], methods: [{name: zero_shot}]}\n", 1, "task"),
    ],
)
def test_plan_file_errors_point_at_the_line(text: str, line: int, field: str) -> None:
    with pytest.raises(PlanFileError) as error:
        load_plan_file(text)
    assert error.value.line == line
    assert (error.value.field or "").startswith(field)


def test_published_schema_is_current() -> None:
    published = (REPO_ROOT / "docs" / "plan-file.schema.json").read_text()
    assert published == dump_schema(), "regenerate with: tunecast plan-schema > docs/plan-file.schema.json"
    schema = json.loads(published)
    assert {"task", "grid", "candidates", "budget", "requirements"} <= set(schema["properties"])


@pytest.mark.integration
@pytest.mark.timeout(240)
def test_gate_against_a_running_server(tmp_path: Path) -> None:
    """`--server URL` asks POST /v1/gate of a real `tunecast serve` and exits like the offline gate."""
    data_dir = tmp_path / "server-data"
    data_dir.mkdir()
    with serving(data_dir) as server:
        passing = run_gate([str(REPO_ROOT / "examples" / "gate-pass.yaml"), "--server", server.url], tmp_path)
        assert passing.returncode == 0, passing.stdout + passing.stderr
        failing = run_gate([str(REPO_ROOT / "examples" / "gate-fail.yaml"), "--server", server.url], tmp_path)
        assert failing.returncode == 1 and "requirements.min_accuracy" in failing.stdout
        plan = tmp_path / "bad.yaml"
        plan.write_text("task: {name: x}\ngrid:\n  models: [no-such-model]\n  methods: [{name: zero_shot}]\n")
        invalid = run_gate([str(plan), "--server", server.url], tmp_path)
        assert invalid.returncode == 2 and f"{plan}:3:" in invalid.stderr
