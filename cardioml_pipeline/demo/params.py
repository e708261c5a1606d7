"""Aggregate statistics of the real CARDIO-ML tables, used as parameters of the demo generator.

Everything here was measured on the published dataset (581 patients, 408 ECG label rows) as
aggregates only: missing rates, category frequencies (including the dirty spellings), quantiles,
rank correlations, rounding habits, and how record numbers and ECG labels are laid out. No row
and no per-patient value of the real data is stored here; the demo generator draws every patient
afresh from these distributions.

Conventions:
- column names are the real header names, trailing spaces and typos included;
- "bins" split the patients in file-number order: the first 7.4 % (the real file's block of
  record numbers 1..43, an older numbering with almost no labs) and five equal slices of the
  rest, because several missing rates drift over the real file (ER-visit notes, blood gases,
  final diagnoses, ECG labels);
- probabilities are per patient unless stated otherwise.
"""

from __future__ import annotations

# --- layout ---------------------------------------------------------------------------------------

FILE_NUMBER_START = 1001
FILE_NUMBER_COLUMN = "Patient's file number"  # appears twice: file number, then record number

# exact headers of the ten clinical tables (duplicate first column, trailing spaces, typos as published)
TABLE_HEADERS: dict[str, tuple[str, ...]] = {
    '01_Core_Patient_Data.csv': (
        "Patient's file number", "Patient's file number", 'Patient Gender', 'Patient Age',
        'Initial diagnosis ', 'Final diagnosis', 'Death', 'Cause of death',
        'Patient Status on Discharge', 'Method of referral ', 'Systolic blood pressure ',
        'Diastolic blood pressure', 'Pulse rate (PR)', 'Respiratory rate (RR)', 'Body temperature (T)',
        'Oxygen saturation (%SpO2)', 'Triage level', 'WBC', 'RBC', 'Hemoglobin', 'Hematocrit', 'MCV',
        'MCH', 'MCHC', 'Platelets', 'Neutrophils', 'Lymphocytes', 'BS (Blood suger)', 'Urea',
        'Creatinine', 'Calcium', 'Sodium Na', 'Potassium K', 'Magnesium', 'Phosphatase Alkaline',
        'S.G.O.T (AST)', 'S.G.P.T (ALT)', 'Troponine - I (Q)', 'Bilirubin Total', 'ESR', 'CRP', 'PTT',
        'PatientPT', 'INR', 'Specific Gravity', 'Urine PH', 'Urine Proteins', 'Urine Glucose',
        'Urine WBC', 'Urine RBC', 'Urine E.Cell', 'Urine Bacteria', 'PH', 'PCO2', 'PO2', 'HCO3', 'BEb',
        'BEecf', 'Previous hospitalizations', 'Previous surgeries', 'Previous diseases',
    ),
    '02_Diagnosis_Treatment_Summary.csv': (
        "Patient's file number", "Patient's file number", 'Initial diagnosis ', 'Final diagnosis',
        'Treatment actions', 'Patient Status on Discharge',
    ),
    '03_Emergency_Admission_Metrics.csv': (
        "Patient's file number", "Patient's file number", 'Method of referral ',
        'Emergency room visits in the past 24 hours ', 'Systolic blood pressure ',
        'Diastolic blood pressure', 'Pulse rate (PR)', 'Respiratory rate (RR)', 'Body temperature (T)',
        'Oxygen saturation (%SpO2)', 'Triage level',
    ),
    '04_Complete_Blood_Count.csv': (
        "Patient's file number", "Patient's file number", 'WBC', 'RBC', 'Hemoglobin', 'Hematocrit',
        'MCV', 'MCH', 'MCHC', 'Platelets', 'Neutrophils', 'Lymphocytes',
    ),
    '05_Metabolic_Panel_Cardiac_Enzymes.csv': (
        "Patient's file number", "Patient's file number", 'BS (Blood suger)', 'Urea', 'Creatinine',
        'Calcium', 'Sodium Na', 'Potassium K', 'Magnesium', 'Phosphatase Alkaline', 'S.G.O.T (AST)',
        'S.G.P.T (ALT)', 'Troponine - I (Q)', 'Bilirubin Total',
    ),
    '06_Inflammatory_Markers.csv': (
        "Patient's file number", "Patient's file number", 'ESR', 'CRP',
    ),
    '07_Coagulation_Profile.csv': (
        "Patient's file number", "Patient's file number", 'PTT', 'PatientPT', 'INR',
    ),
    '08_Urinalysis.csv': (
        "Patient's file number", "Patient's file number", 'Specific Gravity', 'Urine PH',
        'Urine Proteins', 'Urine Glucose', 'Urine WBC', 'Urine RBC', 'Urine E.Cell', 'Urine Bacteria',
    ),
    '09_Arterial_Blood_Gas.csv': (
        "Patient's file number", "Patient's file number", 'PH', 'PCO2', 'PO2', 'HCO3', 'BEb', 'BEecf',
    ),
    '10_Comprehensive_Medical_History.csv': (
        "Patient's file number", "Patient's file number", 'Previous hospitalizations',
        'Previous surgeries', 'Previous diseases',
    ),
}

# the real exports end lines with CRLF (Excel "CSV UTF-8"); fields are quoted only when needed
CLINICAL_LINE_TERMINATOR = "\r\n"
LABELS_LINE_TERMINATOR = "\r\n"
LABELS_FILE = "ECG Labels.csv"
CLINICAL_DIR = "Clinical_Data"
IMAGES_DIR = "ECG_Images"

# patient position bins (fraction of patients in file-number order): early block + 5 slices
BIN_EDGES = (0.0, 0.074, 0.2592, 0.4444, 0.6296, 0.8148, 1.0)
N_BINS = len(BIN_EDGES) - 1

# --- record numbers ---------------------------------------------------------------------------------
# early block: record numbers 1, 2, 3, ...; then ascending hospital numbers from about 101 800 with
# gaps between consecutive distinct numbers drawn from these quantiles (real mean gap 153).
RECORD_MAIN_START = (100_000, 103_000)  # first main record number drawn uniformly in this range
RECORD_GAP_QUANTILES = (
    1, 1, 1, 1, 1, 1, 2, 3, 3, 5, 6, 8, 10.8, 14, 19.2, 28, 37, 44, 53, 62, 80, 113, 1018, 1152,
    2895, 4322, 11148,
)
# 12 record numbers shared by two adjacent rows among 581 (the second row is a near-copy of the
# first: same vitals, a few fields differ, sometimes age +-1 or the other sex); only after 55 % of rows
SHARED_RECORD_PAIRS_PER_PATIENT = 12 / 581
SHARED_RECORD_MIN_POSITION = 0.55
PAIR_INDEPENDENT = 1 / 12  # one pair is a different admission with its own values
PAIR_BLOCK_COPIED = 0.93  # otherwise each field block of the second row equals the first's
PAIR_SEX_DIFFERS = 1 / 12
PAIR_AGE_DIFFERS = 2 / 12  # by one year

