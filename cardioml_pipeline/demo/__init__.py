"""Demo data in the CARDIO-ML layout (see `cardioml_pipeline.demo.clinical`)."""

from cardioml_pipeline.demo.clinical import (
    CLINICAL_TABLE_FILES,
    generate_demo_labels,
    generate_demo_patients,
    write_demo_dataset,
)

__all__ = ["CLINICAL_TABLE_FILES", "generate_demo_labels", "generate_demo_patients", "write_demo_dataset"]
