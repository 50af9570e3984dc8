"""docs/contract.md is the contract the worker enforces: written from the schema files, and
its dead-letter codes are the decoder's (issue 14.5)."""

from __future__ import annotations

from schemas.contract_doc import DEAD_LETTER_CODES, DOC, render
from workers.ingest.errors import RejectCode


def test_docs_contract_is_what_the_schemas_say() -> None:
    assert DOC.read_text() == render(), (
        "docs/contract.md differs from schemas/*.json: run `python -m schemas.contract_doc`"
    )


def test_every_dead_letter_code_is_documented_and_no_other() -> None:
    assert set(DEAD_LETTER_CODES) == {code.value for code in RejectCode}


def test_readme_points_at_the_contract_in_the_repository() -> None:
    readme = (DOC.parents[1] / "README.md").read_text()
    assert "../shared" not in readme
    assert "docs/contract.md" in readme
