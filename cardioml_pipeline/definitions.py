"""The code location: merges each domain's Definitions; nothing else."""

import dagster as dg

from cardioml_pipeline.automation import automation_definitions
from cardioml_pipeline.clinical.assets import clinical_definitions
from cardioml_pipeline.ecg_images.assets import image_definitions
from cardioml_pipeline.exports.assets import export_definitions
from cardioml_pipeline.features.assets import features_definitions
from cardioml_pipeline.jobs import job_definitions
from cardioml_pipeline.resources import resource_definitions

defs = dg.Definitions.merge(resource_definitions(), clinical_definitions(), image_definitions(), features_definitions(), export_definitions(), job_definitions(), automation_definitions())
