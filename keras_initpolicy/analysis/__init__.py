"""After-the-fact analysis of built models: explain, apply, audit, calibrate, diagnose, compare.

Every module imports Keras; they read what ``runtime/`` (build time) recorded and never the other way
round (docs/architecture.md)."""
