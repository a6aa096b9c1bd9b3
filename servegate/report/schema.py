"""The JSON Schema of summary.json, kept in ``summary.schema.json`` beside this module.

Regenerate after changing the summary models: ``python -m servegate.report.schema``.
A unit test fails when the stored file is stale.
"""

from __future__ import annotations

import json
from pathlib import Path

from servegate.metrics.summary import Summary

SCHEMA_PATH = Path(__file__).with_name("summary.schema.json")


def summary_schema_text() -> str:
    schema = Summary.model_json_schema()
    schema["title"] = "servegate summary.json (schema_version 1)"
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def main() -> None:
    SCHEMA_PATH.write_text(summary_schema_text(), encoding="utf-8")
    print(f"wrote {SCHEMA_PATH}")


if __name__ == "__main__":
    main()