# --- numeric columns -----------------------------------------------------------------------------------
# Gaussian copula: each column's marginal is the real empirical quantile function at these
# probabilities (linear in between), the dependence is LATENT_CORRELATIONS (Pearson correlations
# of the normal scores, from Spearman's rho via 2 sin(pi rho / 6), |rho| >= 0.2 with n >= 60 pairs).
QUANTILE_PROBS = (
    0.0, 0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6,
    0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 0.975, 0.99, 0.995, 1.0,
)
NUMERIC_QUANTILES: dict[str, tuple[float, ...]] = {
    'Patient Age': (
        6, 14.88, 16.76, 18, 21.8, 28, 32, 35, 38, 41, 43, 46, 48, 50, 53, 57, 60, 62, 65, 68, 72,
        75.4, 81, 84.6, 88, 90, 98,
    ),
    'Systolic blood pressure ': (
        80, 89.83, 91, 100, 105, 110, 114, 120, 120, 125, 129, 130, 134, 138, 140, 146, 150, 159,
        163, 172.8, 181, 190, 210, 223.7, 243.4, 250, 260,
    ),
    'Diastolic blood pressure': (
        40, 45.63, 50.63, 60, 60, 67, 70, 72, 75, 78, 80, 80, 82, 85, 87.65, 90, 90, 94, 98, 100,
        105, 110, 120, 127, 131.7, 139.2, 143,
    ),
    'Pulse rate (PR)': (
        50, 54, 55.55, 60, 63, 67.5, 70, 73, 75, 78, 80, 80, 82, 84, 87, 88, 90, 92, 96, 98, 100,
        108, 115, 122.2, 132.7, 160.2, 184,
    ),
    'Respiratory rate (RR)': (
        12, 14, 14, 14, 15, 16, 16, 16, 16, 16, 17, 17, 17, 18, 18, 18, 18, 18, 18, 19, 19, 20, 20,
        23, 26, 28, 32,
    ),
    'Body temperature (T)': (
        35.2, 35.76, 36, 36, 36, 36.32, 36.5, 36.5, 36.6, 36.7, 36.9, 36.9, 37, 37, 37, 37.1, 37.2,
        37.2, 37.3, 37.5, 37.5, 37.8, 38.23, 39.1, 39.69, 39.7, 41,
    ),
    'Oxygen saturation (%SpO2)': (
        59, 74.16, 81.58, 86.95, 89, 92, 93, 94, 95, 95, 96, 96, 96, 96, 96, 97, 97, 97, 98, 98, 98,
        98, 99, 100, 100, 100, 100,
    ),
    'Triage level': (
        1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3.22, 4,
    ),
    'WBC': (
        1000, 2422, 3400, 3970, 4500, 5000, 5200, 5600, 6000, 6300, 6500, 6800, 7100, 7400, 7670,
        8000, 8300, 8680, 9000, 9600, 10290, 11100, 12330, 14400, 16350, 16690, 55100,
    ),
    'RBC': (
        2.46, 2.637, 2.737, 3.277, 3.495, 3.66, 3.795, 3.88, 3.94, 4.02, 4.095, 4.17, 4.24, 4.3,
        4.375, 4.44, 4.51, 4.59, 4.66, 4.75, 4.83, 5.01, 5.285, 5.478, 5.628, 5.846, 6.9,
    ),
    'Hemoglobin': (
        7, 7.273, 7.819, 8.283, 9.489, 10.6, 11, 11.36, 11.7, 11.9, 12.1, 12.4, 12.6, 12.9, 13.2,
        13.3, 13.6, 13.8, 14, 14.3, 14.7, 15.17, 15.8, 16.42, 16.7, 16.8, 17.2,
    ),
    'Hematocrit': (
        20.9, 24, 24.1, 25.62, 28.95, 31.7, 33.2, 34.3, 34.8, 35.5, 36.1, 36.6, 37.3, 37.9, 38.5,
        39, 39.75, 40.5, 41.05, 41.9, 42.85, 44.1, 45.5, 46.52, 47.5, 47.83, 50.4,
    ),
    'MCV': (
        57.5, 61.71, 62.47, 66.25, 73.87, 81.6, 83.14, 84.2, 85, 85.9, 86.42, 87.4, 87.9, 88.7,
        89.3, 90, 90.4, 91, 91.78, 92.62, 93.3, 94.6, 95.8, 98.1, 99.36, 100.8, 113.9,
    ),
    'MCH': (
        17.7, 19.47, 20.07, 21.2, 24, 26.66, 27.4, 28.12, 28.7, 29.08, 29.4, 29.7, 29.9, 30.2, 30.4,
        30.6, 30.89, 31.1, 31.4, 31.9, 32.3, 32.64, 33.27, 34.2, 36.27, 36.87, 40.2,
    ),
    'MCHC': (
        29.1, 30.07, 30.47, 30.86, 31.4, 31.9, 32.3, 32.6, 32.8, 33.08, 33.3, 33.44, 33.6, 33.9, 34,
        34.3, 34.4, 34.7, 35, 35.2, 35.5, 35.8, 36.4, 36.8, 37.3, 37.7, 38.3,
    ),
    'Platelets': (
        69, 74.32, 80.48, 101.8, 121.2, 139, 150, 162, 171, 187, 193, 197, 203.8, 211, 218, 225,
        232, 240.6, 252, 263, 277.4, 299.2, 314, 355.4, 394.4, 409.9, 527,
    ),
    'Neutrophils': (
        11, 40, 42, 45.73, 48.45, 52.9, 55, 57, 59, 60, 62, 64, 65, 68, 70, 70, 71, 74, 76, 78, 81,
        85, 88, 90, 91, 92, 95,
    ),
    'Lymphocytes': (
        5, 5, 5.69, 8, 9, 12, 15, 19, 20, 22, 25, 25, 27, 29, 30, 32, 34, 35, 37, 39, 40, 42.1, 47,
        51, 55, 55, 85,
    ),
    'BS (Blood suger)': (
        57, 64, 66, 70, 74.6, 83, 87, 89, 92, 94.6, 99, 103, 106, 111, 117.6, 126, 131, 137.4, 146,
        168, 198, 272.4, 331.4, 366.2, 378, 423.2, 483,
    ),
    'Urea': (
        10, 11.26, 12.51, 15, 16, 18, 20, 21, 22, 24, 25, 26, 27, 28, 29, 31, 32, 35, 37, 39, 42,
        44, 56, 68.45, 82.43, 96.98, 126,
    ),
    'Creatinine': (
        0.5, 0.5208, 0.6, 0.6, 0.7, 0.7, 0.748, 0.8, 0.8, 0.8, 0.818, 0.9, 0.9, 0.9, 1, 1, 1, 1.1,
        1.1, 1.1, 1.2, 1.3, 1.6, 2.21, 4.327, 6.206, 8.6,
    ),
    'Calcium': (
        7.2, 7.511, 7.623, 7.8, 8.115, 8.4, 8.7, 8.8, 8.8, 8.9, 9, 9.1, 9.2, 9.3, 9.4, 9.5, 9.6,
        9.7, 9.8, 9.9, 10, 10.3, 10.5, 10.7, 10.9, 10.99, 11.9,
    ),
    'Sodium Na': (
        113, 119.1, 121.4, 129.9, 131.9, 133, 134.2, 135, 136, 136, 137, 137, 137.6, 138, 138,
        138.1, 139, 139, 140, 140, 141, 141, 142, 143, 143.6, 144.8, 148,
    ),
    'Potassium K': (
        2.1, 2.631, 2.9, 3, 3.2, 3.3, 3.4, 3.4, 3.5, 3.5, 3.6, 3.6, 3.7, 3.7, 3.7, 3.8, 3.8, 3.9,
        3.933, 4, 4.1, 4.2, 4.4, 4.7, 4.896, 5.308, 7.7,
    ),
    'Magnesium': (
        1.4, 1.44, 1.48, 1.5, 1.502, 1.7, 1.714, 1.8, 1.853, 1.9, 1.9, 1.926, 1.974, 2, 2.011, 2.08,
        2.1, 2.188, 2.2, 2.3, 2.347, 2.5, 2.699, 2.947, 3, 3, 3,
    ),
    'Phosphatase Alkaline': (
        58, 64.98, 69.27, 71.7, 80, 89.4, 98, 103, 108.8, 115, 123.5, 128.6, 138.4, 150.5, 159,
        166.8, 182.7, 190.9, 199.2, 213, 233.7, 262.8, 349.6, 515.3, 921.3, 2150, 4241,
    ),
    'S.G.O.T (AST)': (
        10, 10, 10.4, 11.5, 12, 13, 14, 15, 16, 17, 18, 19, 19, 21, 22, 23, 25, 26, 27, 32, 38, 46,
        67, 198.5, 317.6, 360.6, 362,
    ),
    'S.G.P.T (ALT)': (
        5, 5.68, 6.72, 8.4, 10, 10, 10, 11, 12, 13, 14, 15, 17, 17, 18, 19, 21, 23, 25, 28, 31,
        41.8, 68, 138.8, 311.1, 385, 421,
    ),
    'Bilirubin Total': (
        0.48, 0.4819, 0.4838, 0.4895, 0.499, 0.617, 0.6555, 0.692, 0.7, 0.7, 0.7, 0.7, 0.7, 0.72,
        0.767, 0.804, 0.845, 0.937, 1.038, 1.16, 1.26, 1.6, 1.7, 2.65, 3.22, 3.41, 3.6,
    ),
    'ESR': (
        1, 1.39, 1.78, 2, 3, 4, 5, 6.6, 8, 9, 10, 11, 12.2, 15, 15, 16, 18.7, 24.6, 26, 32, 36.3,
        40.4, 46.3, 58.7, 82.56, 101.3, 120,
    ),
    'CRP': (
        0, 0, 0.192, 0.2, 0.48, 1, 1, 1, 1.2, 1.5, 1.7, 2, 2, 2, 2.6, 3, 3.62, 4.5, 5.6, 7.74,
        12.72, 27.6, 45.28, 65.59, 77.26, 83.72, 94.7,
    ),
    'PTT': (
        23, 23, 24.52, 25.4, 27, 29, 30, 30, 30, 30, 30, 30, 31, 32, 32, 33, 33, 33, 34, 35, 36,
        36.4, 40.2, 44.6, 50.44, 55.6, 60,
    ),
    'PatientPT': (
        13, 13, 13, 13, 13, 13, 13, 13, 13, 13, 13, 13, 13, 13, 13, 13, 13, 13, 13.8, 14, 14.6,
        15.2, 16.88, 17.89, 22.6, 24.64, 26.3,
    ),
    'INR': (
        1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1.1, 1.1, 1.2, 1.3, 1.37, 1.6, 1.9,
        2.075, 3.3,
    ),
    'Specific Gravity': (
        1005, 1006, 1007, 1009, 1010, 1010, 1012, 1014, 1015, 1017, 1018, 1019, 1020, 1020, 1020,
        1020, 1022, 1023, 1025, 1025, 1028, 1030, 1030, 1030, 1030, 1030, 1030,
    ),
    'Urine PH': (
        5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5.05, 6, 6, 6, 6, 6.8, 7, 8, 8.45, 8.975, 9, 9, 9,
    ),
    'Urine WBC': (
        1, 1, 1, 1, 1, 1, 1.15, 2, 2, 2.3, 3, 3, 4, 4, 5.55, 6.6, 8, 8, 8, 14, 15.85, 20, 25, 34.75,
        35, 35, 35,
    ),
    'Urine RBC': (
        1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 4, 5, 6, 19.2, 29.5, 30, 32.95, 33.98,
        35,
    ),
    'Urine E.Cell': (
        1, 1, 1, 1, 1, 1, 1.15, 2, 2.25, 3, 3, 3, 3, 4, 4, 4, 4.65, 6, 6, 6.8, 8, 8, 9.9, 11.95,
        13.77, 14.38, 15,
    ),
    'PH': (
        7.17, 7.185, 7.201, 7.233, 7.277, 7.325, 7.34, 7.35, 7.359, 7.367, 7.373, 7.379, 7.382,
        7.39, 7.398, 7.4, 7.408, 7.415, 7.428, 7.438, 7.44, 7.469, 7.518, 7.546, 7.566, 7.578, 7.59,
    ),
    'PCO2': (
        13.3, 17.6, 21.9, 22.3, 22.8, 30.8, 31.7, 34.5, 35.1, 36.2, 37, 38.3, 39.7, 40.4, 40.7,
        41.8, 43, 44, 44.5, 46, 46.9, 48, 54, 59.3, 60.7, 63.45, 66.2,
    ),
    'PO2': (
        13, 13, 13.02, 16.2, 21, 22.18, 25, 26, 28.5, 29.6, 32, 34, 37, 39, 42, 43, 45, 47.4, 51.85,
        53.6, 57, 60.92, 71.6, 76.9, 83.88, 91.35, 99,
    ),
    'HCO3': (
        12.1, 12.49, 12.88, 14.69, 16.86, 18.74, 19.71, 21.3, 21.8, 22.57, 22.8, 23.32, 23.81, 24.3,
        24.69, 24.96, 25.44, 25.96, 26.2, 26.78, 27.5, 28.6, 29.13, 29.95, 30.31, 30.61, 30.9,
    ),
    'BEb': (
        -12.2, -11.07, -9.932, -8.777, -7.795, -6.57, -5.24, -4.04, -3.075, -2.5, -2, -1.76, -1.455,
        -1.2, -1.045, -0.5, -0.2, 0.4, 0.9, 1.3, 1.585, 2.62, 3.39, 4.29, 4.538, 4.619, 4.7,
    ),
    'BEecf': (
        -13.2, -13.01, -12.82, -10.45, -9.26, -7.24, -5.96, -4.9, -3.5, -3, -2.84, -2.26, -1.68,
        -1.4, -1.2, -0.94, -0.26, 0.42, 0.7, 1.36, 2.1, 2.96, 4.02, 4.18, 4.9, 4.9, 4.9,
    ),
}

