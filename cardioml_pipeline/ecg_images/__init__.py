"""ECG image core: synthetic 12-lead signals, paper rendering, OpenCV preprocessing, digitization and QC.

Plain functions over numpy arrays (no Dagster, no DuckDB). The entry point for one image is
`cardioml_pipeline.ecg_images.pipeline.process_lead_image`.
"""
