"""Training formats and conversions: unified <-> csv/json/folders, MS-SWIFT, LLaMA-Factory."""