LATENT_CORRELATIONS = (
    ('male', 'RBC', 0.45),
    ('male', 'Hemoglobin', 0.57),
    ('male', 'Hematocrit', 0.53),
    ('male', 'MCH', 0.33),
    ('male', 'MCHC', 0.29),
    ('male', 'Platelets', -0.33),
    ('male', 'Creatinine', 0.51),
    ('Patient Age', 'Systolic blood pressure ', 0.41),
    ('Patient Age', 'Oxygen saturation (%SpO2)', -0.41),
    ('Patient Age', 'RBC', -0.21),
    ('Patient Age', 'BS (Blood suger)', 0.36),
    ('Patient Age', 'Urea', 0.43),
    ('Patient Age', 'Creatinine', 0.27),
    ('Patient Age', 'PTT', 0.25),
    ('Patient Age', 'HCO3', 0.26),
    ('Patient Age', 'BEb', 0.29),
    ('Patient Age', 'BEecf', 0.37),
    ('Systolic blood pressure ', 'Diastolic blood pressure', 0.82),
    ('Systolic blood pressure ', 'BS (Blood suger)', 0.33),
    ('Systolic blood pressure ', 'Phosphatase Alkaline', 0.22),
    ('Diastolic blood pressure', 'PCO2', -0.22),
    ('Diastolic blood pressure', 'BEecf', -0.22),
    ('Pulse rate (PR)', 'Neutrophils', 0.24),
    ('Pulse rate (PR)', 'Lymphocytes', -0.23),
    ('Pulse rate (PR)', 'S.G.O.T (AST)', 0.23),
    ('Pulse rate (PR)', 'ESR', 0.25),
    ('Pulse rate (PR)', 'CRP', 0.3),
    ('Respiratory rate (RR)', 'Phosphatase Alkaline', 0.23),
    ('Body temperature (T)', 'Calcium', -0.25),
    ('Body temperature (T)', 'Phosphatase Alkaline', -0.26),
    ('Body temperature (T)', 'S.G.P.T (ALT)', -0.22),
    ('Body temperature (T)', 'PatientPT', 0.22),
    ('Body temperature (T)', 'INR', 0.24),
    ('Oxygen saturation (%SpO2)', 'CRP', -0.3),
    ('Oxygen saturation (%SpO2)', 'PH', 0.23),
    ('Oxygen saturation (%SpO2)', 'PCO2', -0.35),
    ('Oxygen saturation (%SpO2)', 'HCO3', -0.36),
    ('Oxygen saturation (%SpO2)', 'BEb', -0.27),
    ('Oxygen saturation (%SpO2)', 'BEecf', -0.34),
    ('Triage level', 'PTT', -0.24),
    ('WBC', 'Platelets', 0.3),
    ('WBC', 'Neutrophils', 0.24),
    ('WBC', 'Lymphocytes', -0.23),
    ('WBC', 'Phosphatase Alkaline', 0.25),
    ('WBC', 'S.G.P.T (ALT)', 0.24),
    ('WBC', 'ESR', 0.22),
    ('WBC', 'PO2', -0.24),
    ('RBC', 'Hemoglobin', 0.78),
    ('RBC', 'Hematocrit', 0.83),
    ('RBC', 'ESR', -0.35),
    ('RBC', 'CRP', -0.24),
    ('RBC', 'PO2', 0.23),
    ('Hemoglobin', 'Hematocrit', 0.94),
    ('Hemoglobin', 'MCV', 0.31),
    ('Hemoglobin', 'MCH', 0.52),
    ('Hemoglobin', 'MCHC', 0.53),
    ('Hemoglobin', 'Calcium', 0.22),
    ('Hemoglobin', 'Phosphatase Alkaline', 0.22),
    ('Hemoglobin', 'S.G.P.T (ALT)', 0.21),
    ('Hemoglobin', 'ESR', -0.32),
    ('Hemoglobin', 'CRP', -0.23),
    ('Hematocrit', 'MCV', 0.31),
    ('Hematocrit', 'MCH', 0.35),
    ('Hematocrit', 'MCHC', 0.23),
    ('Hematocrit', 'Sodium Na', 0.21),
    ('Hematocrit', 'S.G.P.T (ALT)', 0.23),
    ('Hematocrit', 'ESR', -0.33),
    ('Hematocrit', 'CRP', -0.23),
    ('MCV', 'MCH', 0.81),
    ('MCV', 'BEecf', 0.24),
    ('MCH', 'MCHC', 0.68),
    ('MCH', 'HCO3', 0.23),
    ('MCH', 'BEecf', 0.22),
    ('MCHC', 'Calcium', 0.23),
    ('MCHC', 'Phosphatase Alkaline', 0.21),
    ('MCHC', 'HCO3', 0.31),
    ('MCHC', 'BEb', 0.28),
    ('MCHC', 'BEecf', 0.27),
    ('Platelets', 'Phosphatase Alkaline', 0.27),
    ('Platelets', 'S.G.P.T (ALT)', 0.23),
    ('Platelets', 'ESR', 0.27),
    ('Neutrophils', 'Lymphocytes', -0.99),
    ('Neutrophils', 'ESR', 0.27),
    ('Neutrophils', 'CRP', 0.21),
    ('Neutrophils', 'PatientPT', 0.21),
    ('Neutrophils', 'INR', 0.22),
    ('Neutrophils', 'HCO3', -0.21),
    ('Neutrophils', 'BEb', -0.27),
    ('Neutrophils', 'BEecf', -0.33),
    ('Lymphocytes', 'ESR', -0.26),
    ('Lymphocytes', 'CRP', -0.22),
    ('Lymphocytes', 'PatientPT', -0.22),
    ('Lymphocytes', 'INR', -0.23),
    ('Lymphocytes', 'HCO3', 0.22),
    ('Lymphocytes', 'BEb', 0.29),
    ('Lymphocytes', 'BEecf', 0.33),
    ('BS (Blood suger)', 'Urea', 0.23),
    ('BS (Blood suger)', 'Sodium Na', -0.33),
    ('Urea', 'Creatinine', 0.46),
    ('Urea', 'Potassium K', 0.22),
    ('Urea', 'ESR', 0.25),
    ('Creatinine', 'PH', -0.23),
    ('Sodium Na', 'CRP', -0.23),
    ('Phosphatase Alkaline', 'S.G.O.T (AST)', 0.32),
    ('Phosphatase Alkaline', 'S.G.P.T (ALT)', 0.31),
    ('Phosphatase Alkaline', 'PTT', 0.21),
    ('S.G.O.T (AST)', 'S.G.P.T (ALT)', 0.72),
    ('ESR', 'CRP', 0.54),
    ('CRP', 'PatientPT', 0.25),
    ('PTT', 'PatientPT', 0.38),
    ('PTT', 'INR', 0.38),
    ('PatientPT', 'INR', 0.97),
    ('PH', 'PCO2', -0.56),
    ('PH', 'BEb', 0.39),
    ('PCO2', 'HCO3', 0.69),
    ('PCO2', 'BEb', 0.43),
    ('PCO2', 'BEecf', 0.62),
    ('PO2', 'HCO3', -0.26),
    ('HCO3', 'BEb', 0.9),
    ('HCO3', 'BEecf', 0.94),
    ('BEb', 'BEecf', 0.97),
)

