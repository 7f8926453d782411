"""The voice branch: speech emotion recognition from WAV files (EmoDB, RAVDESS, TESS, folders)."""
