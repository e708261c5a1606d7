"""Feature layer: patient features, ECG features, splits, the feature dictionary and a baseline
(see assets.py for the Dagster wiring, README "Feature tables" for the contract)."""