# rounding habits: each value is rounded to one of these steps (step, probability), then written
# the way Excel exports numbers (no trailing zeros: 37.0 -> "37"). Fitted so that the share of
# integers / 1 / 2 / 3 decimals and the heaping on multiples of 5 and 10 match the real columns.
NUMERIC_STEPS: dict[str, tuple[tuple[float, float], ...]] = {
    "Patient Age": ((5, 0.02), (1, 0.98)),
    "Systolic blood pressure ": ((10, 0.26), (5, 0.09), (1, 0.65)),
    "Diastolic blood pressure": ((10, 0.31), (5, 0.08), (1, 0.61)),
    "Pulse rate (PR)": ((10, 0.15), (5, 0.05), (1, 0.80)),
    "Respiratory rate (RR)": ((1, 1.0),),
    "Body temperature (T)": ((0.5, 0.2), (0.1, 0.795), (0.01, 0.005)),
    "Oxygen saturation (%SpO2)": ((1, 1.0),),
    "Triage level": ((1, 1.0),),
    "WBC": ((100, 1.0),),
    "RBC": ((0.1, 0.01), (0.01, 0.99)),
    "Hemoglobin": ((1, 0.01), (0.1, 0.98), (0.01, 0.01)),
    "Hematocrit": ((1, 0.01), (0.5, 0.035), (0.1, 0.955)),
    "MCV": ((0.5, 0.025), (0.1, 0.975)),
    "MCH": ((0.1, 0.997), (0.01, 0.003)),
    "MCHC": ((1, 0.01), (0.1, 0.987), (0.01, 0.003)),
    "Platelets": ((5, 0.014), (1, 0.986)),
    "Neutrophils": ((10, 0.017), (5, 0.212), (1, 0.771)),
    "Lymphocytes": ((10, 0.013), (5, 0.206), (1, 0.776), (0.1, 0.005)),
    "BS (Blood suger)": ((5, 0.025), (1, 0.975)),
    "Urea": ((5, 0.018), (1, 0.971), (0.1, 0.011)),
    "Creatinine": ((0.1, 0.9), (0.01, 0.1)),
    "Calcium": ((0.1, 1.0),),
    "Sodium Na": ((1, 0.8), (0.5, 0.014), (0.1, 0.186)),
    "Potassium K": ((0.1, 0.74), (0.05, 0.02), (0.01, 0.24)),
    "Magnesium": ((0.5, 0.033), (0.1, 0.573), (0.05, 0.081), (0.01, 0.313)),
    "Phosphatase Alkaline": ((10, 0.023), (5, 0.049), (1, 0.928)),
    "S.G.O.T (AST)": ((1, 1.0),),
    "S.G.P.T (ALT)": ((5, 0.06), (1, 0.94)),
    "Bilirubin Total": ((0.1, 0.5), (0.05, 0.03), (0.01, 0.47)),
    "ESR": ((5, 0.16), (1, 0.84)),
    "CRP": ((1, 0.2), (0.5, 0.12), (0.1, 0.67), (0.01, 0.01)),
    "PTT": ((5, 0.02), (1, 0.98)),
    "PatientPT": ((1, 0.2), (0.1, 0.8)),
    "INR": ((0.1, 0.85), (0.01, 0.15)),
    "Specific Gravity": ((5, 0.25), (1, 0.75)),
    "Urine PH": ((1, 0.6), (0.5, 0.4)),
    "Urine WBC": ((1, 1.0),),
    "Urine RBC": ((1, 1.0),),
    "Urine E.Cell": ((1, 1.0),),
    "PH": ((0.05, 0.03), (0.01, 0.25), (0.001, 0.72)),
    "PCO2": ((1, 0.2), (0.1, 0.79), (0.01, 0.01)),
    "PO2": ((1, 0.97), (0.1, 0.03)),
    "HCO3": ((0.1, 0.99), (0.01, 0.01)),
    "BEb": ((0.1, 1.0),),
    "BEecf": ((1, 0.02), (0.1, 0.98)),
}

