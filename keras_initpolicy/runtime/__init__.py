"""The Keras side: hooks into Keras, scopes, per-weight decisions, compiled initializers,
effective activations, explain and diagnose. Every module here imports Keras; only
``hooks.py`` touches Keras internals."""
