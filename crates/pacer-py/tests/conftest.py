"""Shared by the package's tests: the repository (for its examples) and a prompts file."""

import json
import os
import pathlib

import pytest

REPO = pathlib.Path(os.environ.get("PACER_REPO", pathlib.Path(__file__).resolve().parents[3]))


@pytest.fixture
def repo() -> pathlib.Path:
    return REPO


@pytest.fixture
def prompts(tmp_path: pathlib.Path) -> pathlib.Path:
    path = tmp_path / "prompts.jsonl"
    with open(path, "w") as f:
        for i in range(20):
            f.write(json.dumps({"id": f"q{i:02}", "prompt": f"Question {i}?"}) + "\n")
    return path