MALE_SHARE = 233 / 580  # 'Patient Gender': F 347, M 233
SEX_MISSING = 1 / 581
AGE_MISSING_BY_BIN = (0.07, 0.0, 0.0, 0.0, 0.009, 0.0)

# --- clinical consistency with the ECG findings -------------------------------------------------------
TACHYCARDIA_FINDINGS = ("tachycardia", "ventricular_tachycardia")
BRADYCARDIA_FINDINGS = ("sinus_bradycardia",)
TACHYCARDIA_PULSE = (101, 104, 135)  # pulse of a patient with a tachycardia finding: triangular (low, mode, high)
BRADYCARDIA_PULSE = (50, 55, 59)  # the real minimum pulse is 50

# --- missingness -------------------------------------------------------------------------------------------
# vitals (table 03): independent per column, except systolic and diastolic missing together
BP_MISSING = 0.024
DIASTOLIC_EXTRA_MISSING = 0.005
VITAL_MISSING = {
    "Pulse rate (PR)": 0.043,
    "Respiratory rate (RR)": 0.133,
    "Body temperature (T)": 0.114,
    "Oxygen saturation (%SpO2)": 0.038,
    "Triage level": 0.041,
}

# labs: one "blood drawn" draw per patient, then one "panel ordered" draw per panel; within an
# ordered panel a few values (or sub-blocks) are still missing. For panels listed in
# LAB_PANEL_PARTIAL the within-panel gaps concentrate on that share of ordered panels (the real
# blood counts are complete or absent in 97 % of rows; the partial ones miss several values).
BLOOD_DRAWN_BY_BIN = (0.023, 0.87, 0.925, 0.861, 0.897, 0.935)
# panel -> (columns, P(ordered | blood drawn) scalar or per bin, P(ordered | no blood drawn),
#           {column: P(missing | panel ordered)}, ((sub-block columns), P(sub-block missing)) ...)
LAB_PANELS: dict[str, tuple] = {
    "cbc": (
        ("WBC", "RBC", "Hemoglobin", "Hematocrit", "MCV", "MCH", "MCHC", "Platelets", "Neutrophils", "Lymphocytes"),
        (0.0, 0.979, 0.98, 0.978, 1.0, 0.98),
        0.0,
        {"RBC": 0.008, "Hemoglobin": 0.002, "Hematocrit": 0.008, "MCV": 0.005, "Platelets": 0.021},
        ((("MCH", "MCHC"), 0.017), (("Neutrophils", "Lymphocytes"), 0.011)),
    ),
    "renal": (("Urea", "Creatinine", "Sodium Na", "Potassium K"), 0.944, 0.0, {"Urea": 0.011, "Creatinine": 0.009, "Potassium K": 0.005}, ((("Sodium Na", "Potassium K"), 0.037),)),
    "glucose": (("BS (Blood suger)",), 0.698, 0.15, {}, ()),
    "calcium_magnesium": (("Calcium", "Magnesium"), 0.472, 0.0, {"Calcium": 0.022, "Magnesium": 0.555}, ()),
    "liver": (("Phosphatase Alkaline", "S.G.O.T (AST)", "S.G.P.T (ALT)"), 0.292, 0.0, {"Phosphatase Alkaline": 0.092, "S.G.P.T (ALT)": 0.028}, ()),
    "troponin": (("Troponine - I (Q)",), 0.778, 0.08, {}, ()),
    "bilirubin": (("Bilirubin Total",), 0.041, 0.0, {}, ()),
    "esr": (("ESR",), 0.164, 0.0, {}, ()),
    "crp": (("CRP",), 0.406, 0.01, {}, ()),
    "coagulation": (("PTT", "PatientPT", "INR"), 0.364, 0.01, {}, ((("PatientPT", "INR"), 0.006),)),
    "urinalysis": (
        ("Specific Gravity", "Urine PH", "Urine Proteins", "Urine Glucose", "Urine WBC", "Urine RBC", "Urine E.Cell", "Urine Bacteria"),
        0.091,
        0.0,
        {"Urine Glucose": 0.01},
        ((("Specific Gravity", "Urine WBC", "Urine RBC", "Urine E.Cell"), 0.023), (("Urine PH", "Urine Proteins", "Urine Glucose", "Urine Bacteria"), 0.015)),
    ),
    "blood_gas": (
        ("PH", "PCO2", "PO2", "HCO3", "BEb", "BEecf"),
        (0.2, 0.14, 0.05, 0.16, 0.31, 0.36),
        0.05,
        {"PCO2": 0.019, "HCO3": 0.039, "BEb": 0.012, "BEecf": 0.072},
        ((("BEb", "BEecf"), 0.194),),
    ),
}

