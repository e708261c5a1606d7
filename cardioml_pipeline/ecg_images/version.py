"""The image processing version, in a module of its own so that loading the Dagster definitions (which
put it in the assets' code version) does not import OpenCV and the processing code.

Bump it whenever processing can change a result: every image is then processed again on the next run.
"""

PROCESSING_VERSION = "1.6.0"  # 1.6.0: no NaN darkness where the paper is pitch black; a lead whose grid pitch disagrees with its patient's other leads is read again near the agreed pitch; off-trace ink judged within 10 mm of the trace; pages read the grid pitch per band, are named in Cabrera order when printed so (index column page_lead_order) and have printed text blanked anywhere along a row. 1.5.0: grid colours read at the lines themselves; line levels per 2 s stretch; paper level from a 9 px window; skew cross-checked with the horizontal lines; pages hand their grid to the crops and blank printed lead names. 1.4.0: whole pages (signal files name their source: source_path, start_s, duration_s, is_rhythm_strip); strips under 6 px/mm read enlarged twice; steep thin-pen strokes read where they cross the column centre; QC metrics declared once
