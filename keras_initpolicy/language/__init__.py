"""The policy language: grammar loading, parser, syntax tree, canonical formatting. No Keras."""