LAB_PANEL_PARTIAL = {"cbc": 0.036}

# --- categorical columns ------------------------------------------------------------------------------------
# 'Troponine - I (Q)': censored text for almost every measured value; numbers for a few (MI/ACS)
TROPONIN_CENSORED = "<0.05"
TROPONIN_NUMERIC = 0.003  # P(number | measured), otherwise
TROPONIN_NUMERIC_ACS = 0.06  # P(number | measured, myocardial infarction finding or MI/ACS diagnosis)
TROPONIN_NUMERIC_RANGE = (0.1, 30.0)  # log-uniform

INITIAL_DIAGNOSIS = ("Cardiac", "Noncardiac")
INITIAL_DIAGNOSIS_MISSING_BY_BIN = (0.023, 0.0, 0.0, 0.0, 0.009, 0.0)
# P(Cardiac) by systolic group (<140, 140-180, >=180, missing); a cardiac ECG finding moves it
# towards 1 (odds x CARDIAC_FINDING_ODDS), a 'Non-cardiac' ECG slightly towards 0
INITIAL_CARDIAC_BY_SYSTOLIC = (0.53, 0.54, 0.86, 0.93)
CARDIAC_FINDING_ODDS = 3.0
NON_CARDIAC_ECG_ODDS = 0.8
SYSTOLIC_GROUP_EDGES = (140, 180)

FINAL_DIAGNOSIS_PRESENT_BY_BIN = (0.16, 0.69, 0.63, 0.69, 0.49, 0.46)  # before the systolic >= 180 boost
FINAL_PRESENT_HIGH_SYSTOLIC_ODDS = 3.5  # final diagnosis recorded more often for systolic >= 180
# P(final | initial, systolic group), measured cross-tabulation
FINAL_DIAGNOSIS = (
    "Noncardiac", "Hypertensive crisis", "ACS", "Elevated blood pressure", "Arrhythmia",
    "Electrolyte-imbalance", "MI", "Cardiac-arrest",
)
FINAL_GIVEN_CARDIAC = (  # rows: systolic <140, 140-180, >=180, missing; columns: FINAL_DIAGNOSIS
    (0.27, 0.0, 0.48, 0.0, 0.13, 0.06, 0.045, 0.015),
    (0.08, 0.03, 0.33, 0.37, 0.08, 0.0, 0.11, 0.0),
    (0.015, 0.89, 0.06, 0.0, 0.03, 0.005, 0.0, 0.0),
    (0.1, 0.0, 0.1, 0.0, 0.1, 0.0, 0.0, 0.7),
)
FINAL_GIVEN_NONCARDIAC = (
    (0.94, 0.0, 0.0, 0.0, 0.01, 0.05, 0.0, 0.0),
    (0.82, 0.0, 0.0, 0.04, 0.0, 0.14, 0.0, 0.0),
    (0.56, 0.33, 0.0, 0.0, 0.0, 0.11, 0.0, 0.0),
    (1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0),
)
# an ECG finding overrides the draw for a 'Cardiac' initial diagnosis with these probabilities
# (not when systolic >= 180, where the hypertensive crisis stands)
FINAL_FROM_FINDING = (
    ("asystole", "Cardiac-arrest", 0.9),
    ("ventricular_tachycardia", "Arrhythmia", 0.5),
    ("myocardial_infarction", "MI", 0.3),
    ("myocardial_infarction", "ACS", 0.3),
    ("atrial_fibrillation", "Arrhythmia", 0.4),
    ("atrial_flutter", "Arrhythmia", 0.4),
    ("ischemia", "ACS", 0.15),
)

