"""outcome_death reconciled from Death, the discharge status and the cause of death."""

from __future__ import annotations

import polars as pl

from cardioml_pipeline.features.targets import build_targets, death_contradictions

NO_LABELS = pl.DataFrame(schema={"file_number": pl.Int64, "finding": pl.String})


def patients() -> pl.DataFrame:
    # the real tables' contradictions: Death 0 + Deceased, Death 0 + a cause, Death empty + discharged alive
    return pl.DataFrame(
        {
            "file_number": [1, 2, 3, 4, 5, 6, 7],
            "death": [0, 0, None, 1, 1, None, 0],
            "discharge_status": ["deceased", "recovered_improved", "transferred", "deceased", None, None, "recovered_improved"],
            "cause_of_death": [None, "Undetermined cause", None, "Cardiopulmonary arrest", "  ", None, None],
            "initial_diagnosis": [None] * 7,
            "final_diagnosis": [None] * 7,
        },
        schema_overrides={"death": pl.Int8},
    )


def test_outcome_death_reconciles_death_status_and_cause():
    targets = build_targets(patients(), NO_LABELS).sort("file_number")
    assert targets["outcome_death"].to_list() == [1, 1, 0, 1, 1, None, 0]


def test_each_contradiction_is_listed_with_its_reason():
    found = death_contradictions(patients()).sort("file_number")
    assert found.select("file_number", "reason").rows() == [
        (1, "Death = 0 with discharge status deceased"),
        (2, "Death = 0 with a cause of death"),
        (3, "Death empty with a discharge status"),
    ]
    assert found["outcome_death"].to_list() == [1, 1, 0]
