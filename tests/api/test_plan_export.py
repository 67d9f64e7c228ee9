"""GET /v1/plans/{id}/export?format=csv|json: the plan's listed rows, one line each, as stored."""

from __future__ import annotations

import csv
import io

from fastapi.testclient import TestClient

from api.plan_export import EXPORT_COLUMNS

PLAN = {
    "task": {"name": "export-me", "kind": "classification", "n_choices": 2, "train_examples": 1000},
    "grid": {
        "models": ["qwen2.5-0.5b", "llama-3.2-1b"],
        "methods": [{"name": "lora", "rank": 8}, {"name": "zero_shot"}],
    },
}


def test_export_csv_has_a_header_and_one_line_per_candidate(client: TestClient) -> None:
    plan = client.post("/v1/plans", json=PLAN).json()
    response = client.get(f"/v1/plans/{plan['id']}/export", params={"format": "csv"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert response.headers["content-disposition"] == f'attachment; filename="plan-{plan["id"]}-v1.csv"'
    reader = csv.DictReader(io.StringIO(response.text))
    assert reader.fieldnames == [*(name for name, _ in EXPORT_COLUMNS), "on_frontier", "recommended"]
    rows = {int(r["index"]): r for r in reader}
    assert set(rows) == {r["index"] for r in plan["candidates"]}
    for row in plan["candidates"]:
        line = rows[row["index"]]
        assert line["label"] == row["label"]
        assert (line["model"], line["method"], line["gpu"]) == (
            row["candidate"]["model"],
            row["candidate"]["method"]["name"],
            row["candidate"]["hardware"]["gpu"],
        )
        assert float(line["total_usd"]) == row["total_usd"]  # repr round-trips: no digits lost
        assert float(line["accuracy_mean"]) == row["accuracy"]["mean"]
        assert int(line["peak_memory_bytes"]) == row["cost"]["peak_memory_bytes"]
        assert line["tier"] == row["accuracy"]["tier"]
        assert line["recommended"] == str(row["index"] == plan["recommendation"]["index"])
        assert line["on_frontier"] == str(row["index"] in plan["frontier"])
    lora = next(r for r in plan["candidates"] if r["candidate"]["method"]["name"] == "lora")
    assert '"rank": 8' in rows[lora["index"]]["method_settings"]
    assert rows[lora["index"]]["label"].split(" · ")[1] == "lora r8"


def test_export_json_has_the_same_rows(client: TestClient) -> None:
    plan = client.post("/v1/plans", json=PLAN).json()
    body = client.get(f"/v1/plans/{plan['id']}/export").json()
    assert (body["id"], body["version"]) == (plan["id"], 1)
    assert body["columns"] == [*(name for name, _ in EXPORT_COLUMNS), "on_frontier", "recommended"]
    assert [r["index"] for r in body["rows"]] == [r["index"] for r in plan["candidates"]]
    for exported, row in zip(body["rows"], plan["candidates"], strict=True):
        assert exported["total_usd"] == row["total_usd"] and exported["fits"] is row["fits"]
        assert exported["accuracy_lower"] == row["accuracy"]["lower"]
        assert exported["label"] == row["label"]


def test_export_of_an_unknown_plan_or_version_is_a_404_and_a_bad_format_a_422(client: TestClient) -> None:
    plan = client.post("/v1/plans", json=PLAN).json()
    assert client.get("/v1/plans/nope/export").status_code == 404
    missing = client.get(f"/v1/plans/{plan['id']}/export", params={"version": 7})
    assert missing.status_code == 404 and "7" in missing.json()["detail"]
    bad = client.get(f"/v1/plans/{plan['id']}/export", params={"format": "xlsx"})
    assert bad.status_code == 422 and "format" in bad.json()["detail"]


def test_export_of_a_past_version_is_that_version(client: TestClient) -> None:
    plan = client.post("/v1/plans", json=PLAN).json()
    probes = [
        {
            "task": "export-me",
            "candidate": {"model": "qwen2.5-0.5b", "method": {"name": "zero_shot"}},
            "accuracy": 0.9,
            "source": "import:test",
        }
    ]
    assert client.post("/v1/measurements", json=probes).status_code == 201
    assert client.get(f"/v1/plans/{plan['id']}").json()["version"] == 2  # re-predicted on read
    first = client.get(f"/v1/plans/{plan['id']}/export", params={"version": 1}).json()
    latest = client.get(f"/v1/plans/{plan['id']}/export").json()
    assert (first["version"], latest["version"]) == (1, 2)
    zero_shot = next(
        r["index"]
        for r in plan["candidates"]
        if r["candidate"]["model"] == "qwen2.5-0.5b" and r["candidate"]["method"]["name"] == "zero_shot"
    )
    assert [r["accuracy_mean"] for r in first["rows"] if r["index"] == zero_shot] == [
        next(r["accuracy"]["mean"] for r in plan["candidates"] if r["index"] == zero_shot)
    ]
    assert [r["tier"] for r in latest["rows"] if r["index"] == zero_shot] == ["measured"]