# death 0/1: logistic in age (the dead are 15 years older on average), more likely after an
# asystole / VT / MI ECG or a cardiac arrest; 1.8 % overall
DEATH_LOGIT_INTERCEPT = -4.55
DEATH_LOGIT_PER_AGE_SD = 0.8
AGE_MEAN_SD = (51.4, 18.0)
DEATH_LOGIT_FINDING = {"asystole": 3.5, "ventricular_tachycardia": 1.5, "myocardial_infarction": 1.0}
DEATH_LOGIT_CARDIAC_ARREST = 3.0
DEATH_MISSING_BY_BIN = (0.163, 0.009, 0.0, 0.028, 0.019, 0.009)

DISCHARGE_IF_ALIVE = (
    ("Recovered/Improved", 421), ("Discharged on request", 75),
    ("Transferred to another hospital/department", 37), ("Referred to another Facility", 11),
    ("stable", 5), ("Unchanged", 2), (None, 3),
)
DISCHARGE_IF_DEATH_UNKNOWN = (("Recovered/Improved", 8), ("Referred to another Facility", 1), (None, 5))
DISCHARGE_DECEASED = "Deceased"
DISCHARGE_EXTRA_MISSING_BY_BIN = (0.05, 0.0, 0.0, 0.0, 0.0, 0.012)
CAUSE_OF_DEATH_RECORDED = 0.5
CAUSES_OF_DEATH = (("End-stage metastatic cancer", 3), ("Cardiopulmonary arrest", 2), ("Undetermined cause", 2))
CARDIAC_CAUSE_OF_DEATH = "Cardiopulmonary arrest"

# method of referral: P(ambulance | triage level 1, 2, 3, 4, missing); the rest self-referred
REFERRAL_AMBULANCE_BY_TRIAGE = (0.875, 0.664, 0.8, 0.0, 0.36)
REFERRAL_MISSING = 0.014
REFERRAL_TRAILING_SPACE = {"Ambulance": 3 / 392, "Self-referred": 2 / 181}

ER_VISITS_VALUE = "NO"  # 'Emergency room visits in the past 24 hours ': only 'NO' or empty
ER_VISITS_PRESENT_BY_BIN = (0.744, 0.074, 0.0, 0.065, 0.421, 0.537)

TREATMENT_MISSING_BY_BIN = (0.256, 0.009, 0.0, 0.0, 0.0, 0.0)
TREATMENT_STANDARD = (("Medical treatment", 541), ("Medical treatment ", 14))
TREATMENT_DRUG_LIST = 14 / 569  # share of recorded treatments written as a drug list
# drug names and the spellings the ward uses (generic vocabulary, not patient strings)
TREATMENT_DRUGS = (
    "N/S", "N/s", "serum N/s", "serum 1/3-2/3", "D/S", "pantoprazole", "pantoprazol", "pantoprasole",
    "panto", "PANTO", "vancomycin", "meropenem", "ceftriaxone", "levofloxacin", "dexamethasone",
    "dexametasone", "hydrocortisone", "ondansetron", "Ondansetron", "phenytoin", "diazepam",
    "haloperidol", "labetalol", "metoclopramide", "propranolol", "fluconazole", "nystatin", "apotel",
    "Apotel", "ketorolac", "pethidine", "alprazolam", "salbutamol inhaler", "furosemide", "aspirin",
    "heparin", "nitroglycerin", "morphine", "captopril", "atorvastatin", "KCL",
)
TREATMENT_DRUG_COUNT = (2, 7)  # items per list, uniform
TREATMENT_SEPARATORS = ((", ", 4), (",", 10))
TREATMENT_STRAY_COMMAS = 1 / 14  # ',a,b,c,' as once in the real table

# 'Previous diseases': recorded for 52 %, more often for older patients and mid-file
PREVIOUS_DISEASES_LOGIT_BY_BIN = (-1.066, 0.414, 0.722, 0.261, -0.02, -0.571)
PREVIOUS_DISEASES_AGE_EDGES = (30, 50, 65)
PREVIOUS_DISEASES_AGE_LOGIT = (-0.97, -0.436, 0.547, 0.591)
PREVIOUS_DISEASES_NONE_BY_AGE = (0.24, 0.16, 0.04, 0.01)  # P('No'/'NO' | recorded)
PREVIOUS_DISEASES_NONE_SPELLINGS = (("No", 21), ("NO", 3))
PREVIOUS_DISEASES_ITEM_COUNT = ((1, 155), (2, 94), (3, 25), (4, 2), (5, 1))
# item, weight as the only item (= its count), weight in lists of 2+ items (count ** 1.3, so
# that 'Hypertension, Diabetes' / 'Diabetes, Hypertension' make up 45 % of two-item lists as in
# the real table), sex restriction
PREVIOUS_DISEASES = (
    ("Hypertension", 65, 405, None), ("Diabetes", 17, 274, None), ("HLP", 3, 59, None),
    ("Asthma", 7, 34, None), ("Hypothyroidism", 9, 22.6, None), ("CVA", 7, 20, None),
    ("Cardiovascular disease", 5, 25, None), ("Seizure", 7, 6, None), ("Renal stone", 4, 4.2, None),
    ("Hyperthyroidism", 3, 4.2, None), ("COPD", 4, 2.5, None), ("BPH", 3, 2.5, "M"), ("Epilepsy", 4, 0, None),
    ("Colon Cancer", 2, 2.5, None), ("CKD", 1, 4.2, None), ("Anemia", 3, 0, None), ("IHD", 0, 4.2, None),
    ("Migraine", 2, 1, None), ("Thalassemia", 1, 2.5, None), ("Depression", 1, 1, None),
    ("Leukemia", 1, 0, None), ("Peptic ulcer", 1, 0, None), ("Parkinson", 1, 0, None),
    ("Arthritis rheumatoid", 1, 0, None), ("Mitral valve prolapse", 1, 0, None),
    ("Lung Adenocarcinoma", 0, 1, None), ("Hemophilia A", 1, 0, None), ("Liver disease", 0, 1, None),
    ("CLL", 1, 0, None), ("ESRD", 0, 1, None),
)
# age-related items are rarer below this age (weight x factor)
AGE_RELATED_DISEASES = ("Hypertension", "Diabetes", "HLP", "CVA", "Cardiovascular disease", "IHD", "BPH", "CKD", "ESRD")
YOUNG_AGE = 35
YOUNG_AGE_RELATED_FACTOR = 0.2
LIST_TRAILING_SPACE = 17 / 301
LIST_ITEM_LOWERCASE = 0.01

