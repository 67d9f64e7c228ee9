"""/v1/datasets: JSONL uploads validated line by line, stored by content hash, split deterministically."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from storage.repositories.datasets import split_indices
from storage.settings import Settings


def jsonl(rows: list[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(row) + "\n" for row in rows).encode()


CLASSIFICATION = [
    {"text": f"review number {i} was {'good' if i % 2 else 'bad'}", "label": "pos" if i % 2 else "neg"}
    for i in range(20)
]
MULTIPLE_CHOICE = [
    {"question": f"{i} + 1 = ?", "choices": [str(i + 1), str(i + 2), str(i)], "answer": 0} for i in range(10)
]
GENERATION = [{"prompt": f"echo {i}", "answer": str(i)} for i in range(5)] + [
    {"prompt": "say a digit", "checker": {"regex": r"\d"}}
]


def upload(client: TestClient, content: bytes, **form: Any) -> Any:
    return client.post("/v1/datasets", files={"file": ("data.jsonl", content, "application/jsonl")}, data=form)


@pytest.mark.parametrize(
    ("rows", "kind", "chance"),
    [
        (CLASSIFICATION, "classification", 0.5),
        (MULTIPLE_CHOICE, "multiple_choice", 1 / 3),
        (GENERATION, "generation", None),
    ],
)
def test_upload_each_kind_for_a_task(
    client: TestClient, settings: Settings, rows: list[dict[str, Any]], kind: str, chance: float | None
) -> None:
    task = client.post("/v1/tasks", json={"name": "t", "kind": kind}).json()
    content = jsonl(rows)
    response = upload(client, content, task=task["id"])
    assert response.status_code == 201, response.text
    dataset = response.json()
    assert dataset["kind"] == kind and dataset["task"] == task["id"]
    assert dataset["content_sha256"] == hashlib.sha256(content).hexdigest()
    assert dataset["n_train"] + dataset["n_test"] == len(rows)
    assert dataset["n_test"] == max(1, round(0.2 * len(rows)))
    stored = settings.data_dir / "datasets" / f"{dataset['content_sha256']}.jsonl"
    assert stored.read_bytes() == content
    train, test = split_indices(len(rows), test_fraction=0.2, seed=0)
    assert dataset["split"]["test_indices"] == test and len(train) == dataset["n_train"]
    updated = client.get(f"/v1/tasks/{task['id']}").json()
    assert (
        updated["chance_accuracy"] == pytest.approx(chance)
        if chance is not None
        else updated["chance_accuracy"] is None
    )
    assert updated["stats"]["n_examples"] == len(rows)


def test_repeated_upload_of_the_same_content_is_idempotent(client: TestClient, settings: Settings) -> None:
    first = upload(client, jsonl(CLASSIFICATION))
    second = upload(client, jsonl(CLASSIFICATION))
    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json() == second.json()
    assert len(list(Path(settings.data_dir / "datasets").iterdir())) == 1
    other_seed = upload(client, jsonl(CLASSIFICATION), seed=7)
    assert other_seed.status_code == 201 and other_seed.json()["id"] != first.json()["id"]
    assert other_seed.json()["split"]["test_indices"] != first.json()["split"]["test_indices"]


def test_split_is_deterministic_and_disjoint() -> None:
    train, test = split_indices(50, test_fraction=0.3, seed=3)
    assert (train, test) == split_indices(50, test_fraction=0.3, seed=3)
    assert sorted(train + test) == list(range(50)) and len(test) == 15


@pytest.mark.parametrize(
    ("lines", "kind", "pointer", "needle"),
    [
        (b'{"text": "a", "label": 1}\n{"text": "b"}\n', None, "#/lines/2/label", "line 2, field 'label'"),
        (b'{"text": "a", "label": 1}\nnot json\n', None, "#/lines/2", "line 2 is not valid JSON"),
        (b'{"text": "a", "label": 1}\n\n[1, 2]\n', None, "#/lines/3", "line 3 must be a JSON object"),
        (
            b'{"question": "q", "choices": ["a", "b"], "answer": 2}\n{"question": "q", "choices": ["a", "b"], "answer": 0}\n',
            None,
            "#/lines/1",
            "outside choices",
        ),
        (
            b'{"question": "q", "choices": ["a"], "answer": 0}\n{"question": "q", "choices": ["a", "b"], "answer": 0}\n',
            None,
            "#/lines/1/choices",
            "line 1, field 'choices'",
        ),
        (b'{"prompt": "p", "answer": "a"}\n{"prompt": "p"}\n', None, "#/lines/2", "needs an 'answer' or a 'checker'"),
        (
            b'{"prompt": "p", "answer": "a"}\n{"prompt": "p", "checker": {"regex": "("}}\n',
            None,
            "#/lines/2/checker/regex",
            "does not compile",
        ),
        (b'{"text": "a", "label": 1}\n{"text": "b", "label": 1}\n', None, "#/file", "at least 2 distinct labels"),
        (b'{"text": "a", "label": 1}\n', None, "#/file", "at least 2 examples"),
        (b'{"foo": 1}\n{"foo": 2}\n', None, "#/lines/1", "cannot tell the dataset kind"),
        (
            b'{"text": "a", "label": 1}\n{"text": "b", "label": 2}\n',
            "generation",
            "#/lines/1/prompt",
            "line 1, field 'prompt'",
        ),
        (b"\xff\xfe", None, "#/file", "UTF-8"),
    ],
)
def test_upload_rejects_bad_lines_naming_line_and_field(
    client: TestClient, lines: bytes, kind: str | None, pointer: str, needle: str
) -> None:
    response = upload(client, lines, **({"kind": kind} if kind else {}))
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["errors"][0]["pointer"] == pointer
    assert needle in body["detail"]


def test_upload_rejects_a_kind_that_contradicts_the_task(client: TestClient) -> None:
    task = client.post("/v1/tasks", json={"name": "t", "kind": "generation"}).json()
    response = upload(client, jsonl(CLASSIFICATION), task=task["id"], kind="classification")
    assert response.status_code == 422
    assert response.json()["errors"][0]["pointer"] == "#/kind"


def test_upload_for_an_unknown_task_is_not_found(client: TestClient) -> None:
    response = upload(client, jsonl(CLASSIFICATION), task="missing")
    assert response.status_code == 404
    assert response.json()["errors"] == [{"pointer": "#/task", "detail": "unknown task 'missing'"}]


def test_upload_without_a_file_is_a_problem(client: TestClient) -> None:
    assert client.post("/v1/datasets", data={"kind": "classification"}).status_code == 415  # not multipart
    response = client.post("/v1/datasets", files={"kind": (None, "classification")})
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