PREVIOUS_HOSPITALIZATIONS = 0.055
PREVIOUS_HOSPITALIZATIONS_VALUES = (("Yes", 21), ("No", 11))
PREVIOUS_SURGERIES = 0.041
PREVIOUS_SURGERIES_VALUES = (  # item, weight, sex restriction
    ("No", 4, None), ("Appendectomy", 8, None), ("CABG", 5, None), ("C-section", 6, "F"),
    ("Segmental colectomy", 2, None), ("Cholecystectomy", 1, None), ("Herniorrhaphy", 1, None),
    ("Hysterectomy", 1, "F"), ("Cataract surgery", 1, None),
)
PREVIOUS_SURGERIES_TWO_ITEMS = 0.08

# urinalysis text results, spellings as in tables 01/08 (the real table 08 writes 'Positive +++',
# 'few', 'many' where table 01 has 'Positive+++', 'Few', 'Many'; the demo writes one value to both)
URINE_PROTEINS = (("Negative", 40), ("Positive", 1), ("Positive+++", 1), ("Trace", 1))
URINE_GLUCOSE = (("Negative", 28), ("Positive", 9), ("Positive+++", 1.5), ("Positive +++", 1.5), ("Positive++", 2), ("Trace", 1))
URINE_GLUCOSE_HIGH_SUGAR = 200  # blood sugar above which glucosuria is likely
URINE_GLUCOSE_POSITIVE_IF_HIGH = 0.6
URINE_BACTERIA = (
    ("Negative", 16), ("Rare", 9), ("Few", 4), ("few", 3), ("Positive", 4), ("Positive++", 3),
    ("Many", 2), ("many", 1), ("Moderate", 1),
)

# --- ECG labels ----------------------------------------------------------------------------------------
LABELLED_BY_BIN = (0.837, 0.62, 0.71, 0.657, 0.439, 0.481)  # P(record has label rows)
MULTI_ECG_IF_CARDIAC = 0.17  # P(several ECGs | first label names a cardiac finding)
MULTI_ECG_IF_NON_CARDIAC = 0.11
THREE_ECGS_GIVEN_MULTI = 9 / 42
MULTI_ECG_DIFFERING_LABELS = 6 / 42
TWO_ECGS_LISTED_2_THEN_1 = 13 / 33  # '126035-2' row before '126035-1'
UNMATCHED_KEYS_PER_LABELLED_RECORD = 14 / 343
UNMATCHED_KEY_TYPO = 1 / 14  # an extra digit appended to a real record number ('1403354')

# label text variants as written in 'ECG Labels.csv' (case, abbreviation, synonym, spacing and
# trailing space as published) with the findings they name and their row counts
LABEL_VARIANTS: tuple[tuple[str, tuple[str, ...], int], ...] = (
    ("Non-cardiac", ("non_cardiac",), 271),
    ("Non-cardiac ", ("non_cardiac",), 15),
    ("Ischemia", ("ischemia",), 42),
    ("Ischemia ", ("ischemia",), 2),
    ("ISCHEMIA", ("ischemia",), 2),
    ("Tachycardia", ("tachycardia",), 10),
    ("Tachycardia ", ("tachycardia",), 1),
    ("Myocardial infarction", ("myocardial_infarction",), 5),
    ("Myocardial infarction ", ("myocardial_infarction",), 3),
    ("MI", ("myocardial_infarction",), 1),
    ("Tachycardia+ ischemia ", ("tachycardia", "ischemia"), 4),
    ("Tachycardia+ ischemia", ("tachycardia", "ischemia"), 2),
    ("Tachycardia+ Ischemia", ("tachycardia", "ischemia"), 2),
    ("Ischemia+ tachycardia", ("ischemia", "tachycardia"), 4),
    ("PVC", ("premature_ventricular_contraction",), 4),
    ("Low voltage", ("low_qrs_voltage",), 4),
    ("Long QT", ("prolonged_qt",), 3),
    ("LONG QT", ("prolonged_qt",), 1),
    ("Left bundle branch block", ("left_bundle_branch_block",), 2),
    ("LBBB", ("left_bundle_branch_block",), 1),
    ("LBBB+ MI", ("left_bundle_branch_block", "myocardial_infarction"), 2),
    ("MI+ left bundle branch block", ("myocardial_infarction", "left_bundle_branch_block"), 1),
    ("Left bundle branch block+ Ischemia", ("left_bundle_branch_block", "ischemia"), 1),
    ("Ischemia+ long QT", ("ischemia", "prolonged_qt"), 2),
    ("Ischemia + atrial fibrillation", ("ischemia", "atrial_fibrillation"), 2),
    ("First degree AV block", ("first_degree_av_block",), 2),
    ("AV block", ("av_block",), 2),
    ("vt", ("ventricular_tachycardia",), 1),
    ("Tachycardia+ long QT", ("tachycardia", "prolonged_qt"), 1),
    ("Tachycardia+ ischemia+ Right Bundle branch block ", ("tachycardia", "ischemia", "right_bundle_branch_block"), 1),
    ("Tachycardia+ ischemia+ AF", ("tachycardia", "ischemia", "atrial_fibrillation", "rapid_atrial_fibrillation"), 1),
    ("Right Bundle branch block + ischemia", ("right_bundle_branch_block", "ischemia"), 1),
    ("AF+RBBB", ("atrial_fibrillation", "right_bundle_branch_block"), 1),
    ("Sinus bradycardia", ("sinus_bradycardia",), 1),
    ("Sinus bradycardia ", ("sinus_bradycardia",), 1),
    ("SA block", ("sinoatrial_block",), 1),
    ("PVC+ Ischemia", ("premature_ventricular_contraction", "ischemia"), 1),
    ("PAC+ ischemia ", ("premature_atrial_contraction", "ischemia"), 1),
    ("PAC", ("premature_atrial_contraction",), 1),
    ("LEFT ANTERIOR HEMI block", ("left_anterior_fascicular_block",), 1),
    ("Atrial flutter", ("atrial_flutter",), 1),
    ("Atrial fibrillation", ("atrial_fibrillation",), 1),
    ("AF", ("atrial_fibrillation",), 1),
    ("Asystole", ("asystole",), 1),
)

# finding codes shared with the label parser (cardioml_pipeline.clinical.labels)
FINDING_CODES = (
    "non_cardiac", "ischemia", "tachycardia", "myocardial_infarction",
    "premature_ventricular_contraction", "low_qrs_voltage", "prolonged_qt",
    "left_bundle_branch_block", "right_bundle_branch_block", "first_degree_av_block", "av_block",
    "ventricular_tachycardia", "sinus_bradycardia", "sinoatrial_block",
    "premature_atrial_contraction", "left_anterior_fascicular_block", "atrial_flutter",
    "atrial_fibrillation", "asystole", "rapid_atrial_fibrillation",
)
